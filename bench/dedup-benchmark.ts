/**
 * Replays a duplicate-benchmark file (format: ../shared/data/dedup/README.md) through the real
 * deduplication engine on a real database, in creation order, and prints its quality and speed.
 *
 *   npm run bench:dedup -- [--data ../shared/data/dedup/dev.jsonl] [--limit N] [--json] [--scale 100000]
 *                          [--pglite-on-disk] [--dump top-candidates.jsonl] [--maintenance-every 200]
 *
 * PGlite in memory by default (--pglite-on-disk: a temporary folder); PostgreSQL when DATABASE_URL is set (a scratch
 * database is created and dropped). Auto-merge is off, so every report stays its own defect and
 * the ranking is over all earlier reports (the README's recall@k); what auto-merge would have
 * done at the default policy is recorded in the same pass. Time per report is the engine's
 * (assignReportToDefect: retrieval, scoring, defect, history, indexing), not the report insert.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { type KyselyPlugin, type RootOperationNode, sql } from 'kysely';
import { openDatabase, type DatabaseHandle } from '../server/db/database';
import { DatabaseMaintenance } from '../server/db/maintenance';
import { migrateToLatest } from '../server/db/migrate';
import { createLogger } from '../server/logger';
import { createProject } from '../server/projects/project-service';
import { assignReportToDefect } from '../server/dedup/assign-report';
import { registerDedupJobHandlers } from '../server/dedup/dedup-jobs';
import { JobWorker } from '../server/outbox/job-queue';
import { findSimilarReports } from '../server/dedup/duplicate-index';
import { benchmarkFeatures, readBenchmarkFile, productRoute, type BenchmarkRecord } from './dedup-data';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/dedup/dev.jsonl' },
    limit: { type: 'string' },
    json: { type: 'boolean', default: false },
    scale: { type: 'string' },
    'pglite-on-disk': { type: 'boolean', default: false },
    /** Writes each report's top candidates (scores, signals, relevance) as JSON lines, for tuning the auto-merge policy. */
    dump: { type: 'string' },
    /** Prints where the engine's time went over the last 1,000 reports: per SQL statement (wall and process CPU), and the rest (TypeScript). */
    profile: { type: 'boolean', default: false },
    /**
     * Runs the embedded database's maintenance check (server/db/maintenance.ts) every N reports, as the
     * server's timer would (0: never, to see the engine without it). No-op on PostgreSQL (autovacuum).
     */
    'maintenance-every': { type: 'string', default: '200' },
  },
});

const log = (line: string) => console.log(line);

/** The keys of the `--json` summary line (the last line), in this order and no others. */
const summaryKeys = ['recall@1', 'recall@5', 'recall@10', 'mrr', 'autoMergePrecision', 'autoMergeCoverage', 'reportsPerSecond', 'p95Ms'] as const;

