import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import type { DestinationRow } from '../../server/db/schema';
import { jiraCommentPropertyKey, jiraDestination, jiraGlobalId } from '../../server/destinations/jira';
import { settingsOf } from '../../server/destinations/destination-repository';
import { loadTicketContent } from '../../server/destinations/ticket-content';
import { enqueueDelivery } from '../../server/integrations/delivery-queue';
import { applyStatusChange } from '../../server/integrations/status-sync';
import { onReportAddedToDefect } from '../../server/routing/route-defect';
import { createTestDatabase } from '../support/test-database';
import { addDestination, addReport, integrationWorker, makeJobsDue, secretBox, seedDefect, testDeliveryContext, testPublicUrl } from '../support/integrations';
import { validateAdf } from './fakes/adf-validator';
import { createFakeJira } from './fakes/fake-jira';
import { jsonOf } from './fakes/fake-server';

let database: DatabaseHandle;
let jira: ReturnType<typeof createFakeJira>;
const credentials = { email: 'bot@example.com', apiToken: 'jira-api-token-123', projectKey: 'WEB' };

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.close();
});
beforeEach(async () => {
  jira = createFakeJira(credentials);
  await jira.server.start();
  return () => jira.server.close();
});

async function setup(overrides: Record<string, unknown> = {}) {
  const seeded = await seedDefect(database.db);
  const destination = await addDestination(database.db, seeded.projectId, {
    kind: 'jira',
    name: 'Jira WEB',
    config: { baseUrl: jira.server.url, projectKey: 'WEB', email: credentials.email, priorityMap: { critical: 'Highest' }, labels: ['from-users'], ...overrides },
    secrets: { apiToken: credentials.apiToken },
    timeoutMs: 500,
    maxAttempts: 4,
  });
  return { ...seeded, destination };
}

async function deliver(destination: DestinationRow, defectId: string) {
  await database.db.transaction().execute((trx) => enqueueDelivery(trx, destination, defectId, 'defect_created', ''));
  return integrationWorker(database.db).drain();
}

/** Runs jobs, making delayed retries due, until nothing is pending. */
async function settle() {
  for (let round = 0; round < 10; round += 1) {
    await integrationWorker(database.db).drain();
    const pending = await database.db.selectFrom('jobs').select('id').where('state', '=', 'pending').execute();
    if (pending.length === 0) return;
    await makeJobsDue(database.db);
  }
}

async function ticketJob(destinationId: string, defectId: string) {
  return database.db.selectFrom('jobs').selectAll().where('idempotencyKey', '=', `ticket:${destinationId}:${defectId}`).executeTakeFirstOrThrow();
}

