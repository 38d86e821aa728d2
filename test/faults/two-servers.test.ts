import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { freePort, skipWithoutPostgresBinaries, type PrivatePostgres } from '../support/private-postgres';
import {
  createFaultProject,
  elapsed,
  expectEachDeliveredOnce,
  makeReports,
  repeated,
  reportCounts,
  serverEnvironment,
  startFaultEnvironment,
  startServerProcess,
  stopFaultEnvironment,
  waitForQueueToDrain,
  WidgetLikeClients,
  type FakeVendors,
  type ServerProcess,
} from './fault-harness';

/**
 * Two server processes share one PostgreSQL database and its job queue; reports arrive at both.
 * Slack and the webhook receiver take 4 s to answer the first dozen posts, longer than the 3 s
 * job lease, so a worker that did not renew its leases would see those jobs taken over by the
 * other process while still running them. (A much shorter lease is not realistic: an event loop
 * that stalls longer than the lease, e.g. while a vendor SDK loads on a loaded machine, loses it;
 * the default is 5 minutes.) No job may be processed twice: the side effects are counted at the fakes
 * (raw requests, not only job rows), and every job ran exactly once.
 */
const skip = skipWithoutPostgresBinaries();

describe.skipIf(skip)('two server processes sharing one database', () => {
  let postgres: PrivatePostgres;
  let database: DatabaseHandle;
  let vendors: FakeVendors;
  let servers: ServerProcess[] = [];
  let project: Awaited<ReturnType<typeof createFaultProject>>;

  beforeAll(async () => {
    ({ postgres, database, project, vendors } = await startFaultEnvironment({ vendors: {} }));
    await vendors.configure(database.db, project.id, { timeoutMs: 8000 });
    // Slow but successful answers: these posts take longer than a lease.
    vendors.slack.server.inject('POST', /^\/api\/chat\.postMessage$/, { kind: 'slow-after-success', delayMs: 4000 }, 12);
    vendors.webhook.server.inject('POST', /^\/hooks\//, { kind: 'slow-after-success', delayMs: 4000 }, 12);
    const environment = { JOB_LEASE_MS: '3000', JOB_CONCURRENCY: '4' };
    servers = await Promise.all([
      startServerProcess(serverEnvironment(postgres.url, environment), await freePort()),
      startServerProcess(serverEnvironment(postgres.url, environment), await freePort()),
    ]);
  });
  afterAll(() => stopFaultEnvironment({ postgres, database, vendors }, servers));

  it('processes no job twice: each report once, each side effect once', async () => {
    const started = Date.now();
    const reports = makeReports(40, { screenshotEvery: 4 });
    const [first, second] = servers;
    const fatal = () => first.died() ?? second.died();
    const toFirst = new WidgetLikeClients(() => first.url, project.publicKey, { fatal });
    const toSecond = new WidgetLikeClients(() => second.url, project.publicKey, { fatal });
    await Promise.all([toFirst.send(reports.slice(0, 20), 3), toSecond.send(reports.slice(20), 3)]);
    expect(toFirst.accepted.size + toSecond.accepted.size).toBe(reports.length);
    await waitForQueueToDrain(database.db, project.id, 150_000);

    const counts = await reportCounts(database.db, project.id);
    expect(counts).toMatchObject({ stored: 40, distinctClientIds: 40, processed: 40, notAddedExactlyOnce: 0 });
    // Every job ran once: no lease was lost to the other process, no failure to retry.
    const jobs = await database.db.selectFrom('jobs').select(['kind', 'state', 'totalAttempts', 'lockedBy']).where('projectId', '=', project.id).execute();
    const failures = servers.flatMap((server) => server.output().split('\n').filter((line) => /job failed|reclaimed/.test(line))).map((line) => line.slice(0, 400));
    expect(jobs.filter((job) => job.state !== 'done' || job.totalAttempts !== 1), failures.join('\n')).toEqual([]);

    // Side effects counted at the vendors, raw requests included: nothing twice, not even retried.
    const delivered = await expectEachDeliveredOnce(database.db, project.id, vendors);
    const { jira, linear, slack, webhook } = vendors;
    expect(jira.server.calls('POST', /^\/rest\/api\/3\/issue$/)).toHaveLength(delivered.defects);
    expect(linear.server.calls('POST', /^\/graphql$/).filter((request) => request.body.includes('issueCreate('))).toHaveLength(delivered.defects);
    expect(slack.server.calls('POST', /^\/api\/chat\.postMessage$/)).toHaveLength(delivered.defects);
    expect(webhook.server.calls('POST', /^\/hooks\/bugloop$/)).toHaveLength(delivered.defects);
    expect(repeated(webhook.server.calls('POST', /^\/hooks\/bugloop$/).map((request) => request.headers['idempotency-key']))).toEqual([]);

    // Both processes did work (otherwise this proves nothing about sharing): a done job keeps the
    // id of the worker that finished it, `<pid>:<random>`.
    const processes = new Set(jobs.map((job) => job.lockedBy?.split(':')[0]));
    expect(processes).toEqual(new Set(servers.map((server) => String(server.child.pid))));
    const outputs = servers.map((server) => server.output());
    expect(outputs.filter((output) => /was reclaimed by another worker/.test(output))).toEqual([]);
    console.log(`[faults] two servers: ${counts.stored} reports, ${jobs.length} jobs each run once, ${delivered.defects} defects each delivered once, in ${elapsed(started)}`);
    expect(fatal()).toBeUndefined();
  });
});
