import { type Kysely, sql } from 'kysely';

/**
 * The audit log of administrative actions gets what an investigation needs beside who/what/target:
 * the kind of actor (a person, the CLI, the system), the request id the HTTP answer carried, and
 * before/after summaries (never secrets). Indexes serve the newest-first pages per project and
 * for the whole instance.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table audit_log
      add column actor_kind text not null default 'user' check (actor_kind in ('user', 'cli', 'system')),
      add column request_id text,
      add column before jsonb,
      add column after jsonb;
    create index audit_log_project_newest on audit_log (project_id, id desc);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    drop index if exists audit_log_project_newest;
    alter table audit_log drop column if exists after, drop column if exists before, drop column if exists request_id, drop column if exists actor_kind;
  `.execute(db);
}
