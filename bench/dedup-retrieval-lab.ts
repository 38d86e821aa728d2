/**
 * Lab for the retrieval statement (not part of the benchmark): bulk-loads a benchmark file into
 * the dedup index on PGlite (no engine, so it takes a minute instead of twenty), then times
 * variants of the retrieval SQL on the same queries by process CPU.
 *
 *   npx tsx bench/dedup-retrieval-lab.ts [--data ../shared/data/dedup/dev.jsonl] [--limit N]
 */
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { openDatabase } from '../server/db/database';
import { migrateToLatest } from '../server/db/migrate';
import { createLogger } from '../server/logger';
import { createProject } from '../server/projects/project-service';
import { chooseRetrievalTerms, defaultRetrievalLimits, findSimilarReports, loadStatistics, refreshNorms } from '../server/dedup/duplicate-index';
import { prepareReport, type ReportFeatures } from '../server/dedup/duplicate-score';
import { benchmarkFeatures, readBenchmarkFile, productRoute } from './dedup-data';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/dedup/dev.jsonl' },
    limit: { type: 'string' },
    queries: { type: 'string', default: '200' },
    /** Only the variants whose name matches this regular expression. */
    only: { type: 'string' },
  },
});

const records = readBenchmarkFile(values.data!, values.limit ? Number(values.limit) : undefined);
const logger = createLogger('silent');
const database = await openDatabase({ kind: 'pglite', dataDirectory: 'memory', lockOwner: 'lab' }, logger);
const { db } = database;
await migrateToLatest(db, logger);
const project = await createProject(db, { name: 'Lab', keyPrefix: 'LAB' });
const loadStarted = performance.now();
const batchSize = 500;
for (let start = 0; start < records.length; start += batchSize) {
  const batch = records.slice(start, start + batchSize);
  const ids = batch.map(() => ({ report: crypto.randomUUID(), defect: crypto.randomUUID() }));
  const features = batch.map(benchmarkFeatures);
  await db.transaction().execute(async (trx) => {
    await sql`
      insert into defects (id, project_id, number, key, title, origin, report_count, first_seen_at, last_seen_at, created_at)
      select id, ${project.id}, ${start} + n, 'LAB-' || (${start} + n), title, 'field', 1, at, at, at
      from unnest(${ids.map((id) => id.defect)}::uuid[], ${batch.map((record) => record.title)}::text[], ${batch.map((record) => record.created)}::timestamptz[])
        with ordinality as t(id, title, at, n)
    `.execute(trx);
    await sql`
      insert into reports (id, project_id, client_id, defect_id, payload, title, description, route, component, received_at, state)
      select id, ${project.id}, gen_random_uuid(), defect_id, '{}'::jsonb, title, description, route, component, at, 'processed'
      from unnest(${ids.map((id) => id.report)}::uuid[], ${ids.map((id) => id.defect)}::uuid[], ${batch.map((record) => record.title)}::text[],
                  ${batch.map((record) => record.description)}::text[], ${batch.map((record) => productRoute(record.product))}::text[],
                  ${batch.map((record) => record.component)}::text[], ${batch.map((record) => record.created)}::timestamptz[])
        as t(id, defect_id, title, description, route, component, at)
    `.execute(trx);
    await sql`
      insert into dedup_documents (report_id, project_id, norm, title_norm, received_at)
      select id, ${project.id}, 1, 1, at from unnest(${ids.map((id) => id.report)}::uuid[], ${batch.map((record) => record.created)}::timestamptz[]) as t(id, at)
    `.execute(trx);
    const postingReports: string[] = [], postingTerms: string[] = [], postingTimes: string[] = [], titleCounts: number[] = [], bodyCounts: number[] = [];
    features.forEach((feature, index) => {
      for (const term of new Set([...feature.titleTerms.keys(), ...feature.bodyTerms.keys()])) {
        postingReports.push(ids[index].report);
        postingTerms.push(term);
        postingTimes.push(batch[index].created);
        titleCounts.push(Math.min(32_767, feature.titleTerms.get(term) ?? 0));
        bodyCounts.push(Math.min(32_767, feature.bodyTerms.get(term) ?? 0));
      }
    });
    await sql`
      insert into dedup_postings (project_id, term, report_id, received_at, title_count, body_count)
      select ${project.id}, term, report_id, at, title_count, body_count
      from unnest(${postingTerms}::text[], ${postingReports}::uuid[], ${postingTimes}::timestamptz[], ${titleCounts}::int[], ${bodyCounts}::int[])
        as t(term, report_id, at, title_count, body_count)
    `.execute(trx);
    await sql`
      insert into dedup_terms (project_id, term, document_frequency)
      select ${project.id}, term, count(*) from unnest(${postingTerms}::text[]) as term group by term
      on conflict (project_id, term) do update set document_frequency = dedup_terms.document_frequency + excluded.document_frequency
    `.execute(trx);
  });
}
await sql`
  insert into dedup_corpus (project_id, document_count) values (${project.id}, ${records.length})
  on conflict (project_id) do update set document_count = excluded.document_count
`.execute(db);
await refreshNorms(db, project.id);
await sql`analyze`.execute(db);
const sizes = await sql<{ name: string; size: string }>`
  select c.relname as name, pg_size_pretty(pg_relation_size(c.oid)) as size from pg_class c
  where c.relname in ('dedup_postings', 'dedup_postings_lookup', 'dedup_terms', 'dedup_terms_pkey', 'dedup_documents', 'reports', 'defects')
`.execute(db);
console.log(sizes.rows.map((row) => `${row.name} ${row.size}`).join(', '));
console.log(`loaded ${records.length} reports in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);

const queryCount = Number(values.queries);
const sample = records.slice(-queryCount * 5).filter((_, index) => index % 5 === 0).map(benchmarkFeatures);

/** The engine's choice of retrieval terms (the query's highest weighted, not too common). */
async function retrievalTerms(features: ReportFeatures, count = defaultRetrievalLimits.queryTerms) {
  const statistics = await loadStatistics(db, project.id, [...new Set([...features.titleTerms.keys(), ...features.bodyTerms.keys()])]);
  return chooseRetrievalTerms(prepareReport(features, statistics), statistics, { ...defaultRetrievalLimits, queryTerms: count });
}
const termsOf = new Map<ReportFeatures, [string, number][]>();
for (const features of sample) termsOf.set(features, await retrievalTerms(features));
const terms20 = new Map<ReportFeatures, [string, number][]>();
for (const features of sample) terms20.set(features, await retrievalTerms(features, 20));

const engineRetrieval = (terms: [string, number][], explain: false | 'plan' | 'analyze' = false) => sql<Record<string, unknown>>`
  ${sql.raw(explain === 'analyze' ? 'explain (analyze, buffers off, timing off) ' : explain === 'plan' ? 'explain ' : '')}
  with hits as (
    select p.report_id, q.ordinal::int as ordinal, p.title_count, p.body_count, q.weight
    from unnest(${terms.map(([term]) => term)}::text[], ${terms.map(([, weight]) => weight)}::float8[]) with ordinality as q(term, weight, ordinal)
    cross join lateral (
      select report_id, title_count, body_count from dedup_postings
      where project_id = ${project.id} and term = q.term
      order by received_at desc
      limit 100
    ) p
  ), ranked as (
    select report_id, array_agg(ordinal) as ordinals, array_agg(title_count) as title_counts, array_agg(body_count) as body_counts
    from hits
    group by report_id
    order by sum(weight) desc, report_id
    limit 100
  )
  select ranked.report_id, ranked.ordinals, ranked.title_counts, ranked.body_counts,
         d.norm, d.title_norm, d.received_at, r.defect_id, r.route, r.component, r.release_id, r.error_signature, r.request_signature,
         case when false then d.embedding end as embedding
  from ranked
  join dedup_documents d on d.report_id = ranked.report_id
  join reports r on r.id = ranked.report_id
  where r.defect_id is not null
`.execute(db);

/** Ranks by summed weight first (no per-group arrays), then gathers the counts of the best 100 only. */
const twoStageRetrieval = (terms: [string, number][], explain = false) => sql<Record<string, unknown>>`
  ${sql.raw(explain ? 'explain (analyze, buffers off, timing off) ' : '')}
  with hits as materialized (
    select p.report_id, q.ordinal::int as ordinal, p.title_count, p.body_count, q.weight
    from unnest(${terms.map(([term]) => term)}::text[], ${terms.map(([, weight]) => weight)}::float8[]) with ordinality as q(term, weight, ordinal)
    cross join lateral (
      select report_id, title_count, body_count from dedup_postings
      where project_id = ${project.id} and term = q.term
      order by received_at desc
      limit 100
    ) p
  ), best as (
    select report_id from hits group by report_id order by sum(weight) desc, report_id limit 100
  ), ranked as (
    select hits.report_id, array_agg(ordinal) as ordinals, array_agg(title_count) as title_counts, array_agg(body_count) as body_counts
    from hits join best on best.report_id = hits.report_id
    group by hits.report_id
  )
  select ranked.report_id, ranked.ordinals, ranked.title_counts, ranked.body_counts,
         d.norm, d.title_norm, d.received_at, r.defect_id, r.route, r.component, r.release_id, r.error_signature, r.request_signature,
         case when false then d.embedding end as embedding
  from ranked
  join dedup_documents d on d.report_id = ranked.report_id
  join reports r on r.id = ranked.report_id
  where r.defect_id is not null
`.execute(db);

const rankOnly = (terms: [string, number][]) => sql`
  select p.report_id, sum(q.weight) as total
  from unnest(${terms.map(([term]) => term)}::text[], ${terms.map(([, weight]) => weight)}::float8[]) as q(term, weight)
  cross join lateral (
    select report_id from dedup_postings
    where project_id = ${project.id} and term = q.term
    order by received_at desc
    limit 100
  ) p
  group by p.report_id order by total desc, p.report_id limit 100
`.execute(db);
/** Two-stage, the counts packed as title·2^16 + body in one array and the ordinals in another. */
const packedRetrieval = (terms: [string, number][]) => sql<Record<string, unknown>>`
  with hits as materialized (
    select p.report_id, q.ordinal::int as ordinal, p.title_count::int * 65536 + p.body_count as counts, q.weight
    from unnest(${terms.map(([term]) => term)}::text[], ${terms.map(([, weight]) => weight)}::float8[]) with ordinality as q(term, weight, ordinal)
    cross join lateral (
      select report_id, title_count, body_count from dedup_postings
      where project_id = ${project.id} and term = q.term
      order by received_at desc
      limit 100
    ) p
  ), best as (
    select report_id from hits group by report_id order by sum(weight) desc, report_id limit 100
  ), ranked as (
    select hits.report_id, array_agg(ordinal) as ordinals, array_agg(counts) as counts
    from hits join best on best.report_id = hits.report_id
    group by hits.report_id
  )
  select ranked.report_id, ranked.ordinals, ranked.counts,
         d.norm, d.title_norm, d.received_at, r.defect_id, r.route, r.component, r.release_id, r.error_signature, r.request_signature
  from ranked
  join dedup_documents d on d.report_id = ranked.report_id
  join reports r on r.id = ranked.report_id
  where r.defect_id is not null
`.execute(db);
const hitRows = (terms: [string, number][]) => sql`
  select q.ordinal::int as ordinal, p.report_id, p.title_count, p.body_count from unnest(${terms.map(([term]) => term)}::text[]) with ordinality as q(term, ordinal)
  cross join lateral (
    select report_id, title_count, body_count from dedup_postings
    where project_id = ${project.id} and term = q.term
    order by received_at desc
    limit 100
  ) p
`.execute(db);
const hitsOnly = (terms: [string, number][]) => sql`
  select count(*) from unnest(${terms.map(([term]) => term)}::text[]) as q(term)
  cross join lateral (
    select report_id, title_count, body_count from dedup_postings
    where project_id = ${project.id} and term = q.term
    order by received_at desc
    limit 100
  ) p
`.execute(db);

type Variant = (features: (typeof sample)[number]) => Promise<unknown>;
const variants: Record<string, Variant> = {
  'engine retrieval statement, 30 terms': (features) => engineRetrieval(termsOf.get(features)!),
  'engine retrieval statement, 20 terms': (features) => engineRetrieval(terms20.get(features)!),
  'two-stage statement, 30 terms': (features) => twoStageRetrieval(termsOf.get(features)!),
  'two-stage statement, 20 terms': (features) => twoStageRetrieval(terms20.get(features)!),
  'findSimilarReports (engine)': (features) => findSimilarReports(db, project.id, features),
  'loadStatistics only': (features) => loadStatistics(db, project.id, [...new Set([...features.titleTerms.keys(), ...features.bodyTerms.keys()])]),
  'select 1': () => sql`select 1`.execute(db),
  'postings scans only (count), 30 terms': (features) => hitsOnly(termsOf.get(features)!),
  'postings rows to TypeScript, 30 terms': (features) => hitRows(termsOf.get(features)!),
  'rank only (ids and sums), 30 terms': (features) => rankOnly(termsOf.get(features)!),
  'packed two-stage, 30 terms': (features) => packedRetrieval(termsOf.get(features)!),
  'packed two-stage, 20 terms': (features) => packedRetrieval(terms20.get(features)!),
  'engine statement: plan only (explain)': (features) => engineRetrieval(termsOf.get(features)!, 'plan'),
};

async function time(name: string, variant: Variant) {
  for (const features of sample.slice(0, 20)) await variant(features); // warm
  const cpuBefore = process.cpuUsage();
  const began = performance.now();
  for (const features of sample) await variant(features);
  const cpu = process.cpuUsage(cpuBefore);
  console.log(`${name.padEnd(40)} ${(((cpu.user + cpu.system) / 1000) / sample.length).toFixed(2).padStart(7)} ms CPU ${((performance.now() - began) / sample.length).toFixed(2).padStart(7)} ms wall per query`);
}
const blocks = () => sql<{ name: string; heapRead: number; heapHit: number; indexRead: number; indexHit: number }>`
  select relname as name, heap_blks_read::int as heap_read, heap_blks_hit::int as heap_hit, idx_blks_read::int as index_read, idx_blks_hit::int as index_hit
  from pg_statio_user_tables where relname in ('dedup_postings', 'dedup_documents', 'reports', 'dedup_terms')
`.execute(db);
const blocksBefore = await blocks();
for (const [name, variant] of Object.entries(variants)) if (!values.only || new RegExp(values.only).test(name)) await time(name, variant);
console.log('buffer reads (not in shared_buffers) / hits during the timings:');
for (const row of (await blocks()).rows) {
  const before = blocksBefore.rows.find((other) => other.name === row.name)!;
  console.log(`  ${row.name}: heap ${row.heapRead - before.heapRead} read / ${row.heapHit - before.heapHit} hit, index ${row.indexRead - before.indexRead} read / ${row.indexHit - before.indexHit} hit`);
}
if (values.only) process.exit(0);
await sql`vacuum dedup_postings`.execute(db);
console.log('after vacuum dedup_postings (visibility map set: index-only scans without heap fetches):');
for (const [name, variant] of Object.entries(variants)) await time(name, variant);
await database.close();
