/**
 * npm run bench:soak -- --minutes 10 — the real server (own process) on PostgreSQL at 200
 * reports/s, one in ten with a screenshot, while a signed-in dashboard reads the inbox's first
 * page, a defect page and the metrics. Prints errors (target 0), p99 latencies, the server's
 * RSS after a warm-up and at the end (target: growth under 10 %), and whether the job queue
 * drained. `--minutes 1` is the quick check.
 *
 * Options: --minutes N (default 10), --rate N (reports/s, default 200), --reads N (dashboard
 * reads/s, default 5), --warmup S (seconds, default 30, 15 with --minutes 1), --defects N
 * (processed defects present at the start, default 10000), --json (last line: the figures).
 */
import { crc32 } from 'node:zlib';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { CamelCasePlugin, Kysely, PostgresDialect, sql } from 'kysely';
import type { Database } from '../server/db/schema';
import { migrateToLatest } from '../server/db/migrate';
import { createSession, sessionCookieName } from '../server/http/authenticate';
import { createLogger } from '../server/logger';
import { createProject } from '../server/projects/project-service';
import { createUser, setProjectRole } from '../server/users/user-service';
import { makePng } from '../test/support/images';
import { spawnBenchServer } from './server-process';
import { benchPool, createBenchDatabase, loadAverage, seedProcessedDefects, soakReport } from './support';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '200' },
    reads: { type: 'string', default: '5' },
    warmup: { type: 'string' },
    defects: { type: 'string', default: '10000' },
    json: { type: 'boolean', default: false },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const readRate = Number(values.reads);
const warmupSeconds = Number(values.warmup ?? (minutes <= 1 ? 15 : 30));
const defectCount = Number(values.defects);

const database = await createBenchDatabase('soak');
const pool = benchPool(database.url, 2);
const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [new CamelCasePlugin()] });
await migrateToLatest(db, createLogger('error'));
const project = await createProject(db, { name: 'Soak', keyPrefix: 'SOAK' });
await seedProcessedDefects(db, project.id, defectCount);
const user = await createUser(db, { email: 'soak@bugloop.local', password: 'soak-password-123' });
await setProjectRole(db, project.id, user.id, 'viewer');
const session = await createSession(db, user.id);
const defect = await db.selectFrom('defects').select('id').where('projectId', '=', project.id).orderBy('number').executeTakeFirstOrThrow();

const server = await spawnBenchServer({
  DATABASE_URL: database.url,
  LOG_LEVEL: 'error',
  SECRET_KEY: 'bench-secret-key-bench-secret-key-0123456789',
  BUGLOOP_DATA_DIR: path.join(process.env.TMPDIR ?? '/tmp', 'bugloop-bench-soak'),
  RATE_LIMIT_PER_IP_PER_MINUTE: '100000000',
  RATE_LIMIT_PER_KEY_PER_MINUTE: '100000000',
});

const screenshot = makePng(1280, 800);
const boundary = 'bugloopsoakboundary';
let sent = 0;

function reportJson(): string {
  sent += 1;
  return JSON.stringify(soakReport(sent));
}

function multipartBody(): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="report"\r\n\r\n${reportJson()}\r\n--${boundary}\r\nContent-Disposition: form-data; name="screenshot"; filename="s.png"\r\nContent-Type: image/png\r\n\r\n`),
    // A different image each time (content-addressed storage would otherwise keep one).
    screenshot.subarray(0, screenshot.length - 12),
    pngTextChunk(String(sent)),
    screenshot.subarray(screenshot.length - 12),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

function reportLoad(seconds: number): Promise<autocannon.Result> {
  const json = { method: 'POST' as const, setupRequest: (request: autocannon.Request) => ({ ...request, headers: { ...headers, 'content-type': 'application/json' }, body: reportJson() }) };
  const image = {
    method: 'POST' as const,
    setupRequest: (request: autocannon.Request) => ({ ...request, headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}` }, body: multipartBody() }),
  };
  const headers = { 'x-bugloop-key': project.publicKey };
  // Each connection walks this list in order: one request in ten carries a screenshot.
  return autocannon({ url: `${server.url}/api/v1/reports`, connections: 16, overallRate: rate, duration: seconds, requests: [...Array(9).fill(json), image] });
}

function dashboardLoad(seconds: number): Promise<autocannon.Result> {
  const headers = { cookie: `${sessionCookieName}=${session.cookieValue}` };
  const base = `/api/v1/projects/${project.id}`;
  return autocannon({
    url: server.url,
    connections: 2,
    overallRate: readRate,
    duration: seconds,
    requests: [
      { method: 'GET', path: `${base}/defects?limit=50`, headers },
      { method: 'GET', path: `${base}/defects/${defect.id}`, headers },
      { method: 'GET', path: `${base}/metrics`, headers },
    ],
  });
}

