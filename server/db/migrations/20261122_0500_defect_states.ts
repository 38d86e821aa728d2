import { type Kysely, sql } from 'kysely';

/**
 * `defect_states`: each defect's history replayed into intervals of constant state
 * ([valid_from, valid_to): status, severity, component, found-in release, origin, merged flag,
 * reopen count, resolution times). Metrics read "the state at time T" from here with one range
 * predicate instead of replaying a million events per request.
 *
 * The table is derived, never written by application code: a statement-level trigger on
 * `defect_events` recomputes the intervals of every defect an insert touched, from that
 * defect's whole history. So events inserted out of order (back-dated seeds, imports) and bulk
 * inserts (`insert … select`) are handled by the same set-based SQL.
 * `bugloop_rebuild_defect_states(project)` recomputes a whole project (e.g. after a restore).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table defect_states (
      defect_id uuid not null references defects(id) on delete cascade,
      project_id uuid not null references projects(id) on delete cascade,
      valid_from timestamptz not null,
      valid_to timestamptz not null default 'infinity',
      -- time of the defect's created event (its age and MTTR start here)
      created_at timestamptz not null,
      status text not null,
      is_done boolean not null,
      origin text not null,
      severity text,
      component text,
      found_in_release_id uuid,
      -- merged into another defect: not counted (the surviving defect is)
      merged boolean not null,
      reopen_count integer not null,
      -- start of the current done spell; null while open
      resolved_at timestamptz,
      first_resolved_at timestamptz,
      primary key (defect_id, valid_from)
    );
    create index defect_states_project_time on defect_states (project_id, valid_to, valid_from);
    create index defect_states_current on defect_states (project_id) where valid_to = 'infinity';
    -- entries into a done status, for "resolved per week"
    create index defect_states_resolutions on defect_states (project_id, valid_from) where is_done and resolved_at = valid_from;
  `.execute(db);

  await sql`
    create function bugloop_refresh_defect_states() returns trigger language plpgsql as $body$
    begin
      -- Serialize with other writers of the same defects (updateDefect locks the row too), so
      -- two transactions never interleave their delete + insert of one defect's intervals.
      perform 1 from defects where id in (select defect_id from new_events) order by id for update;
      delete from defect_states where defect_id in (select defect_id from new_events);
      ${sql.raw(statesInsertSql('e.defect_id in (select defect_id from new_events)'))};
      return null;
    end
    $body$;

    create trigger defect_events_refresh_states after insert on defect_events
      referencing new table as new_events for each statement execute function bugloop_refresh_defect_states();

    create function bugloop_rebuild_defect_states(target_project uuid) returns void language plpgsql as $body$
    begin
      delete from defect_states where project_id = target_project;
      ${sql.raw(statesInsertSql('e.project_id = target_project'))};
    end
    $body$;
  `.execute(db);

  // Histories written before this migration get their intervals now.
  await sql`select bugloop_rebuild_defect_states(id) from projects`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    drop trigger if exists defect_events_refresh_states on defect_events;
    drop function if exists bugloop_refresh_defect_states();
    drop function if exists bugloop_rebuild_defect_states(uuid);
    drop table if exists defect_states;
  `.execute(db);
}

/**
 * The replay, as one set-based insert for the defects matching `target` (a predicate on
 * `defect_events e`). Frozen into the migration as text on purpose: a later change to the
 * replay is a new migration replacing the functions, never an edit of this one.
 *
 * How a value is carried forward: every event that sets a field starts a new group
 * (a running count of setters); within a group only the setter holds a value, so
 * `max(value) over (group)` is the value in force, including an explicit null.
 * The value a field had at creation is the created event's, else the old value of the
 * field's first change event, else the defect's current column.
 */
