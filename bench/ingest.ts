/**
 * npm run bench:ingest — load on the real ingest endpoint (PostgreSQL), against a baseline:
 * a bare Koa route inserting the raw body into one table. Both run in their own process (as a
 * server does in production), autocannon in this one. Prints reports/s, p50/p99, the ratio to
 * the baseline, without and with a 300 KB image, a fixed 200 reports/s run with 100,000
 * processed defects present, and whether background processing kept up (queue length over time).
 *
 * Options: --seconds N (per run, default 10), --connections N (default 32), --defects N
 * (default 100000), --rate N (default 200), --quick (3 s runs, 20,000 defects),
 * --profile DIR (adds a request-path-only and a processing-only phase after the seeding: CPU
 * profiles written to DIR and summarised, CPU time and database statements per report, the
 * statements taking most time), --profile-only (only the seeding and those two phases),
 * --floods-only (only the floods without image, baseline then Bugloop, --repeat N times: the ratio
 * alone, with its spread), --fixed-only (only the seeding and the fixed-rate run), --json (last
 * line: figures).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Kysely, PostgresDialect, CamelCasePlugin, sql } from 'kysely';
import type { Database } from '../server/db/schema';
import { migrateToLatest } from '../server/db/migrate';
import { createLogger } from '../server/logger';
import { createProject } from '../server/projects/project-service';
import { makePng } from '../test/support/images';
import { summarizeProfile } from './cpu-profile-summary';
import type { BenchServerStats } from './bench-server';
import { spawnBenchServer, type BenchServerProcess } from './server-process';
import { benchPool, cpuDelta, createBenchDatabase, loadAverage, postgresCpuMillis, printTable, seedProcessedDefects } from './support';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    connections: { type: 'string', default: '32' },
    defects: { type: 'string' },
    rate: { type: 'string', default: '200' },
    quick: { type: 'boolean', default: false },
    profile: { type: 'string' },
    'profile-only': { type: 'boolean', default: false },
    'floods-only': { type: 'boolean', default: false },
    'fixed-only': { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds ?? (values.quick ? 3 : 10));
const connections = Number(values.connections);
const defectCount = Number(values.defects ?? (values.quick ? 20_000 : 100_000));
const fixedRate = Number(values.rate);
const warmUpSeconds = 3;
const jobConcurrency = process.env.JOB_CONCURRENCY ?? '4';

const database = await createBenchDatabase('ingest');
const baselineDatabase = await createBenchDatabase('baseline');
const serverEnvironment = {
  DATABASE_URL: database.url,
  LOG_LEVEL: 'error',
  SECRET_KEY: 'bench-secret-key-bench-secret-key-0123456789',
  BUGLOOP_DATA_DIR: path.join(process.env.TMPDIR ?? '/tmp', 'bugloop-bench-ingest'),
  RATE_LIMIT_PER_IP_PER_MINUTE: '100000000',
  RATE_LIMIT_PER_KEY_PER_MINUTE: '100000000',
  JOB_CONCURRENCY: jobConcurrency,
  JOB_POLL_INTERVAL_MS: '50',
};
// This process's own connection: migrations first (so the project exists before the server starts), the queue sampler, seeding.
const pool = benchPool(database.url, 2);
const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [new CamelCasePlugin()] });
await migrateToLatest(db, createLogger('error'));
const project = await createProject(db, { name: 'Bench', keyPrefix: 'BENCH' });
const server = await spawnBenchServer(serverEnvironment);
const baseline = await spawnBenchServer({ DATABASE_URL: baselineDatabase.url }, { baseline: true });

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
  requests: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, withImage: boolean, options: { overallRate?: number; seconds?: number } = {}): Promise<RunResult> {
  const result = await autocannon({
    url: `${url}/api/v1/reports`,
    connections: options.overallRate ? Math.min(connections, 16) : connections,
    duration: options.seconds ?? seconds,
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
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function queueLength(): Promise<number> {
  const row = await sql<{ n: string }>`select count(*) as n from jobs where state in ('pending', 'running')`.execute(db);
  return Number(row.rows[0].n);
}

interface QueueTrace {
  samples: number[];
  /** Queue length when the load ended. */
  atEnd: number;
  /** Seconds from the end of the load until the queue was empty; NaN when it did not drain in time. */
  drainSeconds: number;
}

/**
 * How long to wait for the queue to drain after a run. The floods leave a backlog by design
 * (reports are answered first, processed after); each run starts from an empty queue, so the
 * fixed-rate run measures whether processing keeps up, not what the floods left behind.
 */
const drainWaitMs = 180_000;

