import { type Kysely, sql } from 'kysely';

/**
 * Requirements (user stories, tracker keys) a project wants traced, so the traceability view can
 * list the ones no test covers yet. References found on test cases need no row here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table requirements (
      project_id uuid not null references projects(id) on delete cascade,
      -- a tracker key such as SHOP-12, or a URL
      key text not null,
      title text,
      url text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (project_id, key)
    );
    create index test_cases_requirements on test_cases using gin (requirements);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists test_cases_requirements; drop table if exists requirements`.execute(db);
}
