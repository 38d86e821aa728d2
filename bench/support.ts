import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import type { Database } from '../server/db/schema';
import type { Report } from '../shared/report-schema';
import { termFrequencies, textTerms } from '../server/dedup/text-terms';

/**
 * Benchmarks run on PostgreSQL when one is reachable: DATABASE_URL, else the local server.
 * Each run gets a fresh database that is dropped afterwards.
 */
export async function createBenchDatabase(label: string): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const base = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `bugloop_bench_${label}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

/**
 * The benchmark's own connections. An idle one may be ended by the server while the benchmark
 * shuts down (the database is dropped with FORCE); that must not crash the run after its figures.
 */
export function benchPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on('error', () => {});
  return pool;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Prints an aligned table of rows (first row is the header). */
export function printTable(rows: (string | number)[][]): void {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)));
  for (const [index, row] of rows.entries()) {
    console.log(row.map((cell, column) => String(cell).padEnd(widths[column])).join('  '));
    if (index === 0) console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  }
}

/**
 * CPU time (ms) used so far by each PostgreSQL backend serving one database (from /proc), so a
 * benchmark can report the database's share of each report, which the load of other processes
 * on a shared machine inflates far less than wall-clock figures. Subtract with `cpuDelta`.
 */
export async function postgresCpuMillis(db: Kysely<Database>, databaseName: string): Promise<Map<number, number>> {
  const { rows } = await sql<{ pid: number }>`select pid from pg_stat_activity where datname = ${databaseName} and pid <> pg_backend_pid()`.execute(db);
  const ticksPerSecond = 100;
  const byBackend = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      // Fields 14 and 15 of /proc/PID/stat (after the parenthesised name) are user and system time.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      byBackend.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond);
    } catch {
      // the backend ended meanwhile
    }
  }
  return byBackend;
}

/** CPU ms spent between two `postgresCpuMillis` readings by backends alive at the end (new ones count whole). */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, millis] of after) total += millis - (before.get(pid) ?? 0);
  return total;
}

/** The load average of the last minute, for every timing figure (the machine is shared). */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
}

/**
 * Writes `count` defects for a project the way processing leaves them: each with one processed
 * report, its history event and its place in the dedup index (postings from the real
 * `textTerms`), so that a benchmark running next meets a realistic database of that size.
 * Titles come from 400 templates (areas × symptoms) plus a number; a tenth of the reports
 * share one of 50 error signatures. One SQL statement per table, so 100,000 take seconds.
 */
export async function seedProcessedDefects(db: Kysely<Database>, projectId: string, count: number): Promise<void> {
  const areas = ['checkout', 'search', 'login', 'profile', 'cart', 'payment', 'invoice', 'upload', 'settings', 'dashboard', 'export', 'signup', 'password', 'avatar', 'coupon', 'shipping', 'wishlist', 'reviews', 'orders', 'notifications'];
  const symptoms = ['button does nothing', 'page stays blank', 'spinner never stops', 'total shows wrong amount', 'error message appears', 'form loses input', 'layout overlaps footer', 'list is empty', 'redirect loops', 'upload times out', 'date shown in wrong timezone', 'images do not load', 'scroll jumps to top', 'filter ignores selection', 'dialog cannot be closed', 'text is cut off', 'sorting is reversed', 'count is off by one', 'link opens wrong page', 'save fails silently'];
  const templates = areas.flatMap((area) => symptoms.map((symptom) => `${area} ${symptom}`));
  const templateTerms = templates.map((title) => [...termFrequencies(textTerms(title)).keys()].sort());
  await db.transaction().execute(async (trx) => {
    await sql`
      create temporary table seed_templates on commit drop as
      select (ordinal - 1)::int as position, title, string_to_array(terms, ' ') as terms
      from unnest(${templates}::text[], ${templateTerms.map((terms) => terms.join(' '))}::text[]) with ordinality as t(title, terms, ordinal)
    `.execute(trx);
    const first = Number((await sql<{ next: number }>`select next_defect_number as next from projects where id = ${projectId}`.execute(trx)).rows[0].next);
    await sql`update projects set next_defect_number = next_defect_number + ${count} where id = ${projectId}`.execute(trx);
    await sql`
      create temporary table seed_rows on commit drop as
      select n, gen_random_uuid() as defect_id, gen_random_uuid() as report_id, t.title || ' ' || n as title, t.terms,
             now() - (n || ' minutes')::interval as seen_at,
             case when n % 10 = 0 then md5('seeded-error-' || (n % 50)) end as error_signature
      from generate_series(1, ${count}) as n join seed_templates t on t.position = n % ${templates.length}
    `.execute(trx);
    await sql`
      insert into defects (id, project_id, number, key, title, description, origin, status, error_signature, report_count, affected_users,
                           first_seen_at, last_seen_at, created_at)
      select defect_id, ${projectId}, ${first} + n - 1, p.key_prefix || '-' || (${first} + n - 1), title, 'Seeded description of ' || title,
             'field', (array['new','triaged','in_progress','resolved','closed'])[1 + n % 5], error_signature, 1, 1, seen_at, seen_at, seen_at
      from seed_rows cross join (select key_prefix from projects where id = ${projectId}) p
    `.execute(trx);
    // The statement-level triggers below (report tallies, defect_states) join their transition
    // tables to defects; planned with the stats of a near-empty table, the defect_states replay
    // once ran 17 minutes instead of seconds. ANALYZE in this transaction sees the new rows.
    await sql`analyze defects`.execute(trx);
    await sql`
      insert into reports (id, project_id, client_id, defect_id, state, received_at, processed_at, payload, title, description, error_signature, component)
      select report_id, ${projectId}, gen_random_uuid(), defect_id, 'processed', seen_at, seen_at, jsonb_build_object('description', title), title, title,
             error_signature, 'Unassigned'
      from seed_rows
    `.execute(trx);
    await sql`analyze reports`.execute(trx);
    await sql`
      insert into defect_events (project_id, defect_id, actor_kind, kind, new_value, created_at)
      select ${projectId}, defect_id, 'system', 'created', jsonb_build_object('status', 'new', 'origin', 'field'), seen_at from seed_rows
    `.execute(trx);
    await sql`
      insert into dedup_documents (report_id, project_id, norm, title_norm, received_at)
      select report_id, ${projectId}, sqrt(cardinality(terms)), sqrt(cardinality(terms)), seen_at from seed_rows
    `.execute(trx);
    await sql`
      insert into dedup_postings (project_id, term, report_id, received_at, title_count, body_count)
      select ${projectId}, term, report_id, seen_at, 1, 1 from seed_rows cross join unnest(terms) as term
    `.execute(trx);
    await sql`
      insert into dedup_terms (project_id, term, document_frequency)
      select ${projectId}, term, count(*) from seed_rows cross join unnest(terms) as term group by term
      on conflict (project_id, term) do update set document_frequency = dedup_terms.document_frequency + excluded.document_frequency
    `.execute(trx);
    await sql`
      insert into dedup_corpus (project_id, document_count) values (${projectId}, ${count})
      on conflict (project_id) do update set document_count = dedup_corpus.document_count + excluded.document_count
    `.execute(trx);
  });
  for (const table of ['defects', 'reports', 'defect_events', 'dedup_documents', 'dedup_postings', 'dedup_terms']) await sql`analyze ${sql.table(table)}`.execute(db);
}

const soakAreas = ['checkout', 'search', 'login', 'cart', 'profile', 'upload', 'settings', 'orders'];
const soakSymptoms = ['button does nothing', 'page stays blank', 'total is wrong', 'spinner never stops', 'error after saving'];

/**
 * bench:soak's report number `sent`: 40 kinds of problem (half with an error, a quarter with a
 * failed request), so dedup merges some and opens defects for others. The count in the text runs
 * to 997 (a prime), so one exact text comes back every 39,880 reports: the spam guard refuses a
 * text sent more than 20 times in 10 minutes, and with a count to 97 (every 3,880 reports) the
 * 10-minute soak hit it 42,680 times (429s, not errors of the server).
 */
export function soakReport(sent: number): Report {
  const area = soakAreas[sent % soakAreas.length];
  const symptom = soakSymptoms[Math.floor(sent / soakAreas.length) % soakSymptoms.length];
  return {
    id: randomUUID(),
    description: `On the ${area} page the ${symptom} (seen ${sent % 997} times today)`,
    url: `https://shop.example.com/${area}/${sent % 1000}`,
    release: `1.${sent % 3}.0`,
    console: sent % 2 === 0 ? [{ level: 'error', message: `TypeError: ${area} is undefined`, time: Date.now(), source: 'uncaught' }] : [],
    network: [{ method: 'POST', url: `https://shop.example.com/api/${area}`, status: sent % 4 === 0 ? 500 : 200, durationMs: 120, time: Date.now() }],
    breadcrumbs: [{ kind: 'click', time: Date.now(), selector: `button.${area}`, text: 'Continue' }],
  };
}