/** Samples the job queue every second while `work` runs, then until it drains (at most `drainWaitMs`). */
async function sampleQueue<T>(work: Promise<T>): Promise<{ result: T } & QueueTrace> {
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
  const atEnd = await queueLength();
  let remaining = atEnd;
  while (remaining > 0 && Date.now() - finishedAt < drainWaitMs) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    remaining = await queueLength();
  }
  done = true;
  await sampler;
  return { result, samples, atEnd, drainSeconds: remaining === 0 ? (Date.now() - finishedAt) / 1000 : Number.NaN };
}

/** Runs `work` and answers the CPU the server process and its PostgreSQL backends spent per report. */
async function withCpu<T extends RunResult>(
  target: BenchServerProcess,
  databaseName: string,
  work: () => Promise<T>,
): Promise<T & { serverCpuMs: number; postgresCpuMs: number; loop: Pick<BenchServerStats, 'loopDelayP99Ms' | 'loopDelayMaxMs' | 'longestGcMs'> }> {
  const serverBefore = (await target.stats()).cpuMicros; // also starts the server's loop-delay interval
  const postgresBefore = await postgresCpuMillis(db, databaseName);
  const result = await work();
  const { cpuMicros: serverAfter, loopDelayP99Ms, loopDelayMaxMs, longestGcMs } = await target.stats();
  const postgresAfter = await postgresCpuMillis(db, databaseName);
  return {
    ...result,
    serverCpuMs: (serverAfter - serverBefore) / 1000 / result.requests,
    postgresCpuMs: cpuDelta(postgresBefore, postgresAfter) / result.requests,
    loop: { loopDelayP99Ms, loopDelayMaxMs, longestGcMs },
  };
}

const drained = (trace: QueueTrace) => (Number.isNaN(trace.drainSeconds) ? `NOT within ${drainWaitMs / 1000} s` : `${trace.drainSeconds.toFixed(1)} s after the load`);

console.log(`bench:ingest on PostgreSQL, ${seconds}s per run, ${connections} connections, ${jobConcurrency} job workers; server and baseline in their own processes`);
console.log(`load average at start: ${loadAverage()} (2 cores shared by the server, its workers, PostgreSQL and autocannon)\n`);

