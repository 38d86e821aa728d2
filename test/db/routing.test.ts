import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { updateDefect } from '../../server/defects/defect-service';
import { onDefectCreated, onDefectStatusChanged, onReportAddedToDefect } from '../../server/routing/route-defect';
import { createRule } from '../../server/routing/routing-rules';
import { createTestDatabase } from '../support/test-database';
import { addDestination, addReport, seedDefect } from '../support/integrations';

let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

async function projectWithDestinations() {
  const seeded = await seedDefect(database.db);
  const slack = await addDestination(database.db, seeded.projectId, { kind: 'slack', name: '#bugs', config: { channel: 'C01' }, secrets: { botToken: 'xoxb-1' } });
  const webhook = await addDestination(database.db, seeded.projectId, { kind: 'webhook', name: 'ops', config: { url: 'https://ops.example/hook' }, secrets: { signingSecret: 'whsec_0123456789abcdef' } });
  const jira = await addDestination(database.db, seeded.projectId, {
    kind: 'jira',
    name: 'Jira',
    config: { baseUrl: 'https://acme.atlassian.net', projectKey: 'WEB', email: 'bot@example.com' },
    secrets: { apiToken: 't' },
  });
  return { ...seeded, slack, webhook, jira };
}

async function jobsFor(defectId: string) {
  const rows = await database.db.selectFrom('jobs').select(['kind', 'payload', 'idempotencyKey', 'runAt']).where('kind', 'like', 'integration.%').execute();
  return rows.filter((row) => (row.payload as { defectId?: string }).defectId === defectId);
}

describe('routing on defect creation', () => {
  it('writes one job per action of each matching rule, in the same transaction', async () => {
    const { projectId, defectId, slack, jira } = await projectWithDestinations();
    await createRule(database.db, projectId, { name: 'critical to Jira and Slack', triggers: ['defect_created'], conditions: { severities: ['critical'] }, actions: [{ type: 'create_ticket', destinationId: jira.id }, { type: 'notify_slack', destinationId: slack.id }] });
    await createRule(database.db, projectId, { name: 'minor only', triggers: ['defect_created'], conditions: { severities: ['minor'] }, actions: [{ type: 'notify_slack', destinationId: slack.id }] });
    await database.db.transaction().execute((trx) => onDefectCreated(trx, { id: defectId }));
    const jobs = await jobsFor(defectId);
    expect(jobs.map((job) => job.kind).sort()).toEqual(['integration.create_ticket', 'integration.notify']);
  });

  it('writes nothing when the transaction rolls back', async () => {
    const { projectId, defectId, slack } = await projectWithDestinations();
    await createRule(database.db, projectId, { name: 'all', triggers: ['defect_created'], actions: [{ type: 'notify_slack', destinationId: slack.id }] });
    await expect(
      database.db.transaction().execute(async (trx) => {
        await onDefectCreated(trx, { id: defectId });
        throw new Error('report processing failed later');
      }),
    ).rejects.toThrow();
    expect(await jobsFor(defectId)).toEqual([]);
  });

  it('stops at a rule with a stop action', async () => {
    const { projectId, defectId, slack, webhook } = await projectWithDestinations();
    await createRule(database.db, projectId, { name: 'first', triggers: ['defect_created'], actions: [{ type: 'call_webhook', destinationId: webhook.id }, { type: 'stop' }] });
    await createRule(database.db, projectId, { name: 'second', triggers: ['defect_created'], actions: [{ type: 'notify_slack', destinationId: slack.id }] });
    await database.db.transaction().execute((trx) => onDefectCreated(trx, { id: defectId }));
    expect((await jobsFor(defectId)).map((job) => (job.payload as { destinationId: string }).destinationId)).toEqual([webhook.id]);
  });

  it('skips disabled rules and disabled destinations', async () => {
    const { projectId, defectId, slack, webhook } = await projectWithDestinations();
    await createRule(database.db, projectId, { name: 'off', enabled: false, triggers: ['defect_created'], actions: [{ type: 'notify_slack', destinationId: slack.id }] });
    await createRule(database.db, projectId, { name: 'on', triggers: ['defect_created'], actions: [{ type: 'call_webhook', destinationId: webhook.id }] });
    await database.db.updateTable('destinations').set({ enabled: false }).where('id', '=', webhook.id).execute();
    await database.db.transaction().execute((trx) => onDefectCreated(trx, { id: defectId }));
    expect(await jobsFor(defectId)).toEqual([]);
  });
});

