import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { freePort, skipWithoutPostgresBinaries, type PrivatePostgres } from '../support/private-postgres';
import {
  createFaultProject,
  elapsed,
  makeReports,
  reportCounts,
  serverEnvironment,
  startFaultEnvironment,
  startServerProcess,
  stopFaultEnvironment,
  storedClientIds,
  waitForQueueToDrain,
  WidgetLikeClients,
  type ServerProcess,
} from './fault-harness';

/**
 * PostgreSQL goes away twice in the middle of a load of reports, once with a clean fast
 * shutdown and once killed outright (`-m immediate`, a crash), while widget-like clients keep
 * sending. The server must answer 503 `database_unavailable` within a bound while the database
 * is down (never hang), reconnect by itself when it is back (the same process, never restarted),
 * and lose nothing: sent = stored = processed, each report on a defect exactly once.
 *
 * The database is a private cluster (initdb into a temporary folder, its own port), never the
 * machine's shared PostgreSQL.
 */
const skip = skipWithoutPostgresBinaries();
/** No request may take longer than this, outage or not (the pool's acquire timeout is 3 s). */
const requestBoundMs = 10_000;

describe.skipIf(skip)('PostgreSQL restarted in the middle of load', () => {
  let postgres: PrivatePostgres;
  let database: DatabaseHandle;
  let server: ServerProcess;
  let project: Awaited<ReturnType<typeof createFaultProject>>;

  beforeAll(async () => {
    ({ postgres, database, project } = await startFaultEnvironment());
    server = await startServerProcess(serverEnvironment(postgres.url), await freePort());
  });
  afterAll(() => stopFaultEnvironment({ postgres, database }, [server]));

  it('answers 503 database_unavailable while it is down, never hangs, reconnects by itself and loses nothing', async () => {
    const started = Date.now();
    const reports = makeReports(240);
    const clients = new WidgetLikeClients(() => server.url, project.publicKey, { requestTimeoutMs: 30_000, retryDelayMs: 200, giveUpAfterMs: 60_000, fatal: () => server.died() });
    const health: { status: number; durationMs: number; at: number }[] = [];
    let sending = true;
    const probing = (async () => {
      while (sending) {
        const begun = performance.now();
        let status = 0;
        try {
          const response = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(30_000) });
          status = response.status;
          await response.body?.cancel();
        } catch {
          status = 0;
        }
        health.push({ status, durationMs: performance.now() - begun, at: Date.now() });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();

    const outages: { mode: 'fast' | 'immediate'; afterAccepted: number }[] = [
      { mode: 'fast', afterAccepted: 60 },
      { mode: 'immediate', afterAccepted: 150 },
    ];
    const outageLog: string[] = [];
    let outage: Promise<void> = Promise.resolve();
    const load = clients.send(reports, 6, (accepted) => {
      const due = outages[0];
      if (!due || accepted < due.afterAccepted) return;
      outages.shift();
      outage = outage.then(async () => {
        const down = Date.now();
        await postgres.stop(due.mode);
        await new Promise((resolve) => setTimeout(resolve, 4000));
        await postgres.start();
        outageLog.push(`${due.mode} stop at ${elapsed(started)}, down ${elapsed(down)}`);
      });
    });
    await load;
    await outage;
    sending = false;
    await probing;
    const slowest = Math.max(...clients.attempts.map((attempt) => attempt.durationMs));
    const unavailable = clients.attempts.filter((attempt) => attempt.status === 503).length;
    console.log(
      `[faults] database restart: ${clients.attempts.length} attempts (${unavailable} answered 503) for ${reports.length} reports in ${elapsed(started)}, slowest ${Math.round(slowest)} ms; ${outageLog.join('; ')}`,
    );

    // Every request got an answer within the bound: 202, or 503 database_unavailable while down.
    expect(clients.attempts.filter((attempt) => attempt.status === 0), 'requests without an answer').toEqual([]);
    expect(slowest, 'slowest request (ms)').toBeLessThan(requestBoundMs);
    const unexpected = clients.attempts.filter((attempt) => attempt.status !== 202 && !(attempt.status === 503 && attempt.code === 'database_unavailable'));
    expect(unexpected, 'answers other than 202 or 503 database_unavailable').toEqual([]);
    expect(unavailable, 'the outages overlapped the load').toBeGreaterThan(0);
    expect(clients.rejected).toEqual([]);
    expect(clients.accepted.size).toBe(reports.length);

    // The health endpoint said so, and recovered, always within the bound.
    expect(health.some((probe) => probe.status === 503)).toBe(true);
    expect(health.at(-1)?.status).toBe(200);
    expect(Math.max(...health.map((probe) => probe.durationMs))).toBeLessThan(requestBoundMs);

    // The same process is still serving: it reconnected by itself.
    expect(server.child.exitCode, server.output()).toBeNull();

    await waitForQueueToDrain(database.db, project.id, 90_000);
    const counts = await reportCounts(database.db, project.id);
    console.log(`[faults] database restart: ${JSON.stringify(counts)} after ${elapsed(started)}`);
    expect(await storedClientIds(database.db, project.id)).toEqual(clients.accepted);
    expect(counts).toMatchObject({ stored: reports.length, distinctClientIds: reports.length, processed: reports.length, notAddedExactlyOnce: 0 });
    expect(counts.jobs.dead ?? 0).toBe(0);
    expect(server.child.exitCode, server.output()).toBeNull();
  });
});