describe('Jira through jira.js Version3Client', () => {
  it('creates an issue with summary, label marker, priority and a valid ADF description', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    const create = jira.server.calls('POST', /^\/rest\/api\/3\/issue$/);
    expect(create).toHaveLength(1);
    expect(create[0].headers.authorization).toBe(`Basic ${Buffer.from(`${credentials.email}:${credentials.apiToken}`).toString('base64')}`);
    const fields = (jsonOf(create[0]) as { fields: Record<string, any> }).fields;
    expect(fields).toMatchObject({ project: { key: 'WEB' }, issuetype: { name: 'Bug' }, summary: 'Checkout button does nothing', priority: { name: 'Highest' } });
    expect(fields.labels).toEqual(expect.arrayContaining(['from-users', `bugloop-${defectId}`]));
    expect(validateAdf(fields.description)).toEqual([]);
  });

  it('writes headings, a code block per console errors and failed requests, and an environment table into the ADF', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    const description = jira.issues[0].fields.description as { content: { type: string; attrs?: Record<string, unknown>; content?: any[] }[] };
    const headings = description.content.filter((node) => node.type === 'heading').map((node) => node.content?.[0]?.text);
    expect(headings).toEqual(['What reporters said', 'Steps to reproduce', 'Expected vs actual', 'Environment', 'Console errors', 'Failed requests']);
    const codeBlocks = description.content.filter((node) => node.type === 'codeBlock').map((node) => node.content?.[0]?.text);
    expect(codeBlocks[0]).toContain("TypeError: Cannot read properties of undefined (reading 'total')");
    expect(codeBlocks[1]).toBe('POST https://shop.example.com/api/orders → 500 in 84 ms');
    const tables = description.content.filter((node) => node.type === 'table');
    const environmentRows = tables[1].content!.map((row: any) => row.content.map((cell: any) => cell.content[0].content?.[0]?.text));
    expect(environmentRows).toContainEqual(['Browsers', 'Chrome 126']);
    expect(environmentRows).toContainEqual(['Releases', '1.4.1']);
    expect(environmentRows).toContainEqual(['Pages', 'https://shop.example.com/checkout']);
  });

  it('records the ticket and links the defect history to it', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    const ticket = await database.db.selectFrom('externalTickets').selectAll().where('defectId', '=', defectId).executeTakeFirstOrThrow();
    expect(ticket).toMatchObject({ destinationKind: 'jira', externalKey: 'WEB-1', externalId: '10001', url: `${jira.server.url}/browse/WEB-1` });
    const event = await database.db.selectFrom('defectEvents').selectAll().where('defectId', '=', defectId).where('kind', '=', 'ticket_linked').executeTakeFirstOrThrow();
    expect(event.actorKind).toBe('integration');
  });

  it('uploads the best screenshot as multipart with X-Atlassian-Token: no-check, bytes intact', async () => {
    const { destination, defectId, screenshot } = await setup();
    await deliver(destination, defectId);
    const upload = jira.server.calls('POST', /\/attachments$/);
    expect(upload).toHaveLength(1);
    expect(upload[0].headers['x-atlassian-token']).toBe('no-check');
    expect(upload[0].headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const screenshotJob = await database.db.selectFrom('jobs').select(['state', 'lastError']).where('kind', '=', 'integration.attach_screenshot').execute();
    expect(screenshotJob.filter((job) => job.state !== 'done')).toEqual([]);
    expect(jira.issues[0].attachments).toHaveLength(1);
    expect(jira.issues[0].attachments[0].filename).toBe('screenshot.png');
    expect(jira.issues[0].attachments[0].data.equals(screenshot)).toBe(true);
  });

  it('adds a remote link back to Bugloop with a stable globalId, and posting it again updates instead of duplicating', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    const { settings } = settingsOf(secretBox, destination);
    const content = await loadTicketContent(database.db, defectId, testPublicUrl);
    await jiraDestination.linkBack!(settings as never, { externalId: '10001', key: 'WEB-1', url: '' }, content, testDeliveryContext());
    expect(jira.issues[0].remoteLinks).toHaveLength(1);
    expect(jira.issues[0].remoteLinks[0]).toMatchObject({ globalId: jiraGlobalId({ defectId }), object: { url: `${testPublicUrl}/p/${content.projectId}/defects/${defectId}` } });
    expect(jira.server.calls('POST', /\/remotelink$/)).toHaveLength(2);
  });

  it('retries after a 500 and ends with exactly one issue', async () => {
    const { destination, defectId } = await setup();
    jira.server.inject('POST', /^\/rest\/api\/3\/issue$/, { kind: 'status', status: 500 }, 2);
    await deliver(destination, defectId);
    await settle();
    expect(jira.issues).toHaveLength(1);
    expect(await ticketJob(destination.id, defectId)).toMatchObject({ state: 'done', attempts: 3 });
  });

  it('honours Retry-After on a 429 and delivers once the wait is over', async () => {
    const { destination, defectId } = await setup();
    jira.server.inject('POST', /^\/rest\/api\/3\/search\/jql$/, { kind: 'status', status: 429, headers: { 'Retry-After': '120' } });
    const before = Date.now();
    await deliver(destination, defectId);
    const waiting = await ticketJob(destination.id, defectId);
    expect(waiting.state).toBe('pending');
    expect(waiting.runAt.getTime()).toBeGreaterThanOrEqual(before + 119_000);
    expect(jira.issues).toHaveLength(0);
    await makeJobsDue(database.db);
    await integrationWorker(database.db).drain();
    expect(jira.issues).toHaveLength(1);
  });

  it('finds the issue by its label after a create that timed out on our side but succeeded in Jira: exactly one issue', async () => {
    const { destination, defectId } = await setup();
    jira.server.inject('POST', /^\/rest\/api\/3\/issue$/, { kind: 'slow-after-success', delayMs: 1500 });
    const before = Date.now();
    await deliver(destination, defectId);
    const waiting = await ticketJob(destination.id, defectId);
    expect(waiting.runAt.getTime()).toBeGreaterThanOrEqual(before + 29_000); // Jira's search may lag behind the create
    await settle();
    expect(jira.server.calls('POST', /^\/rest\/api\/3\/issue$/)).toHaveLength(1);
    expect(jira.issues).toHaveLength(1);
    const job = await ticketJob(destination.id, defectId);
    expect(job).toMatchObject({ state: 'done', attempts: 2 });
    const ticket = await database.db.selectFrom('externalTickets').selectAll().where('defectId', '=', defectId).executeTakeFirstOrThrow();
    expect(ticket.externalKey).toBe(jira.issues[0].key);
  });

  it('stops at once on a permanent 400 (unknown project) and keeps the error in the dead-letter list', async () => {
    const { destination, defectId } = await setup({ projectKey: 'NOPE' });
    await deliver(destination, defectId);
    const job = await ticketJob(destination.id, defectId);
    expect(job).toMatchObject({ state: 'dead', attempts: 1 });
    expect(job.lastError).toContain('HTTP 400');
  });

  it('goes to the dead-letter list after max attempts of 500s', async () => {
    const { destination, defectId } = await setup();
    jira.server.inject('POST', /^\/rest\/api\/3\/search\/jql$/, { kind: 'status', status: 503 }, 10);
    await deliver(destination, defectId);
    expect(await ticketJob(destination.id, defectId)).toMatchObject({ state: 'dead', attempts: 4 });
    expect(jira.issues).toHaveLength(0);
  });

  it('adds comments as ADF documents', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    const { settings } = settingsOf(secretBox, destination);
    await jiraDestination.addComment!(settings as never, { externalId: '10001', key: 'WEB-1', url: '' }, '2 new reports since it was resolved, last on 1.4.2.', testDeliveryContext());
    expect(jira.issues[0].comments).toHaveLength(1);
    expect(validateAdf(jira.issues[0].comments[0].body)).toEqual([]);
  });

  it('comments "N new reports since it was resolved, last on <release>" when reports keep coming after Done', async () => {
    const { destination, defectId, projectId } = await setup();
    await deliver(destination, defectId);
    await database.db.transaction().execute((trx) => applyStatusChange(trx, destination, { externalKey: 'WEB-1', state: { name: 'Done', category: 'done' }, fixedIn: '1.4.1' }));
    for (const release of ['1.4.1', '1.4.2']) {
      await addReport(database.db, projectId, defectId, { description: `broken again on ${release}`, release });
      await database.db.transaction().execute((trx) => onReportAddedToDefect(trx, defectId));
    }
    await makeJobsDue(database.db);
    await integrationWorker(database.db).drain();
    expect(jira.issues[0].comments).toHaveLength(1);
    const text = JSON.stringify(jira.issues[0].comments[0].body);
    expect(text).toContain('2 new reports since it was resolved, last on 1.4.2.');
    expect(validateAdf(jira.issues[0].comments[0].body)).toEqual([]);
  });

  it('does not upload the screenshot twice when an upload timed out after Jira stored it', async () => {
    const { destination, defectId, screenshot } = await setup();
    jira.server.inject('POST', /\/attachments$/, { kind: 'slow-after-success', delayMs: 1500 });
    await deliver(destination, defectId);
    expect(jira.server.calls('POST', /\/attachments$/)).toHaveLength(1);
    expect(jira.issues[0].attachments).toHaveLength(1);
    expect(jira.issues[0].attachments[0].data.equals(screenshot)).toBe(true);
    const job = await database.db.selectFrom('jobs').selectAll().where('kind', '=', 'integration.attach_screenshot').where('idempotencyKey', 'like', 'screenshot:%').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(job).toMatchObject({ state: 'done', attempts: 2 });
  });

  it('with a search index that lags, the retry after a timed-out create waits the lag and still finds the one issue', async () => {
    jira = createFakeJira({ ...credentials, searchLagMs: 600 });
    await jira.server.start();
    const { destination, defectId } = await setup({ searchLagSeconds: 1 });
    jira.server.inject('POST', /^\/rest\/api\/3\/issue$/, { kind: 'slow-after-success', delayMs: 1500 });
    await deliver(destination, defectId);
    const waiting = await ticketJob(destination.id, defectId);
    expect(waiting.state).toBe('pending');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, waiting.runAt.getTime() - Date.now()) + 50));
    await integrationWorker(database.db).drain();
    expect(jira.issues).toHaveLength(1);
    expect(await ticketJob(destination.id, defectId)).toMatchObject({ state: 'done', attempts: 2 });
    await jira.server.close();
  });

  it('links back once when the remote link call timed out after Jira stored it (globalId)', async () => {
    const { destination, defectId } = await setup();
    jira.server.inject('POST', /\/remotelink$/, { kind: 'slow-after-success', delayMs: 1500 });
    await deliver(destination, defectId);
    expect(jira.server.calls('POST', /\/remotelink$/)).toHaveLength(2);
    expect(jira.issues[0].remoteLinks).toHaveLength(1);
  });

  it('comments once when adding a comment timed out after Jira stored it: the retry finds it by its property', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    const { settings } = settingsOf(secretBox, destination);
    jira.server.inject('POST', /\/comment$/, { kind: 'slow-after-success', delayMs: 1500 });
    const context = testDeliveryContext({ timeoutMs: 500 });
    const ticket = { externalId: jira.issues[0].id, key: jira.issues[0].key, url: '' };
    await expect(jiraDestination.addComment!(settings as never, ticket, '2 new reports since it was resolved.', context)).rejects.toThrow();
    await jiraDestination.addComment!(settings as never, ticket, '2 new reports since it was resolved.', { ...context, attempt: 2 });
    expect(jira.issues[0].comments).toHaveLength(1);
    expect(jira.issues[0].comments[0].properties).toEqual([{ key: jiraCommentPropertyKey, value: { deliveryId: context.deliveryId } }]);
    // A different delivery is a different comment.
    await jiraDestination.addComment!(settings as never, ticket, 'another one', { ...testDeliveryContext(), attempt: 2 });
    expect(jira.issues[0].comments).toHaveLength(2);
  });
});
