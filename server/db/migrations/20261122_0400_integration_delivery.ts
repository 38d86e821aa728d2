import { type Kysely, sql } from 'kysely';

/**
 * Integrations: per-destination delivery limits (attempts before the dead-letter list, timeout
 * per remote call), the tracker's own id on external tickets (Linear webhooks name issues by
 * uuid, Jira by id and key), the remote state's name, and an index for the dead-letter list.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table destinations
      add column max_attempts integer not null default 8 check (max_attempts between 1 and 50),
      add column timeout_ms integer not null default 15000 check (timeout_ms between 100 and 120000);
    alter table external_tickets
      add column external_id text,
      add column state_name text;
    create index external_tickets_destination_external_id on external_tickets (destination_id, external_id);
    create index jobs_dead_by_project on jobs (project_id, finished_at desc) where state = 'dead';
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    drop index if exists jobs_dead_by_project;
    drop index if exists external_tickets_destination_external_id;
    alter table external_tickets drop column if exists state_name, drop column if exists external_id;
    alter table destinations drop column if exists timeout_ms, drop column if exists max_attempts;
  `.execute(db);
}
