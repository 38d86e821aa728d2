import { type Kysely, sql } from 'kysely';

/**
 * The current state of every defect, kept by the database in narrow tables, so the metrics
 * "as of now" (the default and by far the most common request) no longer pass over every
 * defect's history rows several times:
 *
 * - `defect_current_facts`: one row per defect, a copy of its current `defect_states` interval
 *   (`valid_to = 'infinity'`) plus `repair_us` (created → last entry into a repaired status, in
 *   microseconds, for MTTR). Narrow and dense, with partial indexes over the counted (not merged)
 *   defects: the metrics read subsets (a release, a component, a time range) through them and
 *   find MTTR medians by position in an index instead of sorting every resolution time.
 * - `defect_current_groups`: counts and sums of those facts per (release, component, origin,
 *   severity, status), merged defects left out, with each defect's report tally
 *   (`defect_report_tallies`) folded in: the snapshot counts (leakage, density, reopen rate, MTTR
 *   count and total, reports per defect) are a read of about a thousand rows.
 * - `defect_current_repair_hours` (repaired defects per whole hour of repair time, with bounds of
 *   their exact times) and `defect_current_resolutions` (entries into done per UTC day): MTTR
 *   medians and weekly throughput without reading every defect.
 *
 * Exact by construction, whatever writes the history:
 * - Both follow `defect_states`, which is itself derived (its refresh and
 *   `bugloop_rebuild_defect_states` delete a defect's intervals and insert them again): a
 *   statement trigger on its deletes takes the deleted current rows' contributions out of the
 *   groups and marks their facts stale; one on its inserts writes the new current rows' facts
 *   (the same row, updated, so a concurrent reader locking it follows the change) and adds their
 *   contributions. Single events, back-dated seeds, bulk `insert … select`, merges, moved
 *   releases and project rebuilds all pass through these two statements.
 * - Every kept sum is of contributions computed from one facts row alone (its report count and
 *   done-entry days are kept in it), so what is added is exactly what is later subtracted; a facts
 *   row deleted by a cascade (defect or project deleted) takes its share out by its own trigger.
 * - A tally change (report added, moved, deleted) adds its difference to the defect's facts and
 *   to their group. The two paths never race on one defect: the states refresh locks the
 *   defect row `for update` first, and a report that names the defect holds `for key share` on it
 *   (its foreign key check) until it commits, so one of them waits for the other, and every
 *   statement of these trigger functions reads the other's committed rows.
 *   (`bugloop_rebuild_defect_states` takes no defect locks, as before: rebuild a quiet project.)
 * - Group rows are upserted in key order within each statement. They are shared by the defects
 *   of one group, so two transactions changing defects of the same group wait for each other's
 *   commit at that row (the cost of counts kept exact instead of recounted).
 * Rows whose counts fall to zero stay (readers skip them).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table defect_current_facts (
      defect_id uuid primary key references defects(id) on delete cascade,
      project_id uuid not null references projects(id) on delete cascade,
      -- the defect's number (lists are ordered by it), copied: it never changes
      number integer not null,
      -- the defect's intervals were deleted and not (yet) inserted again: not counted
      stale boolean not null default false,
      valid_from timestamptz not null,
      created_at timestamptz not null,
      status text not null,
      is_done boolean not null,
      origin text not null,
      severity text,
      component text,
      release_id uuid,
      merged boolean not null,
      reopen_count integer not null,
      resolved_at timestamptz,
      first_resolved_at timestamptz,
      -- microseconds from creation to the last entry into resolved/verified/closed; null otherwise
      repair_us bigint,
      -- UTC days of every entry into a done status in the defect's history (one per entry)
      resolution_days date[] not null,
      -- the reports of its tally (same project) as counted in its group, and the tally's bounds of
      -- their received_at (only ever widened, as the tally's: every report lies within them)
      reports integer not null,
      first_received_at timestamptz,
      last_received_at timestamptz
    );
    -- the newest state change of a project: "as of now" holds when asOf is not before it
    create index defect_current_facts_changed on defect_current_facts (project_id, valid_from) where not stale;
    -- the earliest creation or first resolution: a window starting before it holds every one
    create index defect_current_facts_earliest on defect_current_facts (project_id, (least(created_at, first_resolved_at))) where not stale and not merged;
    create index defect_current_facts_first_resolved on defect_current_facts (project_id, first_resolved_at) where not stale and not merged;
    create index defect_current_facts_resolved on defect_current_facts (project_id, resolved_at) where not stale and not merged and repair_us is not null;
    create index defect_current_facts_created on defect_current_facts (project_id, created_at) where not stale and not merged;
    create index defect_current_facts_open on defect_current_facts (project_id, created_at) where not stale and not merged and not is_done;
    create index defect_current_facts_release on defect_current_facts (project_id, release_id) where not stale and not merged;
    create index defect_current_facts_component on defect_current_facts (project_id, component) where not stale and not merged;
    create index defect_current_facts_repair on defect_current_facts (project_id, repair_us) where not stale and not merged and repair_us is not null;
    create index defect_current_facts_repair_severity on defect_current_facts (project_id, severity, repair_us) where not stale and not merged and repair_us is not null;
    create index defect_current_facts_repair_component on defect_current_facts (project_id, component, repair_us) where not stale and not merged and repair_us is not null;

    create table defect_current_groups (
      project_id uuid not null references projects(id) on delete cascade,
      release_id uuid,
      component text,
      origin text not null,
      severity text,
      status text not null,
      is_done boolean not null,
      defects bigint not null,
      -- resolved at least once (first_resolved_at set), of those reopened, and their reopens
      resolved bigint not null,
      reopened bigint not null,
      reopens bigint not null,
      repair_us numeric not null,
      -- the defects' report tallies: reports, and defects with at least one report
      reports bigint not null,
      reported_defects bigint not null,
      constraint defect_current_groups_key unique nulls not distinct (project_id, release_id, component, origin, severity, status)
    );

    -- MTTR medians: repaired counted defects per whole hour of repair time, with bounds of their
    -- exact times that only widen (so equal bounds mean every time in the hour is that one)
    create table defect_current_repair_hours (
      project_id uuid not null references projects(id) on delete cascade,
      severity text,
      component text,
      hour bigint not null,
      defects bigint not null,
      low_us bigint not null,
      high_us bigint not null,
      constraint defect_current_repair_hours_key unique nulls not distinct (project_id, severity, component, hour)
    );

    -- throughput: entries into a done status per UTC day, of counted defects, by their current
    -- release and component (a moved defect's entries move with it)
    create table defect_current_resolutions (
      project_id uuid not null references projects(id) on delete cascade,
      release_id uuid,
      component text,
      day date not null,
      entries bigint not null,
      constraint defect_current_resolutions_key unique nulls not distinct (project_id, release_id, component, day)
    );
  `.execute(db);

  const repaired = `('resolved', 'verified', 'closed')`;
  // Every kept count is a sum of contributions of counted facts rows (not stale, not merged), each
  // computed from the row alone, so what is added is exactly what is later subtracted. \`rows\` is
  // a query of facts rows; rows of a project being deleted are skipped (its counts go with it).
  const counted = (rows: string) => `(select * from (${rows}) r where not r.stale and not r.merged and exists (select 1 from projects p where p.id = r.project_id))`;
  const apply = (rows: string, sign: '+' | '-') => `
    insert into defect_current_groups as g (project_id, release_id, component, origin, severity, status, is_done,
      defects, resolved, reopened, reopens, repair_us, reports, reported_defects)
    select project_id, release_id, component, origin, severity, status, is_done, ${sign}count(*),
      ${sign}count(*) filter (where first_resolved_at is not null),
      ${sign}count(*) filter (where first_resolved_at is not null and reopen_count > 0),
      ${sign}coalesce(sum(reopen_count) filter (where first_resolved_at is not null), 0),
      ${sign}coalesce(sum(repair_us), 0), ${sign}sum(reports), ${sign}count(*) filter (where reports > 0)
    from ${counted(rows)} c
    group by project_id, release_id, component, origin, severity, status, is_done
    order by project_id, release_id, component, origin, severity, status
    on conflict on constraint defect_current_groups_key do update set
      defects = g.defects + excluded.defects, resolved = g.resolved + excluded.resolved, reopened = g.reopened + excluded.reopened,
      reopens = g.reopens + excluded.reopens, repair_us = g.repair_us + excluded.repair_us,
      reports = g.reports + excluded.reports, reported_defects = g.reported_defects + excluded.reported_defects
    ;;
    insert into defect_current_repair_hours as h (project_id, severity, component, hour, defects, low_us, high_us)
    select project_id, severity, component, floor(repair_us / 3600000000.0)::bigint, ${sign}count(*), min(repair_us), max(repair_us)
    from ${counted(rows)} c where repair_us is not null
    group by 1, 2, 3, 4 order by 1, 2, 3, 4
    on conflict on constraint defect_current_repair_hours_key do update set defects = h.defects + excluded.defects
      ${sign === '+' ? ', low_us = least(h.low_us, excluded.low_us), high_us = greatest(h.high_us, excluded.high_us)' : ''}
    ;;
    insert into defect_current_resolutions as r (project_id, release_id, component, day, entries)
    select project_id, release_id, component, day, ${sign}count(*)
    from ${counted(rows)} c cross join unnest(c.resolution_days) day
    group by 1, 2, 3, 4 order by 1, 2, 3, 4
    on conflict on constraint defect_current_resolutions_key do update set entries = r.entries + excluded.entries`;
  // How the trigger functions run their statements, by the size of the transition table. A
  // processing batch or a triage action changes a few defects: plain statements, planned once per
  // connection and cached (running them through EXECUTE instead, planned afresh each time, cost
  // about 1 ms of PostgreSQL CPU per processed report, bench/processing-lab.ts), with
  // enable_seqscan off (the functions' SET clause) so a plan cached while defect_current_facts was
  // nearly empty (a fresh server) still probes it by index instead of scanning it once per changed
  // defect in every later batch. A bulk change (a seed, a rebuild, a large import) runs them
  // through EXECUTE with sequential scans allowed again, planned for the tables of the moment: a
  // cached plan there ran a 10k-defect seed batch for over a minute, and with index probes forced
  // a 1M-event seed did not finish in 10 minutes.
  const adaptive = (statements: string, table: string) => `
      if (select count(*) from ${table}) > 1000 then
        perform set_config('enable_seqscan', 'on', true);
        ${statements.split(';;').map((statement) => `execute $statement$ ${statement} $statement$`).join(';\n')};
      else
        ${statements.split(';;').join(';\n')};
      end if`;
  const plain = (statements: string) => statements.split(';;').join(';');
  // facts rows of the defects whose current interval is in the transition table \`states\`
  const factsOf = (states: string) => `select * from defect_current_facts where defect_id in (select defect_id from ${states} where valid_to = 'infinity')`;
  // the facts of the current rows in \`states\` (all intervals of each such defect are in it)
  const newFacts = (states: string) => `
    select n.defect_id, n.project_id, d.number, false, n.valid_from, n.created_at, n.status, n.is_done, n.origin, n.severity,
      n.component, n.found_in_release_id, n.merged, n.reopen_count, n.resolved_at, n.first_resolved_at,
      case when n.status in ${repaired} then (extract(epoch from n.resolved_at - n.created_at) * 1000000)::bigint end,
      coalesce(entries.days, '{}'), coalesce(t.reports, 0), t.first_received_at, t.last_received_at
    from ${states} n join defects d on d.id = n.defect_id
    left join (
      select e.defect_id, array_agg((e.valid_from at time zone 'UTC')::date order by e.valid_from) as days
      from ${states} e where e.is_done and e.resolved_at = e.valid_from group by e.defect_id
    ) entries on entries.defect_id = n.defect_id
    left join defect_report_tallies t on t.defect_id = n.defect_id and t.project_id = n.project_id
    where n.valid_to = 'infinity'`;
  const factColumns = `defect_id, project_id, number, stale, valid_from, created_at, status, is_done, origin, severity,
      component, release_id, merged, reopen_count, resolved_at, first_resolved_at, repair_us, resolution_days, reports,
      first_received_at, last_received_at`;

  await sql.raw(`
    create function bugloop_current_states_deleted() returns trigger language plpgsql set enable_seqscan = off as $body$
    begin
      if not exists (select 1 from old_states where valid_to = 'infinity') then
        return null;
      end if;
      ${adaptive(`${apply(factsOf('old_states'), '-')};;update defect_current_facts f set stale = true
      from old_states o where o.valid_to = 'infinity' and f.defect_id = o.defect_id and not f.stale`, 'old_states')};
      return null;
    end
    $body$;
    create trigger defect_states_current_deleted after delete on defect_states
      referencing old table as old_states for each statement execute function bugloop_current_states_deleted();

    create function bugloop_current_states_inserted() returns trigger language plpgsql set enable_seqscan = off as $body$
    begin
      if not exists (select 1 from new_states where valid_to = 'infinity') then
        return null;
      end if;
      -- a current row inserted without its predecessor deleted first replaces it: out with the old
      -- (the refresh and the rebuild always delete a defect's intervals first: this is a guard)
      ${adaptive(`${apply(factsOf('new_states'), '-')};;      insert into defect_current_facts as f (${factColumns})
      ${newFacts('new_states')}
      order by n.defect_id
      on conflict (defect_id) do update set project_id = excluded.project_id, stale = false, valid_from = excluded.valid_from,
        created_at = excluded.created_at, status = excluded.status, is_done = excluded.is_done, origin = excluded.origin,
        severity = excluded.severity, component = excluded.component, release_id = excluded.release_id, merged = excluded.merged,
        reopen_count = excluded.reopen_count, resolved_at = excluded.resolved_at, first_resolved_at = excluded.first_resolved_at,
        repair_us = excluded.repair_us, resolution_days = excluded.resolution_days, reports = excluded.reports,
        first_received_at = excluded.first_received_at, last_received_at = excluded.last_received_at;;${apply(factsOf('new_states'), '+')}`, 'new_states')};
      return null;
    end
    $body$;
    create trigger defect_states_current_inserted after insert on defect_states
      referencing new table as new_states for each statement execute function bugloop_current_states_inserted();

    -- a deleted defect (or project) takes its contribution with it
    create function bugloop_current_facts_deleted() returns trigger language plpgsql set enable_seqscan = off as $body$
    begin
      ${adaptive(apply('select * from old_facts', '-'), 'old_facts')};
      return null;
    end
    $body$;
    create trigger defect_current_facts_deleted after delete on defect_current_facts
      referencing old table as old_facts for each statement execute function bugloop_current_facts_deleted();
  `).execute(db);

  // A tally's change of reports goes to its defect's facts and, counted, to their group. The
  // three events share one body: each passes its rows as new and old (an empty set where its
  // event has none).
  const tallyBody = (newRows: string, oldRows: string) => `
    begin
      ${adaptive(`
      with changes as (
        select defect_id, project_id, sum(reports)::int as reports, min(first_received_at) as first_received_at, max(last_received_at) as last_received_at from (
          select defect_id, project_id, reports, first_received_at, last_received_at from ${newRows}
          union all
          select defect_id, project_id, -reports, null, null from ${oldRows}
        ) both_sides group by defect_id, project_id
      ),
      changed as (
        update defect_current_facts f set reports = f.reports + c.reports,
          first_received_at = least(f.first_received_at, c.first_received_at), last_received_at = greatest(f.last_received_at, c.last_received_at)
        from changes c where f.defect_id = c.defect_id and f.project_id = c.project_id and not f.stale
        returning f.*, c.reports as change
      )
      insert into defect_current_groups as g (project_id, release_id, component, origin, severity, status, is_done,
        defects, resolved, reopened, reopens, repair_us, reports, reported_defects)
      select project_id, release_id, component, origin, severity, status, is_done, 0, 0, 0, 0, 0,
        sum(change), sum((reports > 0)::int - (reports - change > 0)::int)
      from changed where not merged and change <> 0
      group by project_id, release_id, component, origin, severity, status, is_done
      order by project_id, release_id, component, origin, severity, status
      on conflict on constraint defect_current_groups_key do update set
        reports = g.reports + excluded.reports, reported_defects = g.reported_defects + excluded.reported_defects`, newRows === none ? oldRows : newRows)};
      return null;
    end`;
  const none = `(select null::uuid as defect_id, null::uuid as project_id, null::integer as reports,
    null::timestamptz as first_received_at, null::timestamptz as last_received_at where false) nothing`;
  await sql.raw(`
    create function bugloop_current_tallies_inserted() returns trigger language plpgsql set enable_seqscan = off as $body$ ${tallyBody('new_tallies', none)} $body$;
    create function bugloop_current_tallies_updated() returns trigger language plpgsql set enable_seqscan = off as $body$ ${tallyBody('new_tallies', 'old_tallies')} $body$;
    create function bugloop_current_tallies_deleted() returns trigger language plpgsql set enable_seqscan = off as $body$ ${tallyBody(none, 'old_tallies')} $body$;
    create trigger defect_report_tallies_current_inserted after insert on defect_report_tallies
      referencing new table as new_tallies for each statement execute function bugloop_current_tallies_inserted();
    create trigger defect_report_tallies_current_updated after update on defect_report_tallies
      referencing old table as old_tallies new table as new_tallies for each statement execute function bugloop_current_tallies_updated();
    create trigger defect_report_tallies_current_deleted after delete on defect_report_tallies
      referencing old table as old_tallies for each statement execute function bugloop_current_tallies_deleted();
  `).execute(db);

  // Defects recorded before this migration.
  await sql.raw(`
    insert into defect_current_facts (${factColumns})
    ${newFacts('defect_states')};
    ${plain(apply('select * from defect_current_facts', '+'))};
    analyze defect_current_facts;
    analyze defect_current_groups;
    analyze defect_current_repair_hours;
    analyze defect_current_resolutions;
  `).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    drop trigger if exists defect_states_current_deleted on defect_states;
    drop trigger if exists defect_states_current_inserted on defect_states;
    drop trigger if exists defect_report_tallies_current_inserted on defect_report_tallies;
    drop trigger if exists defect_report_tallies_current_updated on defect_report_tallies;
    drop trigger if exists defect_report_tallies_current_deleted on defect_report_tallies;
    drop function if exists bugloop_current_states_deleted();
    drop function if exists bugloop_current_states_inserted();
    drop function if exists bugloop_current_tallies_inserted();
    drop function if exists bugloop_current_tallies_updated();
    drop function if exists bugloop_current_tallies_deleted();
    drop trigger if exists defect_current_facts_deleted on defect_current_facts;
    drop function if exists bugloop_current_facts_deleted();
    drop table if exists defect_current_groups;
    drop table if exists defect_current_repair_hours;
    drop table if exists defect_current_resolutions;
    drop table if exists defect_current_facts;
  `.execute(db);
}
