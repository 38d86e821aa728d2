/**
 * The real server (startServer: migrations, job workers, HTTP) in its own process, for
 * benchmarks: a server has its event loop to itself in production, so the load generator must
 * not share it. Started by `spawnBenchServer` (bench/server-process.ts) with the server's
 * configuration in the environment; it answers the parent over IPC:
 *
 *   → { type: 'stats' }            ← { type: 'stats', rss, heapUsed, cpuMicros, queries }
 *   → { type: 'jobs', run: bool }  ← { type: 'jobs' }          pause or resume the job workers
 *   → { type: 'profile-start' }    ← { type: 'profile-start' } start a CPU profile (node:inspector)
 *   → { type: 'profile-stop', file } ← { type: 'profile-stop' } write it to `file`
 *   → { type: 'stop' }             graceful close, then exit
 *
 * BENCH_BASELINE=1 runs the baseline instead: a bare Koa route that reads the body and inserts
 * it raw into one table (the least a durable ingest can do).
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import Koa from 'koa';
import pg from 'pg';
import getRawBody from 'raw-body';
import { loadConfig } from '../server/config';
import { createLogger } from '../server/logger';
import { startServer } from '../server/server';

export type BenchServerRequest =
  | { type: 'stats' }
  | { type: 'jobs'; run: boolean }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; file: string }
  | { type: 'stop' };

export interface BenchServerStats {
  type: 'stats';
  rss: number;
  heapUsed: number;
  /** User + system CPU of this process since it started, in microseconds. */
  cpuMicros: number;
  /** Database statements sent by this process since it started. */
  queries: number;
  /** Per statement (its first words): how many were sent and the wall ms until each answered. */
  statements: Record<string, { count: number; ms: number }>;
  /**
   * Since the previous stats request: the event loop's delay (p99 and max, ms; a request that
   * arrives while the loop is busy waits that long) and the longest garbage-collection pause.
   */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  longestGcMs: number;
}

// Where a slow request's time went when it was not the database: the loop busy, or a collection.
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
let longestGcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) longestGcMs = Math.max(longestGcMs, entry.duration);
}).observe({ entryTypes: ['gc'] });

// Every statement goes through pg.Client#query (Kysely's dialect and the pool both use it).
let queries = 0;
const statements: Record<string, { count: number; ms: number }> = {};
const clientPrototype = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
const originalQuery = clientPrototype.query;
clientPrototype.query = function (this: pg.Client, ...args: unknown[]) {
  queries += 1;
  const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string } | undefined)?.text ?? '?');
  const key = statementKey(text);
  const entry = (statements[key] ??= { count: 0, ms: 0 });
  entry.count += 1;
  const started = performance.now();
  const finish = () => {
    entry.ms += performance.now() - started;
  };
  const callback = args.at(-1);
  if (typeof callback === 'function') {
    args[args.length - 1] = (...results: unknown[]) => {
      finish();
      return (callback as (...results: unknown[]) => unknown)(...results);
    };
    return originalQuery.apply(this, args);
  }
  const answer = originalQuery.apply(this, args);
  if (answer && typeof (answer as Promise<unknown>).then === 'function') (answer as Promise<unknown>).then(finish, finish);
  return answer;
};

/** A statement's identity for the per-statement figures: its first words, parameters aside. */
function statementKey(text: string): string {
  // Only the head: the big statements are kilobytes long, and this runs in the measured process.
  return text.slice(0, 400).replace(/\s+/g, ' ').trim().slice(0, 90);
}

const send = (message: unknown) => process.send?.(message);
const profiler = new Session();
profiler.connect();

let close: () => Promise<void>;
let setJobs: (run: boolean) => Promise<void> = async () => {};

if (process.env.BENCH_BASELINE === '1') {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_SIZE ?? 10) });
  await pool.query('create table if not exists raw_reports (id bigint generated always as identity primary key, body jsonb not null, received_at timestamptz not null default now())');
  const app = new Koa();
  app.use(async (ctx) => {
    const body = await getRawBody(ctx.req, { limit: '6mb', encoding: ctx.request.type === 'application/json' ? 'utf8' : undefined });
    const json = typeof body === 'string' ? body : JSON.stringify({ size: body.length });
    await pool.query('insert into raw_reports (body) values ($1)', [json]);
    ctx.status = 202;
    ctx.body = { status: 'accepted' };
  });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  close = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await pool.end();
  };
  send({ type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
} else {
  const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1' });
  const running = await startServer(config, createLogger(config.logLevel));
  close = () => running.close();
  setJobs = async (run) => (run ? running.jobs.start() : running.jobs.stop());
  if (process.env.BENCH_JOBS_PAUSED === '1') await running.jobs.stop();
  send({ type: 'ready', url: running.url });
}

process.on('message', async (message: BenchServerRequest) => {
  if (message.type === 'stats') {
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const delay = { loopDelayP99Ms: loopDelay.percentile(99) / 1e6, loopDelayMaxMs: loopDelay.max / 1e6, longestGcMs };
    loopDelay.reset();
    longestGcMs = 0;
    send({ type: 'stats', rss: memory.rss, heapUsed: memory.heapUsed, cpuMicros: cpu.user + cpu.system, queries, statements: structuredClone(statements), ...delay } satisfies BenchServerStats);
  } else if (message.type === 'jobs') {
    await setJobs(message.run);
    send({ type: 'jobs' });
  } else if (message.type === 'profile-start') {
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
    send({ type: 'profile-start' });
  } else if (message.type === 'profile-stop') {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(message.file, JSON.stringify(profile));
    send({ type: 'profile-stop' });
  } else if (message.type === 'stop') {
    await close();
    process.exit(0);
  }
});
// The parent going away (a crashed benchmark) must not leave this server running.
process.on('disconnect', () => {
  void close().finally(() => process.exit(0));
});
