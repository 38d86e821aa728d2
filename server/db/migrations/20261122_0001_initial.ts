import { type Kysely, sql } from 'kysely';

/**
 * The whole product's schema, laid down at once so later features extend it rather than rework it.
 * Never edit this file after it has landed: add a new migration instead.
 *
 * Conventions: snake_case, uuid keys for things people link to, bigint identity keys for
 * high-volume append-only rows (events, results, jobs), timestamptz everywhere, jsonb for
 * payloads whose shape belongs to the shared schema rather than to SQL.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table projects (
      id uuid primary key default gen_random_uuid(),
      name text not null,
      -- prefix of defect keys, e.g. WEB in WEB-42
      key_prefix text not null unique check (key_prefix ~ '^[A-Z][A-Z0-9]{0,9}$'),
      public_key text not null unique,
      allowed_origins text[] not null default '{}',
      settings jsonb not null default '{}',
      next_defect_number integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      archived_at timestamptz
    );

    create table users (
      id uuid primary key default gen_random_uuid(),
      email text not null,
      name text,
      password_hash text,
      is_instance_admin boolean not null default false,
      created_at timestamptz not null default now(),
      disabled_at timestamptz
    );
    create unique index users_email_unique on users (lower(email));

    create table project_members (
      project_id uuid not null references projects(id) on delete cascade,
      user_id uuid not null references users(id) on delete cascade,
      role text not null check (role in ('admin', 'triager', 'viewer')),
      created_at timestamptz not null default now(),
      primary key (project_id, user_id)
    );

    create table sessions (
      -- sha256 of the cookie value: a leaked table row cannot be replayed as a cookie
      token_hash text primary key,
      user_id uuid not null references users(id) on delete cascade,
      csrf_token text not null,
      created_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now(),
      expires_at timestamptz not null,
      user_agent text,
      ip text
    );
    create index sessions_user on sessions (user_id);

    create table api_tokens (
      id uuid primary key default gen_random_uuid(),
      project_id uuid not null references projects(id) on delete cascade,
      name text not null,
      token_hash text not null unique,
      -- the first characters, so a person can tell tokens apart in a list
      token_prefix text not null,
      scopes text[] not null,
      created_by uuid references users(id) on delete set null,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    );

    create table releases (
      id uuid primary key default gen_random_uuid(),
      project_id uuid not null references projects(id) on delete cascade,
      version text not null,
      -- parsed semantic version, null when the string is not semver; used for ordering
      semver_major integer,
      semver_minor integer,
      semver_patch integer,
      semver_prerelease text,
      released_at timestamptz,
      first_seen_at timestamptz not null default now(),
      unique (project_id, version)
    );

    create table component_rules (
      id uuid primary key default gen_random_uuid(),
      project_id uuid not null references projects(id) on delete cascade,
      position integer not null,
      pattern text not null,
      pattern_kind text not null check (pattern_kind in ('glob', 'regex')),
      component text not null,
      created_at timestamptz not null default now()
    );
    create index component_rules_project on component_rules (project_id, position);

    create table attachment_blobs (
      sha256 text primary key,
      content_type text not null,
      byte_size integer not null,
      width integer,
      height integer,
      data bytea not null,
      created_at timestamptz not null default now()
    );

    create table defects (
      id uuid primary key default gen_random_uuid(),
      project_id uuid not null references projects(id) on delete cascade,
      number integer not null,
      key text not null,
      title text not null,
      description text not null default '',
      status text not null default 'new'
        check (status in ('new', 'triaged', 'in_progress', 'resolved', 'verified', 'closed', 'wont_fix', 'reopened')),
      severity text check (severity in ('blocker', 'critical', 'major', 'minor', 'trivial')),
      priority text check (priority in ('urgent', 'high', 'medium', 'low', 'none')),
      assignee_id uuid references users(id) on delete set null,
      component text,
      route text,
      origin text not null check (origin in ('field', 'qa', 'ci')),
      found_in_release_id uuid references releases(id) on delete set null,
      fixed_in_release_id uuid references releases(id) on delete set null,
      error_signature text,
      request_signature text,
      report_count integer not null default 0,
      affected_users integer not null default 0,
      reopen_count integer not null default 0,
      first_seen_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now(),
      resolved_at timestamptz,
      merged_into_id uuid references defects(id) on delete set null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      search tsvector generated always as (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(description, '')), 'B')
      ) stored,
      unique (project_id, number),
      unique (project_id, key)
    );
    create index defects_inbox on defects (project_id, status, last_seen_at desc) where merged_into_id is null;
    create index defects_search on defects using gin (search);
    create index defects_error_signature on defects (project_id, error_signature) where error_signature is not null;
    create index defects_request_signature on defects (project_id, request_signature) where request_signature is not null;

    create table reports (
      id uuid primary key default gen_random_uuid(),
      project_id uuid not null references projects(id) on delete cascade,
      -- generated by the client, so a retried send is recognised and never stored twice
      client_id uuid not null,
      defect_id uuid references defects(id) on delete set null,
      origin text not null default 'field' check (origin in ('field', 'qa', 'ci')),
      state text not null default 'received' check (state in ('received', 'processed', 'failed')),
      received_at timestamptz not null default now(),
      processed_at timestamptz,
      -- the report exactly as accepted (after validation), so nothing a user sent is lost
      payload jsonb not null,
      title text,
      description text not null,
      expected text,
      steps text,
      reporter_email text,
      reporter_id text,
      url text,
      route text,
      component text,
      release_id uuid references releases(id) on delete set null,
      environment text,
      -- results of enrichment: browser/os/device, drafted title and steps, AI suggestions
      enrichment jsonb not null default '{}',
      error_signature text,
      request_signature text,
      -- top candidate defects with scores and signals, for "possible duplicates"
      candidates jsonb not null default '[]',
      embedding real[],
      client_ip text,
      user_agent text,
      reporter_token_hash text,
      search tsvector generated always as (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(description, '') || ' ' || coalesce(expected, '')), 'B')
      ) stored,
      unique (project_id, client_id)
    );
    create index reports_defect on reports (defect_id, received_at desc);
    create index reports_project_received on reports (project_id, received_at desc);
    create index reports_search on reports using gin (search);
    create index reports_reporter_token on reports (reporter_token_hash) where reporter_token_hash is not null;

    create table report_attachments (
      id uuid primary key default gen_random_uuid(),
      report_id uuid not null references reports(id) on delete cascade,
      sha256 text not null references attachment_blobs(sha256),
      kind text not null default 'screenshot',
      filename text,
      created_at timestamptz not null default now()
    );
    create index report_attachments_report on report_attachments (report_id);

    -- every status or field change, with actor and time; metrics are recomputed from this
    create table defect_events (
      id bigint generated always as identity primary key,
      project_id uuid not null references projects(id) on delete cascade,
      defect_id uuid not null references defects(id) on delete cascade,
      actor_user_id uuid references users(id) on delete set null,
      actor_kind text not null check (actor_kind in ('user', 'system', 'integration', 'api')),
      kind text not null,
      field text,
      old_value jsonb,
      new_value jsonb,
      created_at timestamptz not null default now()
    );
    create index defect_events_defect on defect_events (defect_id, created_at);
    create index defect_events_project on defect_events (project_id, created_at);

    create table defect_comments (
      id uuid primary key default gen_random_uuid(),
      defect_id uuid not null references defects(id) on delete cascade,
      author_id uuid references users(id) on delete set null,
      body text not null,
      created_at timestamptz not null default now()
    );
    create index defect_comments_defect on defect_comments (defect_id, created_at);

    -- pairs a triager marked "not a duplicate"; stored with the smaller id first
    create table defect_non_duplicates (
      project_id uuid not null references projects(id) on delete cascade,
      defect_a uuid not null references defects(id) on delete cascade,
      defect_b uuid not null references defects(id) on delete cascade,
      created_by uuid references users(id) on delete set null,
      created_at timestamptz not null default now(),
      primary key (defect_a, defect_b),
      check (defect_a < defect_b)
    );

    create table test_cases (
      id uuid primary key default gen_random_uuid(),
      project_id uuid not null references projects(id) on delete cascade,
      key text not null,
      title text not null,
      suite text,
      component text,
      tags text[] not null default '{}',
      priority text,
      kind text not null check (kind in ('manual', 'automated')),
      steps jsonb not null default '[]',
      expected_result text,
      -- normalized classname + name of an automated test, stable across runs
      identity text,
      requirements text[] not null default '{}',
      archived_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (project_id, key)
    );
    create unique index test_cases_identity on test_cases (project_id, identity) where identity is not null;

    create table test_case_revisions (
      id bigint generated always as identity primary key,
      test_case_id uuid not null references test_cases(id) on delete cascade,
      actor_user_id uuid references users(id) on delete set null,
      changes jsonb not null,
      created_at timestamptz not null default now()
    );

    create table test_runs (
      id uuid primary key default gen_random_uuid(),
      project_id uuid not null references projects(id) on delete cascade,
      release_id uuid references releases(id) on delete set null,
      build text,
      environment text,
      commit_sha text,
      source text,
      total integer not null default 0,
      passed integer not null default 0,
      failed integer not null default 0,
      skipped integer not null default 0,
      started_at timestamptz,
      created_at timestamptz not null default now()
    );
    create index test_runs_project_release on test_runs (project_id, release_id, created_at desc);

    create table test_results (
      id bigint generated always as identity primary key,
      test_run_id uuid not null references test_runs(id) on delete cascade,
      test_case_id uuid not null references test_cases(id) on delete cascade,
      status text not null check (status in ('passed', 'failed', 'error', 'skipped')),
      duration_ms integer,
      message text,
      output text,
      failure_signature text,
      is_flaky boolean not null default false,
      created_at timestamptz not null default now()
    );
    create index test_results_case on test_results (test_case_id, created_at desc);
    create index test_results_run on test_results (test_run_id);

    create table defect_test_links (
      id uuid primary key default gen_random_uuid(),
      defect_id uuid not null references defects(id) on delete cascade,
      test_case_id uuid not null references test_cases(id) on delete cascade,
      kind text not null check (kind in ('covers', 'failed_in', 'regression_test_added')),
      test_result_id bigint references test_results(id) on delete set null,
      created_by uuid references users(id) on delete set null,
      created_at timestamptz not null default now(),
      unique (defect_id, test_case_id, kind)
    );
    create index defect_test_links_case on defect_test_links (test_case_id);

    create table destinations (
      id uuid primary key default gen_random_uuid(),
      project_id uuid not null references projects(id) on delete cascade,
      kind text not null,
      name text not null,
      config jsonb not null default '{}',
      -- AES-256-GCM with the server's secret key; never returned by the API
      encrypted_secrets text,
      enabled boolean not null default true,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );

    create table routing_rules (
      id uuid primary key default gen_random_uuid(),
      project_id uuid not null references projects(id) on delete cascade,
      position integer not null,
      name text not null,
      triggers text[] not null,
      conditions jsonb not null default '{}',
      actions jsonb not null default '[]',
      enabled boolean not null default true,
      created_at timestamptz not null default now()
    );

    create table external_tickets (
      id uuid primary key default gen_random_uuid(),
      defect_id uuid not null references defects(id) on delete cascade,
      destination_id uuid not null references destinations(id) on delete cascade,
      destination_kind text not null,
      external_key text,
      url text,
      state text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      last_synced_at timestamptz,
      unique (defect_id, destination_id)
    );
    create index external_tickets_key on external_tickets (destination_kind, external_key);

    -- durable background work: written in the same transaction as the change that causes it
    create table jobs (
      id bigint generated always as identity primary key,
      kind text not null,
      project_id uuid references projects(id) on delete cascade,
      payload jsonb not null default '{}',
      state text not null default 'pending' check (state in ('pending', 'running', 'done', 'dead')),
      attempts integer not null default 0,
      max_attempts integer not null default 8,
      run_at timestamptz not null default now(),
      locked_at timestamptz,
      locked_by text,
      last_error text,
      idempotency_key text unique,
      created_at timestamptz not null default now(),
      finished_at timestamptz
    );
    create index jobs_ready on jobs (run_at, id) where state = 'pending';
    create index jobs_running on jobs (locked_at) where state = 'running';

    -- inbound webhook deliveries already applied, so repeats are dropped
    create table inbound_webhook_deliveries (
      source text not null,
      delivery_id text not null,
      received_at timestamptz not null default now(),
      primary key (source, delivery_id)
    );

    create table audit_log (
      id bigint generated always as identity primary key,
      project_id uuid references projects(id) on delete set null,
      actor_user_id uuid references users(id) on delete set null,
      action text not null,
      target text,
      detail jsonb not null default '{}',
      created_at timestamptz not null default now()
    );
  `.execute(db);

  // Trigram indexes speed up fuzzy title search and dedup retrieval; skipped where the
  // extension is missing (the capability check at start-up has already logged why).
  const trigram = await sql<{ present: boolean }>`
    select exists (select 1 from pg_extension where extname = 'pg_trgm') as present
  `.execute(db);
  if (trigram.rows[0]?.present) {
    await sql`create index defects_title_trigram on defects using gin (title gin_trgm_ops)`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'audit_log', 'inbound_webhook_deliveries', 'jobs', 'external_tickets', 'routing_rules', 'destinations',
    'defect_test_links', 'test_results', 'test_runs', 'test_case_revisions', 'test_cases',
    'defect_non_duplicates', 'defect_comments', 'defect_events', 'report_attachments', 'reports', 'defects',
    'attachment_blobs', 'component_rules', 'releases', 'api_tokens', 'sessions', 'project_members', 'users', 'projects',
  ]) {
    await sql`drop table if exists ${sql.table(table)} cascade`.execute(db);
  }
}