async function openScratchDatabase(): Promise<{ database: DatabaseHandle; cleanup: () => Promise<void>; label: string }> {
  const logger = createLogger('silent');
  const url = process.env.DATABASE_URL;
  if (url) {
    const name = `bugloop_bench_${process.pid}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const parsed = new URL(url);
    parsed.pathname = `/${name}`;
    const database = await openDatabase({ kind: 'postgres', url: parsed.toString(), poolSize: 2 }, logger);
    return {
      database,
      label: `PostgreSQL (${parsed.host})`,
      async cleanup() {
        await database.close();
        await admin.query(`drop database if exists ${name} with (force)`);
        await admin.end();
      },
    };
  }
  // In memory by default: the figures measure the engine, not the container's file system.
  const folder = values['pglite-on-disk'] ? mkdtempSync(path.join(os.tmpdir(), 'bugloop-bench-')) : undefined;
  const database = await openDatabase(
    { kind: 'pglite', dataDirectory: folder ? path.join(folder, 'pglite') : 'memory', lockOwner: 'bench' },
    logger,
  );
  return {
    database,
    label: folder ? 'PGlite (embedded, on disk)' : 'PGlite (embedded, in memory)',
    async cleanup() {
      await database.close();
      if (folder) rmSync(folder, { recursive: true, force: true });
    },
  };
}

/**
 * Times each statement the engine sends, from compilation to its result: wall time and this
 * process's CPU (on PGlite the database runs in this process, so its CPU is the statement's cost
 * whatever the machine's load; on PostgreSQL only wall time means anything). Statements are named
 * by their first words, so the same statement from different reports adds up.
 */
class StatementProfile implements KyselyPlugin {
  readonly #started = new WeakMap<object, { name: string; wall: number; cpu: NodeJS.CpuUsage }>();
  /** statement name → [wall ms, cpu ms, count] for the current report */
  current = new Map<string, [number, number, number]>();
  /** Only statements sent while this is set count (the engine's, not the replay's own). */
  active = false;

  transformQuery(args: { node: RootOperationNode; queryId: object }): RootOperationNode {
    if (this.active) this.#started.set(args.queryId, { name: statementName(args.node), wall: performance.now(), cpu: process.cpuUsage() });
    return args.node;
  }

  async transformResult<R>(args: { result: R; queryId: object }): Promise<R> {
    const started = this.#started.get(args.queryId);
    if (started) {
      const cpu = process.cpuUsage(started.cpu);
      const entry = this.current.get(started.name) ?? [0, 0, 0];
      entry[0] += performance.now() - started.wall;
      entry[1] += (cpu.user + cpu.system) / 1000;
      entry[2] += 1;
      this.current.set(started.name, entry);
    }
    return args.result;
  }
}

function statementName(node: RootOperationNode): string {
  if (node.kind === 'RawNode') {
    const text = node.sqlFragments.join('$').replace(/\s+/g, ' ').trim();
    return text.slice(0, 70);
  }
  const table = JSON.stringify(node).match(/"table":\{"kind":"IdentifierNode","name":"([^"]+)"/)?.[1] ?? '';
  return `${node.kind} ${table}`;
}

function percentile(sorted: readonly number[], share: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))];
}

async function main(): Promise<void> {
  const records = readBenchmarkFile(values.data!, values.limit ? Number(values.limit) : undefined);
  const { database, cleanup, label } = await openScratchDatabase();
  try {
    const profile = values.profile ? new StatementProfile() : undefined;
    const db = profile ? database.db.withPlugin(profile) : database.db;
    await migrateToLatest(database.db, createLogger('silent'));
    const project = await createProject(db, { name: 'Benchmark', keyPrefix: 'BENCH' });
    const jobs = new JobWorker(db, createLogger('silent'), { concurrency: 1, pollIntervalMs: 1000 });
    await registerDedupJobHandlers(jobs, db, createLogger('silent'), undefined);
    // The replay is faster than real traffic, so the check has no minimum interval here: every
    // N reports stands for the server's timer. Its time is outside the per-report figures and printed apart.
    const maintenanceEvery = Number(values['maintenance-every']);
    const maintenance = new DatabaseMaintenance(database, createLogger('silent'), { minimumIntervalMs: 0 });
    log(`replaying ${records.length} reports from ${values.data} on ${label}`);

    if (values.dump) writeFileSync(values.dump, '');
    const groupOf = new Map<string, string>(); // record id → group (master id)
    const recordOfDefect = new Map<string, string>(); // defect id → record id
    const createdOf = new Map<string, number>(); // record id → creation time (ms)
    const timings: number[] = [];
    // CPU time of this process (PGlite runs in it): the wall time on a shared machine also
    // counts waiting for other processes' turn on the cores.
    const cpuTimings: number[] = [];
    /** Per statement over the last 1,000 reports: [wall ms, cpu ms, count]. */
    const profileTotals = new Map<string, [number, number, number]>();
    let profiledReports = 0, profiledWall = 0, profiledCpu = 0;
    let queries = 0, hits1 = 0, hits5 = 0, hits10 = 0, reciprocal = 0;
    let merges = 0, correctMerges = 0, mergedQueries = 0, correctMergedQueries = 0;
    const started = performance.now();
    for (const [index, record] of records.entries()) {
      groupOf.set(record.id, record.dup_of ?? record.id);
      createdOf.set(record.id, Date.parse(record.created));
      let engineMs = 0;
      let engineCpuMs = 0;
      const assignment = await db.transaction().execute(async (trx) => {
        const report = await trx
          .insertInto('reports')
          .values({
            projectId: project.id,
            clientId: crypto.randomUUID(),
            payload: JSON.stringify({ benchmarkId: record.id }),
            title: record.title,
            description: record.description,
            route: productRoute(record.product),
            component: record.component,
            receivedAt: new Date(record.created),
            state: 'processed',
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        profile?.current.clear();
        if (profile) profile.active = true;
        const began = performance.now();
        const cpuBefore = process.cpuUsage();
        const result = await assignReportToDefect(trx, report, { autoMerge: false, returnedCandidates: 100 });
        if (profile) profile.active = false;
        engineMs = performance.now() - began;
        const cpu = process.cpuUsage(cpuBefore);
        engineCpuMs = (cpu.user + cpu.system) / 1000;
        return result;
      });
      // Jobs the report queued (the norm refresh when the corpus doubles) run after its commit, off its path.
      await jobs.drain();
      if (maintenanceEvery > 0 && (index + 1) % maintenanceEvery === 0) await maintenance.runIfDue();
      timings.push(engineMs);
      cpuTimings.push(engineCpuMs);
      if (profile && index >= records.length - 1000) {
        profiledReports += 1;
        profiledWall += engineMs;
        profiledCpu += engineCpuMs;
        for (const [name, [wall, cpu, count]] of profile.current) {
          const total = profileTotals.get(name) ?? [0, 0, 0];
          total[0] += wall;
          total[1] += cpu;
          total[2] += count;
          profileTotals.set(name, total);
        }
      }
      recordOfDefect.set(assignment.defectId, record.id);

      const group = groupOf.get(record.id)!;
      const isRelevant = (defectId: string) => groupOf.get(recordOfDefect.get(defectId) ?? '') === group;
      // The README's candidates are the reports created strictly earlier: one replayed before
      // this one but created at the same instant (a bulk-filed clone) is not ranked.
      const created = createdOf.get(record.id)!;
      const ranked = assignment.candidates.filter((candidate) => (createdOf.get(recordOfDefect.get(candidate.defectId) ?? '') ?? created) < created);
      if (record.dup_of) {
        queries += 1;
        const rank = ranked.findIndex((candidate) => isRelevant(candidate.defectId)) + 1;
        if (rank >= 1) {
          if (rank <= 1) hits1 += 1;
          if (rank <= 5) hits5 += 1;
          if (rank <= 10) hits10 += 1;
          if (rank <= 100) reciprocal += 1 / rank;
        }
        if (assignment.autoMergeCandidate) {
          mergedQueries += 1;
          if (isRelevant(assignment.autoMergeCandidate.defectId)) correctMergedQueries += 1;
        }
      }
      if (values.dump) {
        const top = ranked.slice(0, 3).map((candidate) => ({ score: candidate.score, ...candidate.signals, relevant: isRelevant(candidate.defectId) }));
        appendFileSync(values.dump, `${JSON.stringify({ id: record.id, query: Boolean(record.dup_of), top })}\n`);
      }
      if (assignment.autoMergeCandidate) {
        merges += 1;
        if (isRelevant(assignment.autoMergeCandidate.defectId)) correctMerges += 1;
      }
      if ((index + 1) % 1000 === 0) {
        const recent = [...timings.slice(-1000)].sort((a, b) => a - b);
        log(
          `  ${index + 1} reports, ${((performance.now() - started) / 1000).toFixed(0)} s: ${queries} queries, recall@1/5/10 so far ` +
            `${(hits1 / Math.max(1, queries)).toFixed(3)}/${(hits5 / Math.max(1, queries)).toFixed(3)}/${(hits10 / Math.max(1, queries)).toFixed(3)}, ` +
            `auto-merges ${merges} (${correctMerges} right, ${mergedQueries} of queries), p95 of last 1000 ${percentile(recent, 0.95).toFixed(1)} ms`,
        );
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const last = [...timings.slice(-1000)].sort((a, b) => a - b);
    const result: Record<string, number> = {
      reports: records.length,
      queries,
      'recall@1': hits1 / Math.max(1, queries),
      'recall@5': hits5 / Math.max(1, queries),
      'recall@10': hits10 / Math.max(1, queries),
      mrr: reciprocal / Math.max(1, queries),
      autoMergePrecision: merges === 0 ? 1 : correctMerges / merges,
      autoMergeCoverage: mergedQueries / Math.max(1, queries),
      // the same precision counted over duplicate queries only (first reports excluded)
      autoMergePrecisionOnDuplicates: mergedQueries === 0 ? 1 : correctMergedQueries / mergedQueries,
      autoMerges: merges,
      reportsPerSecond: records.length / seconds,
      p50Ms: percentile(last, 0.5),
      p95Ms: percentile(last, 0.95),
      p95CpuMs: percentile([...cpuTimings.slice(-1000)].sort((a, b) => a - b), 0.95),
      maintenanceVacuums: maintenance.totals.vacuums,
      maintenanceMs: maintenance.totals.checkMs,
    };
    if (values.scale) Object.assign(result, await measureScale(database, project.id, records, Number(values.scale)));

    const digits = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(3));
    log(`queries (reports with dup_of): ${queries}`);
    log(`recall@1 ${digits(result['recall@1'])}  recall@5 ${digits(result['recall@5'])}  recall@10 ${digits(result['recall@10'])}  MRR ${digits(result.mrr)}`);
    log(`auto-merge (would have): ${merges} merges, precision ${digits(result.autoMergePrecision)}, coverage ${digits(result.autoMergeCoverage)}; precision on duplicate queries only ${digits(result.autoMergePrecisionOnDuplicates)}`);
    log(`speed: ${digits(result.reportsPerSecond)} reports/s, p50 ${digits(result.p50Ms)} ms, p95 ${digits(result.p95Ms)} ms per report (last ${last.length}); process CPU p95 ${digits(result.p95CpuMs)} ms`);
    if (database.backend !== 'pglite') log('database maintenance: left to PostgreSQL autovacuum');
    else if (maintenanceEvery <= 0) log('database maintenance: off (--maintenance-every 0)');
    else {
      const { checks, vacuums, analyzes, totalMs, checkMs, longestCheckMs, failures } = maintenance.totals;
      log(
        `database maintenance (every ${maintenanceEvery} reports, not in the per-report figures): ${checks} checks, ` +
          `${vacuums} vacuums + ${analyzes} analyzes in ${totalMs.toFixed(0)} ms total (${checkMs.toFixed(0)} ms with the checks; ${(checkMs / records.length).toFixed(2)} ms per report replayed; longest check ${longestCheckMs.toFixed(0)} ms)` +
          (failures > 0 ? `, ${failures} failures` : ''),
      );
    }
    if (result.scaleFactor !== undefined) {
      log(`retrieval at ${result.scaleReports} stored reports: p50 ${digits(result.scaleP50MsAfter)} ms vs ${digits(result.scaleP50MsBefore)} ms at ${records.length}: slowdown ×${digits(result.scaleFactor)}`);
    }
    if (profile && profiledReports > 0) {
      const per = (value: number) => (value / profiledReports).toFixed(2);
      let sqlWall = 0, sqlCpu = 0;
      log(`where the engine's time went, mean per report over the last ${profiledReports} (wall ms / process CPU ms / statements):`);
      for (const [name, [wall, cpu, count]] of [...profileTotals].sort((a, b) => b[1][1] - a[1][1])) {
        sqlWall += wall;
        sqlCpu += cpu;
        log(`  ${per(wall).padStart(7)} ${per(cpu).padStart(7)} ${per(count).padStart(5)}  ${name}`);
      }
      log(`  ${per(profiledWall - sqlWall).padStart(7)} ${per(profiledCpu - sqlCpu).padStart(7)}        outside statements (tokenizing, scoring, candidates in TypeScript)`);
      log(`  ${per(profiledWall).padStart(7)} ${per(profiledCpu).padStart(7)}        engine total`);
    }
    if (values.json) {
      const rounded = (keys: readonly string[]) => Object.fromEntries(keys.map((key) => [key, Math.round(result[key] * 10_000) / 10_000]));
      // Everything measured, then the contract: the last line holds exactly the keys.
      console.log(JSON.stringify(rounded(Object.keys(result))));
      console.log(JSON.stringify(rounded(summaryKeys)));
    }
  } finally {
    await cleanup();
  }
}

