import { type Kysely, sql } from 'kysely';

/**
 * Indexes for report processing under load (measured with bench:ingest, 100,000 defects):
 *
 * - Dedup looks up "the 20 most recently seen live defects with this error (request) signature".
 *   With (project, signature) alone, PostgreSQL read every defect sharing the signature and
 *   sorted them: 1,000 such defects cost 26–68 ms per report. With last_seen_at in the index the
 *   scan stops after 20 rows.
 * - Workers claim jobs per kind (report processing in batches, the other kinds one by one); an
 *   index per kind keeps each claim an ordered scan of that kind's ready jobs only.
 * - The jobs table churns (each job is inserted, claimed, finished): vacuum it sooner than the
 *   default 20 % of the table, so the partial "pending" indexes do not fill with dead entries
 *   that every claim walks through.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index defects_error_signature_recent on defects (project_id, error_signature, last_seen_at desc)
      where error_signature is not null and merged_into_id is null
  `.execute(db);
  await sql`
    create index defects_request_signature_recent on defects (project_id, request_signature, last_seen_at desc)
      where request_signature is not null and merged_into_id is null
  `.execute(db);
  await sql`create index jobs_ready_by_kind on jobs (kind, run_at, id) where state = 'pending'`.execute(db);
  await sql`alter table jobs set (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.05)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table jobs reset (autovacuum_vacuum_scale_factor, autovacuum_vacuum_insert_scale_factor)`.execute(db);
  await sql`drop index if exists jobs_ready_by_kind`.execute(db);
  await sql`drop index if exists defects_request_signature_recent`.execute(db);
  await sql`drop index if exists defects_error_signature_recent`.execute(db);
}