async function queueLength(): Promise<number> {
  const row = await sql<{ n: string }>`select count(*) as n from jobs where state in ('pending', 'running')`.execute(db);
  return Number(row.rows[0].n);
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
console.log(`bench:soak on PostgreSQL: ${minutes} min at ${rate} reports/s (1 in 10 with a screenshot) + ${readRate} dashboard reads/s, ${defectCount} defects at the start`);
console.log(`load average at start: ${loadAverage()} (2 cores shared by the server, PostgreSQL and autocannon)`);

await Promise.all([reportLoad(warmupSeconds), dashboardLoad(warmupSeconds)]);
const rssStart = server.rssFromProc();
console.log(`after a ${warmupSeconds} s warm-up: RSS ${mb(rssStart)}, queue ${await queueLength()}`);

const rssSamples: number[] = [];
const queueSamples: number[] = [];
let running = true;
const sampler = (async () => {
  while (running) {
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    rssSamples.push(server.rssFromProc());
    queueSamples.push(await queueLength());
  }
})();
const [reports, reads] = await Promise.all([reportLoad(minutes * 60), dashboardLoad(minutes * 60)]);
running = false;
await sampler;
const rssEnd = server.rssFromProc();
const loadAtEnd = loadAverage();
const finishedAt = Date.now();
let remaining = await queueLength();
while (remaining > 0 && Date.now() - finishedAt < 120_000) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  remaining = await queueLength();
}
const drainSeconds = remaining === 0 ? (Date.now() - finishedAt) / 1000 : Number.NaN;
const stored = Number((await sql<{ n: string }>`select count(*) as n from reports where project_id = ${project.id}`.execute(db)).rows[0].n) - defectCount;
const unprocessed = Number((await sql<{ n: string }>`select count(*) as n from reports where state <> 'processed'`.execute(db)).rows[0].n);
const deadJobs = Number((await sql<{ n: string }>`select count(*) as n from jobs where state = 'dead'`.execute(db)).rows[0].n);

const errors = reports.errors + reports.timeouts + reports.non2xx + reads.errors + reads.timeouts + reads.non2xx;
const growth = (rssEnd - rssStart) / rssStart;
console.log(`\nRSS every 10 s: ${rssSamples.map((bytes) => (bytes / 1024 / 1024).toFixed(0)).join(' ')} MB`);
console.log(`queue every 10 s: ${queueSamples.join(' ')}`);
const statuses = (result: autocannon.Result) =>
  Object.entries((result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {})
    .map(([status, { count }]) => `${status}: ${count}`)
    .join(', ');
console.log(`\nreports: ${reports.requests.total} sent (${reports.requests.average.toFixed(0)}/s), ${reports['2xx']} accepted, p50 ${reports.latency.p50} ms, p99 ${reports.latency.p99} ms, errors ${reports.errors + reports.timeouts}, non-2xx ${reports.non2xx} (${statuses(reports)})`);
console.log(`dashboard reads: ${reads.requests.total} (${reads.requests.average.toFixed(1)}/s), p50 ${reads.latency.p50} ms, p99 ${reads.latency.p99} ms, errors ${reads.errors + reads.timeouts}, non-2xx ${reads.non2xx}`);
console.log(`stored ${stored} reports (warm-up included); ${unprocessed} not processed; ${deadJobs} dead jobs`);
console.log(`\nerrors: ${errors} (target 0: ${errors === 0 ? 'met' : 'NOT met'})`);
console.log(`RSS: ${mb(rssStart)} after warm-up → ${mb(rssEnd)} at the end, ${(growth * 100).toFixed(1)} % (target < 10 %: ${growth < 0.1 ? 'met' : 'NOT met'})`);
console.log(`queue drained: ${Number.isNaN(drainSeconds) ? 'NO (not within 120 s)' : `yes, ${drainSeconds.toFixed(1)} s after the load`}`);
console.log(`load average: ${loadAtEnd} at the end of the load`);
if (values.json) {
  console.log(
    JSON.stringify({
      bench: 'soak',
      minutes,
      errors,
      p99Reports: reports.latency.p99,
      p99Reads: reads.latency.p99,
      rssStartMb: Number((rssStart / 1024 / 1024).toFixed(1)),
      rssEndMb: Number((rssEnd / 1024 / 1024).toFixed(1)),
      rssGrowthPercent: Number((growth * 100).toFixed(1)),
      drained: !Number.isNaN(drainSeconds),
      drainSeconds: Number.isNaN(drainSeconds) ? -1 : Number(drainSeconds.toFixed(1)),
      loadAverage: loadAtEnd,
    }),
  );
}

await server.stop();
await db.destroy();
await database.drop();

/** A private ancillary PNG chunk ("biLn") carrying text, to make each screenshot distinct. */
function pngTextChunk(text: string): Buffer {
  const data = Buffer.from(`biLn${text}`, 'latin1');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length - 4);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data));
  return Buffer.concat([length, data, crc]);
}
