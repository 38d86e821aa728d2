import { type Kysely, sql } from 'kysely';

/**
 * Report processing moves a defect's counts on by each report it attaches; "affected users" then
 * needs to know whether the report's sender is already among the defect's reporters. This index
 * answers that with one probe, where counting distinct reporters read all of the defect's
 * reports (a hot defect during an outage: tens of thousands per report). The expression is
 * `reporterIdentity` in server/defects/defect-service.ts, character for character.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index reports_defect_reporter on reports
      (defect_id, (coalesce(reporter_id, lower(reporter_email), reporter_token_hash, id::text)))
      where defect_id is not null
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists reports_defect_reporter`.execute(db);
}