/**
 * Retrieval time for the same queries before and after the project grows to `target` stored
 * reports. The filler copies stored documents with shifted dates (new report rows, postings,
 * frequencies), so the index has the size and term distribution of real data.
 */
async function measureScale(database: DatabaseHandle, projectId: string, records: readonly BenchmarkRecord[], target: number) {
  const { db } = database;
  const sample = records.filter((_, index) => index % Math.max(1, Math.floor(records.length / 200)) === 0).slice(0, 200);
  const time = async () => {
    const durations: number[] = [];
    for (const record of sample) {
      const features = benchmarkFeatures(record);
      const began = performance.now();
      await findSimilarReports(db, projectId, features);
      durations.push(performance.now() - began);
    }
    return percentile(durations.sort((a, b) => a - b), 0.5);
  };
  const before = await time();
  let stored = Number((await sql<{ count: number }>`select count(*)::int as count from reports where project_id = ${projectId}`.execute(db)).rows[0].count);
  const original = stored;
  let round = 0;
  while (stored < target) {
    round += 1;
    const batch = Math.min(original, target - stored);
    // Copy a batch of reports (one defect each) and their index rows, dated `round` years earlier.
    await db.transaction().execute(async (trx) => {
      await sql`
        create temporary table filler on commit drop as
        select r.id as source_id, gen_random_uuid() as report_id, gen_random_uuid() as defect_id, r.received_at - make_interval(years => ${round}) as received_at,
               row_number() over (order by r.received_at) as number
        from reports r where r.project_id = ${projectId} and r.payload ? 'benchmarkId'
        order by r.received_at limit ${batch}
      `.execute(trx);
      const offset = 1_000_000 * round;
      await sql`
        insert into defects (id, project_id, number, key, title, origin, report_count, first_seen_at, last_seen_at, created_at)
        select f.defect_id, ${projectId}, ${offset} + f.number, 'FILL-' || (${offset} + f.number), 'filler', 'field', 1, f.received_at, f.received_at, f.received_at from filler f
      `.execute(trx);
      await sql`
        insert into reports (id, project_id, client_id, defect_id, payload, title, description, route, component, received_at, state)
        select f.report_id, ${projectId}, gen_random_uuid(), f.defect_id, '{}'::jsonb, r.title, r.description, r.route, r.component, f.received_at, 'processed'
        from filler f join reports r on r.id = f.source_id
      `.execute(trx);
      await sql`
        insert into dedup_documents (report_id, project_id, norm, title_norm, received_at)
        select f.report_id, ${projectId}, d.norm, d.title_norm, f.received_at from filler f join dedup_documents d on d.report_id = f.source_id
      `.execute(trx);
      await sql`
        insert into dedup_postings (project_id, term, report_id, received_at, title_count, body_count)
        select ${projectId}, p.term, f.report_id, f.received_at, p.title_count, p.body_count from filler f join dedup_postings p on p.report_id = f.source_id and p.project_id = ${projectId}
      `.execute(trx);
      await sql`
        update dedup_terms t set document_frequency = t.document_frequency + c.count
        from (select p.term, count(*)::int as count from filler f join dedup_postings p on p.report_id = f.report_id group by p.term) c
        where t.project_id = ${projectId} and t.term = c.term
      `.execute(trx);
      await sql`update dedup_corpus set document_count = document_count + ${batch} where project_id = ${projectId}`.execute(trx);
    });
    stored += batch;
  }
  await sql`analyze`.execute(db);
  const after = await time();
  return { scaleReports: stored, scaleP50MsBefore: before, scaleP50MsAfter: after, scaleFactor: after / Math.max(before, 0.001) };
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