describe('threshold trigger', () => {
  it('fires once, when the report count reaches the threshold', async () => {
    const { projectId, defectId, slack } = await projectWithDestinations();
    await createRule(database.db, projectId, { name: 'third report', triggers: ['threshold_crossed'], conditions: { minReports: 3 }, actions: [{ type: 'notify_slack', destinationId: slack.id }] });
    const counts: number[] = [];
    for (let index = 0; index < 3; index += 1) {
      await addReport(database.db, projectId, defectId, { description: `again ${index}` });
      await database.db.transaction().execute((trx) => onReportAddedToDefect(trx, defectId));
      counts.push((await jobsFor(defectId)).length);
    }
    expect(counts).toEqual([0, 1, 1]); // 2nd added report makes 3 (the seed had one)
  });
});

describe('reopen trigger', () => {
  it('notifies on each reopen', async () => {
    const { projectId, defectId, slack } = await projectWithDestinations();
    await createRule(database.db, projectId, { name: 'reopened', triggers: ['reopened'], actions: [{ type: 'notify_slack', destinationId: slack.id }] });
    for (let round = 0; round < 2; round += 1) {
      await database.db.transaction().execute(async (trx) => {
        await updateDefect(trx, defectId, { status: 'resolved' }, { kind: 'user' });
        const reopened = await updateDefect(trx, defectId, { status: 'in_progress' }, { kind: 'user' });
        await onDefectStatusChanged(trx, defectId, 'resolved', reopened.status);
      });
    }
    expect((await jobsFor(defectId)).filter((job) => job.kind === 'integration.notify')).toHaveLength(2);
  });
});

describe('new reports on a resolved defect', () => {
  it('flag a possible regression once and queue one delayed comment per ticket', async () => {
    const { projectId, defectId, jira } = await projectWithDestinations();
    await database.db.insertInto('externalTickets').values({ defectId, destinationId: jira.id, destinationKind: 'jira', externalKey: 'WEB-5', externalId: '10005', url: 'u', state: 'done' }).execute();
    await database.db.transaction().execute((trx) => updateDefect(trx, defectId, { status: 'resolved' }, { kind: 'integration' }));
    for (let index = 0; index < 2; index += 1) {
      await addReport(database.db, projectId, defectId, { description: `still broken ${index}`, release: '1.4.2' });
      await database.db.transaction().execute((trx) => onReportAddedToDefect(trx, defectId));
    }
    const flags = await database.db.selectFrom('defectEvents').selectAll().where('defectId', '=', defectId).where('kind', '=', 'possible_regression').execute();
    expect(flags).toHaveLength(1);
    const comments = (await jobsFor(defectId)).filter((job) => job.kind === 'integration.comment');
    expect(comments).toHaveLength(1);
    expect(comments[0].runAt.getTime()).toBeGreaterThan(Date.now());
  });

  it('do nothing while the defect and its tickets are open', async () => {
    const { defectId, projectId } = await projectWithDestinations();
    await addReport(database.db, projectId, defectId, { description: 'me too' });
    await database.db.transaction().execute((trx) => onReportAddedToDefect(trx, defectId));
    expect(await database.db.selectFrom('defectEvents').selectAll().where('defectId', '=', defectId).where('kind', '=', 'possible_regression').execute()).toEqual([]);
  });
});
