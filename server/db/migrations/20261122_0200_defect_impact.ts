import { type Kysely, sql } from 'kysely';

/**
 * An `impact` column for the inbox's default order, so the first page of a 100,000-defect
 * project is an index scan instead of a sort.
 *
 * Impact is "reports and affected users, weighted by recency": weight × e^-(age / 7 days) with
 * weight = 1 + reports + 2 × affected users and age measured from the last report. Taking the
 * logarithm, ln(weight) + lastSeen/τ − now/τ; the last term is the same for every defect at a
 * given moment, so ordering by ln(weight) + lastSeen/τ gives exactly the recency-weighted order
 * while depending on the row alone, which lets PostgreSQL store and index it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // extract(epoch …) of a timestamptz does not depend on the time zone; PostgreSQL still marks
  // extract as stable, so this wrapper states the immutability generated columns require.
  await sql`
    create function bugloop_epoch_seconds(value timestamptz) returns double precision
      language sql immutable parallel safe
      as $$ select extract(epoch from value)::double precision $$
  `.execute(db);
  await sql`
    alter table defects add column impact double precision generated always as (
      ln(1 + report_count + 2 * affected_users) + bugloop_epoch_seconds(last_seen_at) / 604800.0
    ) stored
  `.execute(db);
  await sql`create index defects_impact on defects (project_id, impact desc, id desc) where merged_into_id is null`.execute(db);
  // The component filter's list of values is read with a loose index scan over this index.
  await sql`create index defects_component on defects (project_id, component) where component is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists defects_component`.execute(db);
  await sql`drop index if exists defects_impact`.execute(db);
  await sql`alter table defects drop column if exists impact`.execute(db);
  await sql`drop function if exists bugloop_epoch_seconds(timestamptz)`.execute(db);
}
