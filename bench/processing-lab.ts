/**
 * A lab for report processing (not part of `npm run bench`): stores N reports shaped like
 * bench:ingest's (one problem, one error and one failed request, the report's id in its text),
 * processes them in job-sized batches on a fresh PostgreSQL database and prints the time per
 * batch, then EXPLAIN ANALYZE of the statements of one more report. Options: --reports N
 * (default 3000), --batch N (default 50), --shape flood|soak (one problem, or bench:soak's 40),
 * --explain (plans of one more report's statements, in the server log), --keep (keep the database).
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, CamelCasePlugin, sql } from 'kysely';
import type { Database } from '../server/db/schema';
import { migrateToLatest } from '../server/db/migrate';
import { createLogger } from '../server/logger';
import { DatabaseMaintenance } from '../server/db/maintenance';
import { createProject } from '../server/projects/project-service';
import { storeReports } from '../server/reports/report-ingest';
import { processReports } from '../server/reports/report-processing';
import { benchPool, cpuDelta, createBenchDatabase, loadAverage, postgresCpuMillis, soakReport } from './support';

const { values } = parseArgs({ options: { reports: { type: 'string', default: '3000' }, batch: { type: 'string', default: '50' }, explain: { type: 'boolean', default: false }, keep: { type: 'boolean', default: false }, shape: { type: 'string', default: 'flood' } } });
const total = Number(values.reports);

const batchSize = Number(values.batch);
const database = await createBenchDatabase('lab');
const pool = benchPool(database.url, 2);
const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [new CamelCasePlugin()] });
try {
  await migrateToLatest(db, createLogger('error'));
  const project = await createProject(db, { name: 'Lab', keyPrefix: 'LAB' });
  const ids: string[] = [];
  for (let start = 0; start < total; start += 500) {
    const answers = await storeReports(
      db,
      Array.from({ length: Math.min(500, total - start) }, (_, offset) => {
        const id = randomUUID();
        if (values.shape === 'soak') return { projectId: project.id, origin: 'field' as const, report: soakReport(start + offset) };
        return {
          projectId: project.id,
          origin: 'field' as const,
          report: {
            id,
            description: `Checkout fails after pressing pay (${id})`,
            url: 'https://shop.example.com/checkout/payment',
            release: '1.4.0',
            console: [{ level: 'error' as const, message: 'TypeError: x is undefined', time: Date.now(), source: 'uncaught' as const }],
            network: [{ method: 'POST', url: 'https://shop.example.com/api/pay', status: 500, durationMs: 120, time: Date.now() }],
          },
        };
      }),
    );
    ids.push(...answers.map((answer) => answer.id));
  }
  // Fresh statistics, as the server's maintenance (or autovacuum) keeps them.
  await sql`analyze`.execute(db);
  // Another connection reads the backends' CPU, so the one processing is counted too.
  const meterPool = benchPool(database.url, 1);
  const meter = new Kysely<Database>({ dialect: new PostgresDialect({ pool: meterPool }), plugins: [new CamelCasePlugin()] });
  const postgresBefore = await postgresCpuMillis(meter, database.name);
  const processBefore = process.cpuUsage();
  // What the server does beside processing on a PostgreSQL without autovacuum (as on these
  // machines; with autovacuum it does nothing): its check, here every 5 s of processing.
  const maintenance = new DatabaseMaintenance({ db, backend: 'postgres' }, createLogger('error'), { minimumIntervalMs: 5000 });
  await maintenance.start();
  const perBatch: number[] = [];
  const began = performance.now();
  for (let start = 0; start < ids.length; start += batchSize) {
    const t = performance.now();
    await db.transaction().execute((trx) => processReports(trx, ids.slice(start, start + batchSize), { aiEnabled: false }));
    perBatch.push(performance.now() - t);
    await maintenance.runIfDue();
  }
  await maintenance.stop();
  const elapsed = performance.now() - began;
  const processCpu = process.cpuUsage(processBefore);
  const postgresCpu = cpuDelta(postgresBefore, await postgresCpuMillis(meter, database.name));
  await meter.destroy();
  const defects = await db.selectFrom('defects').select(db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  const tenths = Array.from({ length: 10 }, (_, i) => perBatch.slice(Math.floor((i * perBatch.length) / 10), Math.floor(((i + 1) * perBatch.length) / 10)));
  console.log(`${ids.length} reports in ${(elapsed / 1000).toFixed(1)} s (${((ids.length / elapsed) * 1000).toFixed(0)} reports/s), ${defects.n} defects, load ${loadAverage()}`);
  console.log(`maintenance: ${maintenance.totals.vacuums} vacuums, ${maintenance.totals.analyzes} analyzes, ${maintenance.totals.checkMs.toFixed(0)} ms (in the figures)`);
  console.log(`CPU per report: this process ${((processCpu.user + processCpu.system) / 1000 / ids.length).toFixed(2)} ms, PostgreSQL ${(postgresCpu / ids.length).toFixed(2)} ms`);
  console.log(`ms per report by tenth of the run: ${tenths.map((part) => (part.reduce((a, b) => a + b, 0) / (part.length * batchSize)).toFixed(2)).join(' ')}`);
  if (values.explain) {
    await sql`load 'auto_explain'`.execute(db).catch(() => undefined);
    const id = (
      await storeReports(db, [{ projectId: project.id, origin: 'field', report: { id: randomUUID(), description: 'Checkout fails after pressing pay (again)', console: [{ level: 'error', message: 'TypeError: x is undefined', time: Date.now(), source: 'uncaught' }] } }])
    )[0].id;
    await db.connection().execute(async (connection) => {
      await sql`set auto_explain.log_min_duration = 0`.execute(connection);
      await sql`set auto_explain.log_analyze = on`.execute(connection);
      await sql`set auto_explain.log_nested_statements = on`.execute(connection);
      await sql`set client_min_messages = log`.execute(connection);
      await connection.transaction().execute((trx) => processReports(trx, [id], { aiEnabled: false }));
    });
  }
} finally {
  await db.destroy();
  if (values.keep) console.log(`database kept: ${database.url}`);
  else await database.drop();
}