function statesInsertSql(target: string): string {
  const done = `('resolved', 'verified', 'closed', 'wont_fix')`;
  return `
    insert into defect_states (defect_id, project_id, valid_from, valid_to, created_at, status, is_done, origin,
      severity, component, found_in_release_id, merged, reopen_count, resolved_at, first_resolved_at)
    with events as (
      select e.id, e.defect_id, e.project_id, e.created_at as at, e.kind, e.field, e.old_value, e.new_value,
             d.status as current_status, d.severity as current_severity, d.component as current_component,
             d.found_in_release_id as current_release, d.origin as current_origin, d.merged_into_id
      from defect_events e join defects d on d.id = e.defect_id
      where ${target}
    ),
    first_change as (
      select defect_id,
             (array_agg(old_value) filter (where field = 'status'))[1] as status,
             (array_agg(old_value) filter (where field = 'severity'))[1] as severity,
             (array_agg(old_value) filter (where field = 'component'))[1] as component,
             (array_agg(old_value) filter (where field = 'foundInReleaseId'))[1] as release,
             (array_agg(old_value) filter (where field = 'origin'))[1] as origin
      from (
        select distinct on (defect_id, field) defect_id, field, old_value
        from events where kind in ('status_changed', 'field_changed')
        order by defect_id, field, at, id
      ) firsts
      group by defect_id
    ),
    setters as (
      select ev.id, ev.defect_id, ev.project_id, ev.at, ev.kind,
        ev.kind in ('created', 'status_changed') as sets_status,
        case when ev.kind = 'created' then coalesce(ev.new_value->'status', fc.status, to_jsonb(ev.current_status)) #>> '{}'
             when ev.kind = 'status_changed' then ev.new_value #>> '{}' end as status_value,
        (ev.kind = 'created' or (ev.kind = 'field_changed' and ev.field = 'severity')) as sets_severity,
        case when ev.kind = 'created' then coalesce(ev.new_value->'severity', fc.severity, to_jsonb(ev.current_severity)) #>> '{}'
             when ev.field = 'severity' then ev.new_value #>> '{}' end as severity_value,
        (ev.kind = 'created' or (ev.kind = 'field_changed' and ev.field = 'component')) as sets_component,
        case when ev.kind = 'created' then coalesce(ev.new_value->'component', fc.component, to_jsonb(ev.current_component)) #>> '{}'
             when ev.field = 'component' then ev.new_value #>> '{}' end as component_value,
        (ev.kind = 'created' or (ev.kind = 'field_changed' and ev.field = 'foundInReleaseId')) as sets_release,
        case when ev.kind = 'created' then coalesce(ev.new_value->'foundInReleaseId', fc.release, to_jsonb(ev.current_release)) #>> '{}'
             when ev.field = 'foundInReleaseId' then ev.new_value #>> '{}' end as release_value,
        (ev.kind = 'created' or (ev.kind = 'field_changed' and ev.field = 'origin')) as sets_origin,
        case when ev.kind = 'created' then coalesce(ev.new_value->'origin', fc.origin, to_jsonb(ev.current_origin)) #>> '{}'
             when ev.field = 'origin' then ev.new_value #>> '{}' end as origin_value,
        ev.kind in ('created', 'merged', 'unmerged') as sets_merged,
        -- a defect merged without a merged event (older data) counts as merged from its creation
        case when ev.kind = 'merged' then true when ev.kind = 'unmerged' then false
             else ev.merged_into_id is not null and not bool_or(ev.kind = 'merged') over (partition by ev.defect_id) end as merged_value
      from events ev left join first_change fc on fc.defect_id = ev.defect_id
    ),
    groups as (
      select s.*,
        count(*) filter (where sets_status) over running as status_group,
        count(*) filter (where sets_severity) over running as severity_group,
        count(*) filter (where sets_component) over running as component_group,
        count(*) filter (where sets_release) over running as release_group,
        count(*) filter (where sets_origin) over running as origin_group,
        count(*) filter (where sets_merged) over running as merged_group,
        coalesce(min(at) filter (where kind = 'created') over (partition by defect_id), min(at) over (partition by defect_id)) as defect_created_at
      from setters s
      window running as (partition by defect_id order by at, id)
    ),
    filled as (
      select id, defect_id, project_id, at, defect_created_at,
        max(status_value) over (partition by defect_id, status_group) as status,
        max(severity_value) over (partition by defect_id, severity_group) as severity,
        max(component_value) over (partition by defect_id, component_group) as component,
        max(release_value) over (partition by defect_id, release_group) as release,
        max(origin_value) over (partition by defect_id, origin_group) as origin,
        coalesce(bool_or(merged_value) over (partition by defect_id, merged_group), false) as merged
      from groups
    ),
    transitions as (
      select f.*, f.status in ${done} as is_done,
        coalesce(lag(f.status in ${done}) over (partition by defect_id order by at, id), false) as was_done
      from filled f where f.status is not null
    ),
    running_state as (
      select t.*,
        count(*) filter (where was_done and not is_done) over running as reopen_count,
        max(at) filter (where is_done and not was_done) over running as last_done_entry,
        min(at) filter (where is_done and not was_done) over running as first_resolved_at
      from transitions t
      window running as (partition by defect_id order by at, id)
    ),
    keyed as (
      select r.*, case when is_done then last_done_entry end as resolved_at,
        concat_ws('|', status, severity, component, release, origin, merged, reopen_count, last_done_entry) as state_key,
        lead(at) over (partition by defect_id order by at, id) as next_at
      from running_state r
    ),
    changes as (
      -- keep an event only when it changed the state and no later event shares its instant
      select k.*, lag(state_key) over (partition by defect_id order by at, id) as previous_key
      from keyed k where next_at is null or next_at > at
    )
    select defect_id, project_id, at,
      coalesce(lead(at) over (partition by defect_id order by at, id), 'infinity'),
      defect_created_at, status, is_done, coalesce(origin, 'field'), severity, component, release::uuid, merged,
      reopen_count, resolved_at, first_resolved_at
    from changes
    where previous_key is null or previous_key <> state_key`;
}
