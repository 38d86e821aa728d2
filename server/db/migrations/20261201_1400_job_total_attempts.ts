import { type Kysely, sql } from 'kysely';

/**
 * `jobs.total_attempts`: how many times a job has ever been started. `attempts` counts towards
 * `max_attempts` and is reset when a person retries a dead job; `total_attempts` never is, so a
 * delivery knows whether an earlier attempt may already have had its effect remotely (a post
 * that timed out after Slack stored it, a crash after the tracker answered) and must look before
 * acting again.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table jobs add column total_attempts integer not null default 0;
    update jobs set total_attempts = attempts;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table jobs drop column if exists total_attempts`.execute(db);
}
