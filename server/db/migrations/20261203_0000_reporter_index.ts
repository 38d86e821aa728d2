import { type Kysely, sql } from 'kysely';

/**
 * Report processing moves a defect's counts on by the reports a batch attaches to it; "affected
 * users" then needs to know whether a sender is already among the defect's reporters. This index
 * answers it by the sender: the reports they sent (a handful, whatever the defect's size), then
 * whether one is on that defect. Counting distinct reporters read all of the defect's reports: a
 * hot defect during an outage has tens of thousands. The expression is `reporterIdentity` in
 * server/defects/defect-service.ts, character for character.
 *
 * Led by the sender, and looked up by the sender alone (`AssignmentBatch.flush` fences the lookup
 * with `offset 0`): with the defect in the condition, the planner's generic estimate ("a defect has
 * about one report") preferred `reports_defect` and walked the hot defect's reports for every
 * sender (bench:ingest after seeding 100,000 defects: 42 reports/s). Not partial: the anonymous
 * reports (each its own user, never looked up) are in it too, since the planner does not prove a
 * partial predicate from a lookup value coming from the outer query.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index reports_reporter on reports
      ((coalesce(reporter_id, lower(reporter_email), reporter_token_hash, id::text)), defect_id)
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists reports_reporter`.execute(db);
}
