import { type Kysely, sql } from 'kysely';

/**
 * The span of every superseded `defect_states` interval (all but each defect's current one), in
 * a GiST index, so "which intervals hold the instant T" is an index lookup that returns just
 * those rows. The metrics at a past `asOf` take the defects unchanged since `asOf` from their
 * current facts (migration 20261204_0100_defect_current_facts) and only the defects changed after
 * it from their history: exactly the superseded intervals holding `asOf`
 * (server/metrics/metrics-service.ts, `stateAtAsOf`). A B-tree on (valid_to, valid_from) cannot
 * answer that without reading every interval that ends after `asOf`, and the planner, taking the
 * two bounds for independent, expected tens of thousands of rows where there were hundreds and
 * scanned the table; the range's own statistics (gathered for this expression) estimate it well.
 *
 * `tstzrange(valid_from, valid_to)` is the interval exactly ([from, to), the range's default
 * bounds); the replay writes one interval per instant that changed the state and ends it at the
 * next such instant, so `valid_from < valid_to` always holds and the range is never refused.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index defect_states_superseded_span on defect_states using gist (tstzrange(valid_from, valid_to)) where valid_to < 'infinity';
    analyze defect_states;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists defect_states_superseded_span`.execute(db);
}
