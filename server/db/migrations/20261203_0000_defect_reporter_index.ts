import { type Kysely, sql } from 'kysely';

/**
 * Report processing moves a defect's counts on by each report it attaches; "affected users" then
 * needs to know whether the report's sender is already among the defect's reporters. This index
 * answers that with one probe, where counting distinct reporters read all of the defect's
 * reports (a hot defect during an outage: tens of thousands per report). The expression is
 * `reporterIdentity` in server/defects/defect-service.ts, character for character. Not partial
 * (`where defect_id is not null` would be natural): the lookup's `defect_id = <outer row>` is a
 * parameterized condition, from which the planner does not prove the predicate, and it fell back
 * to reading the defect's reports (seen with EXPLAIN, bench/processing-lab.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index reports_defect_reporter on reports
      (defect_id, (coalesce(reporter_id, lower(reporter_email), reporter_token_hash, id::text)))
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists reports_defect_reporter`.execute(db);
}