const rows: (string | number)[][] = [['run', 'reports/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'ratio', 'server CPU ms', 'PG CPU ms', 'load avg']];
const figures: Record<string, number | boolean | string> = {};
const floods = values['profile-only'] || values['fixed-only'] ? [] : values['floods-only'] ? Array.from({ length: Number(values.repeat) }, () => false) : [false, true];
const ratios: number[] = [];
for (const withImage of floods) {
  const label = withImage ? 'with 300 KB image' : 'without image';
  const baselineRun = await withCpu(baseline, baselineDatabase.name, () => load(baseline.url, withImage));
  const baselineLoad = loadAverage();
  // The server's CPU counts its processing of these reports during the run, not the drain after it.
  const { result: bugloop, ...trace } = await sampleQueue(withCpu(server, database.name, () => load(server.url, withImage)));
  const ratio = bugloop.requestsPerSecond / baselineRun.requestsPerSecond;
  const cpu = (run: { serverCpuMs: number; postgresCpuMs: number }) => [run.serverCpuMs.toFixed(2), run.postgresCpuMs.toFixed(2)];
  rows.push([`baseline, ${label}`, baselineRun.requestsPerSecond.toFixed(0), baselineRun.p50, baselineRun.p99, baselineRun.errors, baselineRun.non2xx, '', ...cpu(baselineRun), baselineLoad]);
  rows.push([`bugloop, ${label}`, bugloop.requestsPerSecond.toFixed(0), bugloop.p50, bugloop.p99, bugloop.errors, bugloop.non2xx, ratio.toFixed(2), ...cpu(bugloop), loadAverage()]);
  // What processing took of the flood's reports while it lasted (the workers yield to HTTP then).
  const processedDuringLoad = bugloop.requests - trace.atEnd;
  console.log(`queue (${label}), per second: ${trace.samples.join(' ')}; drained ${drained(trace)}; ${processedDuringLoad} of ${bugloop.requests} processed during the load`);
  if (!withImage) ratios.push(ratio);
  figures[withImage ? 'ratioWithImage' : 'ratio'] = Number(ratio.toFixed(3));
  figures[withImage ? 'reportsPerSecondWithImage' : 'reportsPerSecond'] = Math.round(bugloop.requestsPerSecond);
  figures[withImage ? 'backlogDrainSecondsWithImage' : 'backlogDrainSeconds'] = Number.isNaN(trace.drainSeconds) ? -1 : Number(trace.drainSeconds.toFixed(1));
}

if (values['floods-only']) {
  printTable(rows);
  const sorted = [...ratios].sort((a, b) => a - b);
  console.log(`\nratio without image over ${sorted.length} pairs: median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)}, min ${sorted[0].toFixed(2)}, max ${sorted.at(-1)!.toFixed(2)}`);
  await shutDown();
  process.exit(0);
}

// `defectCount` processed defects present, then a fixed rate.
const seedStarted = performance.now();
await seedProcessedDefects(db, project.id, defectCount);
console.log(`\nseeded ${defectCount} processed defects (with reports, history and dedup index) in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);
// Profiled with the defects present: processing's cost is what it is against a full index.
if (values.profile) await profilePhases(values.profile);
if (values['profile-only']) {
  await shutDown();
  process.exit(0);
}
// A warm-up at the same rate first, reported but not counted: the measured run is the steady
// state of a server that has been taking reports, not the first second after a bulk seed (cold
// buffers, statements not yet prepared on the workers' connections).
const warmUp = await load(server.url, false, { overallRate: fixedRate, seconds: warmUpSeconds });
// Its reports processed before the measured run starts, waiting as long as a run's drain at most.
const warmUpEnded = Date.now();
while ((await queueLength()) > 0 && Date.now() - warmUpEnded < drainWaitMs) await new Promise((resolve) => setTimeout(resolve, 250));
console.log(`warm-up: ${warmUpSeconds} s at ${fixedRate} reports/s, p50 ${warmUp.p50} ms, p99 ${warmUp.p99} ms (not counted); queue ${await queueLength()} after ${((Date.now() - warmUpEnded) / 1000).toFixed(1)} s`);
const before = await server.stats();
const fixedStarted = new Date();
const { result: fixed, ...trace } = await sampleQueue(withCpu(server, database.name, () => load(server.url, false, { overallRate: fixedRate })));
const after = await server.stats();
rows.push([`bugloop, ${fixedRate} reports/s, ${defectCount} defects`, fixed.requestsPerSecond.toFixed(0), fixed.p50, fixed.p99, fixed.errors, fixed.non2xx, '', fixed.serverCpuMs.toFixed(2), fixed.postgresCpuMs.toFixed(2), loadAverage()]);
console.log(`queue (${fixedRate} reports/s with ${defectCount} defects), per second: ${trace.samples.join(' ')}; drained ${drained(trace)}`);
// Vacuums and analyzes during the run (the server's own maintenance where autovacuum is off, or
// autovacuum's) compete with it for the two cores: named, so a slow p99 can be told apart.
const maintenance = await sql<{ relname: string; vacuumed: boolean; analyzed: boolean }>`
  select relname,
         greatest(last_vacuum, last_autovacuum) >= ${fixedStarted} as vacuumed,
         greatest(last_analyze, last_autoanalyze) >= ${fixedStarted} as analyzed
  from pg_stat_user_tables
  where greatest(last_vacuum, last_autovacuum, last_analyze, last_autoanalyze) >= ${fixedStarted}
  order by relname
`.execute(db);
console.log(`maintenance during that run or its drain: ${maintenance.rows.map((row) => `${row.relname} (${[row.vacuumed && 'vacuum', row.analyzed && 'analyze'].filter(Boolean).join(' + ')})`).join(', ') || 'none'}`);
console.log(`server process during that run: ${((after.cpuMicros - before.cpuMicros) / 1000 / fixed.requests).toFixed(2)} ms CPU and ${((after.queries - before.queries) / fixed.requests).toFixed(1)} statements per report (request + processing)`);
console.log(`server event loop during the load: delay p99 ${fixed.loop.loopDelayP99Ms.toFixed(1)} ms, max ${fixed.loop.loopDelayMaxMs.toFixed(1)} ms; longest GC pause ${fixed.loop.longestGcMs.toFixed(1)} ms`);
// Kept up: the queue never held more than two seconds of reports, and emptied within 5 s of the end.
const keptUp = Math.max(...trace.samples) <= fixedRate * 2 && trace.drainSeconds <= 5;
console.log();
printTable(rows);
const withoutImage = figures.ratio as number | undefined;
console.log();
console.log(`targets: ratio without image >= 0.6: ${withoutImage === undefined ? 'not measured (--fixed-only)' : `${withoutImage.toFixed(2)} ${withoutImage >= 0.6 ? 'met' : 'NOT met'}`}`);
console.log(`         p99 at ${fixedRate} reports/s <= 50 ms: ${fixed.p99} ms ${fixed.p99 <= 50 ? 'met' : 'NOT met'}`);
console.log(`         processing keeps up at ${fixedRate} reports/s with ${defectCount} defects (queue <= ${fixedRate * 2}, drained <= 5 s): ${keptUp ? 'met' : 'NOT met'} (max queue ${Math.max(...trace.samples)}, drained ${drained(trace)})`);
console.log(`load average at end: ${loadAverage()}`);
Object.assign(figures, {
  p99AtFixedRate: fixed.p99,
  p99WarmUp: warmUp.p99,
  p50AtFixedRate: fixed.p50,
  fixedRateErrors: fixed.errors + fixed.non2xx,
  maxQueue: Math.max(...trace.samples),
  drainSeconds: Number.isNaN(trace.drainSeconds) ? -1 : Number(trace.drainSeconds.toFixed(1)),
  keptUp,
  defects: defectCount,
  loadAverage: loadAverage(),
});
if (values.json) console.log(JSON.stringify({ bench: 'ingest', ...figures }));

await shutDown();

async function shutDown(): Promise<void> {
  await server.stop();
  await baseline.stop();
  await db.destroy();
  await database.drop();
  await baselineDatabase.drop();
}

/**
 * Measures the two halves of the work apart: the request path alone (job workers paused), then
 * processing alone (the queue those requests left), each with a CPU profile of the server.
 */
async function profilePhases(directory: string): Promise<void> {
  mkdirSync(directory, { recursive: true });
  await server.runJobs(false);
  const requestFile = path.join(directory, 'request-path.cpuprofile');
  const start = await server.stats();
  const postgresStart = await postgresCpuMillis(db, database.name);
  await server.startProfile();
  const run = await load(server.url, false);
  await server.stopProfile(requestFile);
  const end = await server.stats();
  const postgresEnd = await postgresCpuMillis(db, database.name);
  console.log(`\nrequest path alone (workers paused), ${run.requestsPerSecond.toFixed(0)} reports/s, load ${loadAverage()}:`);
  console.log(`  ${((end.cpuMicros - start.cpuMicros) / 1000 / run.requests).toFixed(3)} ms server CPU, ${(cpuDelta(postgresStart, postgresEnd) / run.requests).toFixed(3)} ms PostgreSQL CPU and ${((end.queries - start.queries) / run.requests).toFixed(2)} statements per report`);
  printProfile(requestFile);
  printStatements(start, end, run.requests);

  const queued = await queueLength();
  const processingFile = path.join(directory, 'processing.cpuprofile');
  await server.startProfile();
  const processingStart = await server.stats();
  const postgresProcessingStart = await postgresCpuMillis(db, database.name);
  const started = performance.now();
  await server.runJobs(true);
  while ((await queueLength()) > 0) await new Promise((resolve) => setTimeout(resolve, 100));
  const elapsed = (performance.now() - started) / 1000;
  const processingEnd = await server.stats();
  const postgresProcessingEnd = await postgresCpuMillis(db, database.name);
  await server.stopProfile(processingFile);
  console.log(`\nprocessing alone: ${queued} reports in ${elapsed.toFixed(1)} s (${(queued / elapsed).toFixed(0)} reports/s), load ${loadAverage()}:`);
  console.log(`  ${((processingEnd.cpuMicros - processingStart.cpuMicros) / 1000 / queued).toFixed(3)} ms server CPU, ${(cpuDelta(postgresProcessingStart, postgresProcessingEnd) / queued).toFixed(3)} ms PostgreSQL CPU and ${((processingEnd.queries - processingStart.queries) / queued).toFixed(2)} statements per report`);
  printProfile(processingFile);
  printStatements(processingStart, processingEnd, queued);
}

/** The statements between two readings, most time first: per report, how many and their wall ms. */
function printStatements(before: BenchServerStats, after: BenchServerStats, reports: number): void {
  const rows = Object.entries(after.statements)
    .map(([statement, { count, ms }]) => ({ statement, count: count - (before.statements[statement]?.count ?? 0), ms: ms - (before.statements[statement]?.ms ?? 0) }))
    .filter((row) => row.count > 0)
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 12);
  console.log('  statements (per report: count, wall ms until answered), most time first:');
  for (const row of rows) console.log(`    ${(row.count / reports).toFixed(2).padStart(6)}  ${(row.ms / reports).toFixed(3).padStart(7)} ms  ${row.statement}`);
}

function printProfile(file: string): void {
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')));
  const share = (ms: number) => `${((100 * ms) / summary.totalMs).toFixed(0).padStart(3)} %`;
  console.log(`  CPU profile ${file}: busy ${summary.totalMs.toFixed(0)} ms; inclusive by area:`);
  console.log(`    ${summary.inclusiveAreas.filter(([area]) => !['(native)', 'node internals'].includes(area)).slice(0, 12).map(([area, ms]) => `${area} ${share(ms)}`).join(', ')}`);
  console.log(`  top functions (self): ${summary.functions.slice(0, 8).map(([name, ms]) => `${name} ${share(ms)}`).join('; ')}`);
}

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
