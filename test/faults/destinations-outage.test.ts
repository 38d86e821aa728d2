import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../server/auth/api-token-service';
import type { DatabaseHandle } from '../../server/db/database';
import { createRule } from '../../server/routing/routing-rules';
import { addDestination } from '../support/integrations';
import { freePort, skipWithoutPostgresBinaries, type PrivatePostgres } from '../support/private-postgres';
import {
  createFaultProject,
  elapsed,
  expectEachDeliveredOnce,
  makeReports,
  reportCounts,
  serverEnvironment,
  startFaultEnvironment,
  startServerProcess,
  stopFaultEnvironment,
  waitFor,
  waitForQueueToDrain,
  WidgetLikeClients,
  type FakeVendors,
  type ServerProcess,
} from './fault-harness';

/**
 * Every destination goes down for a while in the middle of a load of reports: Jira and Slack
 * answer 500 to everything, Linear and the webhook receiver refuse connections. When they come
 * back, the first calls to each time out after the vendor did the work. The backlog must then be
 * delivered with each ticket, message and webhook exactly once. A second, fragile webhook gives up
 * after 2 attempts: its deliveries land in the dead-letter list, and retrying them through the API
 * delivers each once.
 */
const skip = skipWithoutPostgresBinaries();

describe.skipIf(skip)('every destination down for a while, then back', () => {
  let postgres: PrivatePostgres;
  let database: DatabaseHandle;
  let server: ServerProcess;
  let vendors: FakeVendors;
  let project: Awaited<ReturnType<typeof createFaultProject>>;
  let token: string;
  let fragileDestinationId: string;

  beforeAll(async () => {
    ({ postgres, database, project, vendors } = await startFaultEnvironment({ vendors: { jiraSearchLagMs: 300 } }));
    await vendors.configure(database.db, project.id, { maxAttempts: 12, timeoutMs: 1500, jiraSearchLagSeconds: 1 });
    const fragile = await addDestination(database.db, project.id, {
      kind: 'webhook',
      name: 'fragile hook',
      config: { url: `${vendors.webhook.server.url}/hooks/fragile` },
      secrets: { signingSecret: 'whsec_fragile_0123456789' },
      maxAttempts: 2,
      timeoutMs: 1500,
    });
    fragileDestinationId = fragile.id;
    await createRule(database.db, project.id, { name: 'Fragile', triggers: ['defect_created'], actions: [{ type: 'call_webhook', destinationId: fragile.id }] });
    token = (await createApiToken(database.db, { projectId: project.id, name: 'fault test', scopes: ['defects:read', 'defects:write'] })).token;
    server = await startServerProcess(serverEnvironment(postgres.url), await freePort());
  });
  afterAll(() => stopFaultEnvironment({ postgres, database, vendors }, [server]));

  it('delivers the backlog once they are back: each ticket, message and webhook exactly once; dead letters retried deliver once', async () => {
    const started = Date.now();
    const clients = new WidgetLikeClients(() => server.url, project.publicKey, { fatal: () => server.died() });
    const { jira, linear, slack, webhook } = vendors;

    // 1. Everything up.
    await clients.send(makeReports(12, { screenshotEvery: 3 }), 4);
    // 2. Everything down while more reports arrive and their deliveries fail.
    await Promise.all([jira.server.goDown('error'), slack.server.goDown('error'), linear.server.goDown('refuse'), webhook.server.goDown('refuse')]);
    const down = Date.now();
    await clients.send(makeReports(12, { screenshotEvery: 3 }), 4);
    // Down until the new defects' deliveries have failed at every destination and the fragile
    // webhook has given up on some (at least 5 s, whatever the machine's speed).
    const fragileId = fragileDestinationId;
    await waitFor(
      async () => {
        const failing = await database.db
          .selectFrom('jobs')
          .select([sql<string>`count(distinct payload ->> 'destinationId') filter (where last_error is not null and state <> 'dead')`.as('failingDestinations'), sql<string>`count(*) filter (where state = 'dead' and payload ->> 'destinationId' = ${fragileId})`.as('fragileDead')])
          .where('projectId', '=', project.id)
          .where('kind', 'like', 'integration.%')
          .executeTakeFirstOrThrow();
        return Date.now() - down > 5000 && Number(failing.failingDestinations) >= 4 && Number(failing.fragileDead) > 0;
      },
      60_000,
      'deliveries failing at every destination during the outage',
    );
    // 3. Back; the first calls to each succeed remotely but answer too late for our timeout.
    jira.server.inject('POST', /^\/rest\/api\/3\/issue$/, { kind: 'slow-after-success', delayMs: 2500 }, 2);
    linear.server.inject('POST', /^\/graphql$/, { kind: 'slow-after-success', delayMs: 2500 }, 2, (request) => request.body.includes('issueCreate('));
    slack.server.inject('POST', /^\/api\/chat\.postMessage$/, { kind: 'slow-after-success', delayMs: 2500 }, 2);
    webhook.server.inject('POST', /^\/hooks\/bugloop$/, { kind: 'slow-after-success', delayMs: 2500 }, 2);
    await Promise.all(vendors.all.map((fake) => fake.comeBack()));
    const outage = elapsed(down);
    await clients.send(makeReports(6, { screenshotEvery: 3 }), 4);
    expect(clients.accepted.size).toBe(30);

    await waitForQueueToDrain(database.db, project.id, 150_000);
    const drained = elapsed(started);

    // 4. The fragile webhook gave up during the outage: retry its dead letters through the API.
    const api = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });
    const listed = (await (await api(`/api/v1/projects/${project.id}/dead-letters`)).json()) as { deadLetters: { id: string; kind: string; payload: { destinationId: string } }[] };
    const jobSummary = await database.db
      .selectFrom('jobs')
      .select([sql<string>`kind || ' ' || coalesce(payload ->> 'destinationId', '') || ' ' || state || ' attempts ' || attempts || '/' || max_attempts`.as('line'), sql<string>`left(coalesce(last_error, ''), 120)`.as('error')])
      .where('projectId', '=', project.id)
      .where('kind', 'like', 'integration.%')
      .execute();
    expect(listed.deadLetters.length, `deliveries that died during the outage; jobs:\n${jobSummary.map((job) => `${job.line} ${job.error}`).join('\n')}`).toBeGreaterThan(0);
    expect(new Set(listed.deadLetters.map((letter) => letter.kind))).toEqual(new Set(['integration.notify']));
    for (const letter of listed.deadLetters) expect((await api(`/api/v1/projects/${project.id}/dead-letters/${letter.id}/retry`, { method: 'POST' })).status).toBe(202);
    await waitForQueueToDrain(database.db, project.id, 60_000);
    const afterRetry = (await (await api(`/api/v1/projects/${project.id}/dead-letters`)).json()) as { deadLetters: unknown[] };
    expect(afterRetry.deadLetters).toEqual([]);

    // 5. Counts. Reports: sent = stored = processed.
    const counts = await reportCounts(database.db, project.id);
    expect(counts).toMatchObject({ stored: 30, distinctClientIds: 30, processed: 30, notAddedExactlyOnce: 0 });
    const delivered = await expectEachDeliveredOnce(database.db, project.id, vendors);
    const processed = (path: string) => webhook.processed.filter((request) => request.path === path);
    expect(processed('/hooks/fragile')).toHaveLength(delivered.defects);
    expect((await reportCounts(database.db, project.id)).jobs.dead ?? 0).toBe(0);
    console.log(
      `[faults] destinations outage: ${delivered.defects} defects (${delivered.withScreenshot} with a screenshot), outage ${outage}, backlog drained at ${drained}, ` +
        `${listed.deadLetters.length} dead letters retried, done in ${elapsed(started)}; arrivals: jira ${jira.server.requests.length}, linear ${linear.server.requests.length}, ` +
        `slack ${slack.server.requests.length}, webhook ${webhook.server.requests.length}`,
    );
    expect(server.died()).toBeUndefined();
  });
});
