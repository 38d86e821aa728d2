import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
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
  storedClientIds,
  waitForQueueToDrain,
  WidgetLikeClients,
  type FakeVendors,
  type ServerProcess,
} from './fault-harness';

/**
 * The server process is killed with SIGKILL twice in the middle of a load of reports (requests
 * in flight, report processing and deliveries to Jira, Linear, Slack and a webhook running) and
 * started again on the same port. The clients, like the widget, resend what got no answer with
 * the same report id. In the end: sent = stored = processed, each report on a defect once, and
 * each defect's ticket, message and webhook delivered exactly once.
 */
const skip = skipWithoutPostgresBinaries();

describe.skipIf(skip)('the server killed with SIGKILL under load', () => {
  let postgres: PrivatePostgres;
  let database: DatabaseHandle;
  let vendors: FakeVendors;
  let server: ServerProcess | undefined;
  let project: Awaited<ReturnType<typeof createFaultProject>>;
  let port: number;
  let environment: Record<string, string>;

  beforeAll(async () => {
    ({ postgres, database, project, vendors } = await startFaultEnvironment({ vendors: { jiraSearchLagMs: 300 } }));
    await vendors.configure(database.db, project.id, { timeoutMs: 3000, jiraSearchLagSeconds: 1 });
    port = await freePort();
    environment = serverEnvironment(postgres.url);
    server = await startServerProcess(environment, port);
  });
  afterAll(() => stopFaultEnvironment({ postgres, database, vendors }, [server]));

  it('loses nothing and does nothing twice: sent = stored = processed, each ticket and message once', async () => {
    const started = Date.now();
    const reports = makeReports(80, { screenshotEvery: 5 });
    const clients = new WidgetLikeClients(() => `http://127.0.0.1:${port}`, project.publicKey, { retryDelayMs: 200, giveUpAfterMs: 150_000 });
    const kills = [25, 55];
    const killLog: string[] = [];
    let restarting: Promise<void> = Promise.resolve();
    await clients.send(reports, 6, (accepted) => {
      if (kills.length === 0 || accepted < kills[0]) return;
      kills.shift();
      restarting = restarting.then(async () => {
        const running = await database.db.selectFrom('jobs').select((eb) => eb.fn.countAll<string>().as('count')).where('state', '=', 'running').executeTakeFirstOrThrow();
        const killedAt = Date.now();
        await server!.kill('SIGKILL');
        server = await startServerProcess(environment, port);
        killLog.push(`SIGKILL at ${elapsed(started)} with ${running.count} jobs running, back after ${elapsed(killedAt)}`);
      });
    });
    await restarting;
    const refused = clients.attempts.filter((attempt) => attempt.status === 0).length;
    console.log(`[faults] server kill: ${clients.attempts.length} attempts (${refused} without an answer) for ${reports.length} reports in ${elapsed(started)}; ${killLog.join('; ')}`);
    expect(killLog).toHaveLength(2);
    expect(refused, 'requests cut off by the kills').toBeGreaterThan(0);
    expect(clients.rejected).toEqual([]);
    expect(clients.accepted.size).toBe(reports.length);

    await waitForQueueToDrain(database.db, project.id, 120_000);
    const counts = await reportCounts(database.db, project.id);
    expect(await storedClientIds(database.db, project.id)).toEqual(clients.accepted);
    expect(counts).toMatchObject({ stored: reports.length, distinctClientIds: reports.length, processed: reports.length, notAddedExactlyOnce: 0 });
    expect(counts.jobs.dead ?? 0).toBe(0);
    const delivered = await expectEachDeliveredOnce(database.db, project.id, vendors);
    console.log(`[faults] server kill: ${JSON.stringify(counts)}; ${delivered.defects} defects each delivered once; done in ${elapsed(started)}`);
    expect(server!.died()).toBeUndefined();
  });
});
