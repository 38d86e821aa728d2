/**
 * npm run bench:ingest — load on the real ingest endpoint (PostgreSQL), against a baseline:
 * a bare Koa route inserting the raw body into one table. Prints reports/s, p50/p99, the ratio
 * to the baseline, without and with a 300 KB image, a fixed 200 reports/s run with 100,000
 * defects present, and whether background processing kept up (queue length over time).
 *
 * Options: --seconds N (per run, default 10), --connections N (default 32), --defects N (default 100000)
 */
import { randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import Koa from 'koa';
import pg from 'pg';
import getRawBody from 'raw-body';
import { sql } from 'kysely';
import { loadConfig } from '../server/config';
import { createLogger } from '../server/logger';
import { startServer } from '../server/server';
import { createProject } from '../server/projects/project-service';
import { makePng } from '../test/support/images';
import { createBenchDatabase, printTable } from './support';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' }, defects: { type: 'string', default: '100000' } } });
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const defectCount = Number(values.defects);

const database = await createBenchDatabase('ingest');
const baselineDatabase = await createBenchDatabase('baseline');
const config = loadConfig({
  ...process.env,
  DATABASE_URL: database.url,
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'error',
  RATE_LIMIT_PER_IP_PER_MINUTE: '100000000',
  RATE_LIMIT_PER_KEY_PER_MINUTE: '100000000',
  JOB_CONCURRENCY: process.env.JOB_CONCURRENCY ?? '4',
  JOB_POLL_INTERVAL_MS: '50',
});
const running = await startServer(config, createLogger('error'));
const project = await createProject(running.database.db, { name: 'Bench', keyPrefix: 'BENCH' });

// Baseline: the least a durable ingest can do: read the body, one insert, answer.
const baselinePool = new pg.Pool({ connectionString: baselineDatabase.url, max: config.databasePoolSize });
await baselinePool.query('create table raw_reports (id bigint generated always as identity primary key, body jsonb not null, received_at timestamptz not null default now())');
const baselineApp = new Koa();
baselineApp.use(async (ctx) => {
  const body = await getRawBody(ctx.req, { limit: '6mb', encoding: ctx.request.type === 'application/json' ? 'utf8' : undefined });
  const json = typeof body === 'string' ? body : JSON.stringify({ size: body.length });
  await baselinePool.query('insert into raw_reports (body) values ($1)', [json]);
  ctx.status = 202;
  ctx.body = { status: 'accepted' };
});
const baselineServer = http.createServer(baselineApp.callback());
await new Promise<void>((resolve) => baselineServer.listen(0, '127.0.0.1', resolve));
const baselineUrl = `http://127.0.0.1:${(baselineServer.address() as AddressInfo).port}`;

const image = makeImageOfSize(300 * 1024);
const boundary = 'bugloopbenchboundary';

function reportJson(): string {
  const id = randomUUID();
  return JSON.stringify({
    id,
    description: `Checkout fails after pressing pay (${id})`,
    url: 'https://shop.example.com/checkout/payment',
    release: '1.4.0',
    console: [{ level: 'error', message: 'TypeError: x is undefined', time: Date.now(), source: 'uncaught' }],
    network: [{ method: 'POST', url: 'https://shop.example.com/api/pay', status: 500, durationMs: 120, time: Date.now() }],
  });
}

function multipartBody(): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="report"\r\n\r\n${reportJson()}\r\n--${boundary}\r\nContent-Disposition: form-data; name="screenshot"; filename="s.png"\r\nContent-Type: image/png\r\n\r\n`),
    image,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

interface RunResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, withImage: boolean, options: { overallRate?: number } = {}): Promise<RunResult> {
  const result = await autocannon({
    url: `${url}/api/v1/reports`,
    connections: options.overallRate ? Math.min(connections, 16) : connections,
    duration: seconds,
    overallRate: options.overallRate,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => ({
          ...request,
          headers: {
            'x-bugloop-key': project.publicKey,
            'content-type': withImage ? `multipart/form-data; boundary=${boundary}` : 'application/json',
          },
          body: withImage ? multipartBody() : reportJson(),
        }),
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function queueLength(): Promise<number> {
  const row = await running.database.db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('state', 'in', ['pending', 'running'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Samples the job queue every second while `work` runs, then until it drains (at most 60 s). */
async function sampleQueue<T>(work: Promise<T>): Promise<{ result: T; samples: number[]; drainSeconds: number }> {
  const samples: number[] = [];
  let done = false;
  const sampler = (async () => {
    while (!done) {
      samples.push(await queueLength());
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  const result = await work;
  const finishedAt = Date.now();
  let remaining = await queueLength();
  while (remaining > 0 && Date.now() - finishedAt < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    remaining = await queueLength();
  }
  done = true;
  await sampler;
  return { result, samples, drainSeconds: remaining === 0 ? (Date.now() - finishedAt) / 1000 : Number.NaN };
}

console.log(`bench:ingest on PostgreSQL, ${seconds}s per run, ${connections} connections, ${config.jobs.concurrency} job workers\n`);

const rows: (string | number)[][] = [['run', 'reports/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'ratio to baseline']];
for (const withImage of [false, true]) {
  const label = withImage ? 'with 300 KB image' : 'without image';
  const baseline = await load(baselineUrl, withImage);
  const { result: bugloop, samples, drainSeconds } = await sampleQueue(load(running.url, withImage));
  rows.push([`baseline, ${label}`, baseline.requestsPerSecond.toFixed(0), baseline.p50, baseline.p99, baseline.errors, baseline.non2xx, '']);
  rows.push([`bugloop, ${label}`, bugloop.requestsPerSecond.toFixed(0), bugloop.p50, bugloop.p99, bugloop.errors, bugloop.non2xx, (bugloop.requestsPerSecond / baseline.requestsPerSecond).toFixed(2)]);
  console.log(`queue (${label}), per second: ${samples.join(' ')}; drained ${Number.isNaN(drainSeconds) ? 'NOT within 60 s' : `${drainSeconds.toFixed(1)} s after the load`}`);
}

// 100,000 defects present, then a fixed 200 reports/s.
await sql`
  insert into defects (project_id, number, key, title, description, origin, status, first_seen_at, last_seen_at, created_at)
  select ${project.id}, 1000000 + n, 'BENCH-' || (1000000 + n), 'Seeded defect ' || n || ' about ' || (array['checkout','search','login','profile','cart'])[1 + n % 5],
         'Seeded description number ' || n, 'field', 'new', now() - (n || ' minutes')::interval, now(), now() - (n || ' minutes')::interval
  from generate_series(1, ${defectCount}) as n
`.execute(running.database.db);
await sql`analyze defects`.execute(running.database.db);
const { result: fixed, samples, drainSeconds } = await sampleQueue(load(running.url, false, { overallRate: 200 }));
rows.push([`bugloop, 200 reports/s, ${defectCount} defects`, fixed.requestsPerSecond.toFixed(0), fixed.p50, fixed.p99, fixed.errors, fixed.non2xx, '']);
console.log(`queue (200 reports/s with ${defectCount} defects), per second: ${samples.join(' ')}; drained ${Number.isNaN(drainSeconds) ? 'NOT within 60 s' : `${drainSeconds.toFixed(1)} s after the load`}`);
const keptUp = Math.max(...samples.slice(-3)) < 200 * 2;
console.log();
printTable(rows);
console.log();
console.log(`targets: ratio without image >= 0.6; p99 at 200 reports/s <= 50 ms (measured ${fixed.p99} ms); processing keeps up at 200 reports/s with ${defectCount} defects: ${keptUp && !Number.isNaN(drainSeconds) ? 'yes' : 'no'}`);

await running.close();
await new Promise<void>((resolve) => baselineServer.close(() => resolve()));
await baselinePool.end();
await database.drop();
await baselineDatabase.drop();

/** A PNG padded to the requested size with a trailing ancillary chunk (still a valid PNG). */
function makeImageOfSize(bytes: number): Buffer {
  const png = makePng(1280, 800);
  if (png.length >= bytes) return png;
  // Insert a private ancillary chunk ("biLp") before IEND to reach the size; decoders skip it.
  const padding = Buffer.alloc(bytes - png.length - 12, 7);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(padding.length);
  const typed = Buffer.concat([Buffer.from('biLp', 'latin1'), padding]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([png.subarray(0, png.length - 12), length, typed, crc, png.subarray(png.length - 12)]);
}

