import { type Kysely, sql } from 'kysely';

/**
 * The defect page shows the newest "Send to…" per notifier (`notify:<destination>:<defect>:manual:<uuid>`),
 * looked up by key prefix. text_pattern_ops lets a `like 'prefix%'` use the index whatever the
 * database's collation; only notification jobs are indexed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index jobs_notify_key_prefix on jobs (idempotency_key text_pattern_ops) where kind = 'integration.notify'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists jobs_notify_key_prefix`.execute(db);
}
