import { type Kysely, type RawBuilder, type Transaction, sql } from 'kysely';
import type { Database } from '../db/schema';
import { coveringLinks } from '../test-management/coverage-definition';
import { ageBucketThresholds, repairedStatuses } from './metric-math';
import { reportsReceivedBetween } from './report-tallies';
import { type IneffectiveTest, type MetricsQuery, type ScopeSummaryRow, listLimit } from './metrics-service';

/**
 * The metrics snapshot read from the current state kept by the database (migration
 * 20261204_0100_defect_current_facts: `defect_current_facts`, `defect_current_groups`,
 * `defect_current_repair_hours`, `defect_current_resolutions`) instead of the history intervals.
 * It applies when no defect changed after `asOf`, so the scope at `asOf` is exactly the current
 * state; every figure then equals the general path's (`test/db/metrics-current-state.test.ts`
 * compares them on random histories). Otherwise `currentStateApplies` says no and the history
 * intervals answer.
 */
/** The parts of the metrics snapshot (as `computeMetrics` reads them). */
export interface CurrentSnapshot {
  summary: ScopeSummaryRow[];
  /** Open counted defects by age bucket (index into `ageBuckets`). */
  ageCounts: number[];
  mttr: { bySeverity: number; byComponent: number; severity: string | null; component: string | null; count: number; totalHours: number | null; medianHours: number | null }[];
  /** Escaped defects with a covering link, and the ineffective ones (the escaped ones are the summary's). */
  escaped: { covered: number; ineffective: number; defects: IneffectiveTest[] | null };
  coveredByComponent: { component: string | null; covered: number }[];
  throughput: { week: string; start: string; created: number; resolved: number }[];
  duplicates: { reports: number; defects: number };
  /** Resolved in the window, reopened, reopens (when not the summary's, which count every resolution). */
  flow: { resolved: number; reopened: number; reopens: number } | null;
}

/** Whether no defect of the project changed after `asOf`: its state at `asOf` is then its current state. */
export async function currentStateHolds(trx: Transaction<Database>, projectId: string, asOf: Date): Promise<boolean> {
  const { rows } = await sql<{ lastChange: Date | null }>`
    select max(valid_from) as last_change from defect_current_facts where project_id = ${projectId} and not stale
  `.execute(trx);
  return !rows[0].lastChange || rows[0].lastChange <= asOf;
}

/**
 * How the current state answers this request, or null when it cannot:
 * - it answers only when no defect changed after `asOf` (the newest `valid_from` of the current
 *   rows is not later; an older interval always starts before its defect's current one), so the
 *   state at `asOf` of every defect is its current row;
 * - `open`: the window is open-ended (no `from`, no `to`: from the epoch to `asOf`), every
 *   creation and first resolution lies in it (so "resolved in the window" is "ever resolved";
 *   the last resolution is never before the first), and every report of the project was received
 *   in it (so a defect's reports in the window are its whole tally): the grouped sums answer;
 * - `window`: otherwise the flow figures (reopen rate, MTTR, reports) are counted over the facts
 *   whose instants lie in the window, through their indexes.
 */
export async function currentStateApplies(trx: Transaction<Database>, query: MetricsQuery): Promise<'open' | 'window' | null> {
  const { projectId, asOf } = query;
  const { rows } = await sql<{ lastChange: Date | null; earliest: Date | null; firstReport: Date | null; lastReport: Date | null }>`
    select (select max(valid_from) from defect_current_facts where project_id = ${projectId} and not stale) as last_change,
           (select min(least(created_at, first_resolved_at)) from defect_current_facts
            where project_id = ${projectId} and not stale and not merged) as earliest,
           (select min(received_at) from reports where project_id = ${projectId}) as first_report,
           (select max(received_at) from reports where project_id = ${projectId}) as last_report
  `.execute(trx);
  const { lastChange, earliest, firstReport, lastReport } = rows[0];
  const epoch = new Date(0);
  if (lastChange && lastChange > asOf) return null;
  if (query.from || query.to) return 'window';
  if (earliest && earliest < epoch) return 'window';
  if (firstReport && (firstReport < epoch || (lastReport && lastReport > asOf))) return 'window';
  return 'open';
}

/**
 * The snapshot from the current state (call only when `currentStateApplies`): the grouped
 * counts for everything that is a count or a sum, the facts' indexes for what depends on an
 * instant (ages, weeks) and for the MTTR medians.
 */
export async function currentSnapshot(trx: Transaction<Database>, query: MetricsQuery, mode: 'open' | 'window'): Promise<CurrentSnapshot> {
  const { projectId, asOf, release, timeZone } = query;
  const windowEnd = query.to ?? asOf;
  const windowStart = query.from ?? new Date(0);
  // as the general path: without `from`, the 12 ISO weeks ending with the week of the window's end
  const throughputStart = query.from ?? new Date(windowEnd.getTime() - 11 * 7 * 86_400_000);
  const repaired = sql.join(repairedStatuses.map((status) => sql`${status}`));
  const component = (column: string) => (query.component ? sql`and ${sql.ref(column)} = ${query.component}` : sql``);
  const inRelease = (column: string) => (release ? sql`${sql.ref(column)} = ${release.id}::uuid` : sql`true`);
  const counted = (alias: string) => countedNow(alias, query);

  const ageColumns = ageBucketThresholds.map(
    (days, index) => sql`count(*) filter (where created_at > ${new Date(asOf.getTime() - days * 86_400_000)}::timestamptz)::int as ${sql.ref(`age${index}`)}`,
  );
  const oldest = new Date(asOf.getTime() - ageBucketThresholds[ageBucketThresholds.length - 1] * 86_400_000);

  const { rows } = await sql<{
    summary: (Omit<ScopeSummaryRow, 'ageBucket'> & { repairedCount: number })[] | null;
    ages: Record<string, number>;
    mttrCounts: { bySeverity: number; byComponent: number; severity: string | null; component: string | null; count: number; totalHours: number | null }[] | null;
    escaped: { covered: number; ineffective: number; defects: IneffectiveTest[] | null };
    coveredByComponent: { component: string | null; covered: number }[] | null;
    throughput: CurrentSnapshot['throughput'];
    duplicates: { reports: number; defects: number };
    flow: { resolved: number; reopened: number; reopens: number } | null;
  }>`
    with groups as (
      select release_id, component, origin, severity, status, is_done, defects, resolved, reopened, reopens, repair_us, reports, reported_defects,
             ${inRelease('release_id')} as in_release
      from defect_current_groups
      where project_id = ${projectId} and defects > 0 ${component('component')}
    ),
    summary as (
      select release_id as "releaseId", component, origin, is_done as "isDone", in_release as "inRelease",
             sum(defects)::int as defects, sum(resolved)::int as resolved, sum(reopened)::int as reopened, sum(reopens)::int as reopens
      from groups group by 1, 2, 3, 4, 5
    ),
    mttr_counts as (
      select grouping(severity) as "bySeverity", grouping(component) as "byComponent", severity, component, sum(defects)::int as count,
             (sum(repair_us) / 3600000000)::float8 as "totalHours"
      from groups where in_release and status in (${repaired})
      group by grouping sets ((), (severity), (component))
    ),
    links as (
      select l.defect_id, l.test_case_id, m.release_id, m.created_at, m.component, m.number from (${coveringLinks(asOf)}) l
      join defect_current_facts m on m.defect_id = l.defect_id
      where ${counted('m')} and m.origin = 'field'
    ),
    first_passes as (
      select r.test_case_id, u.release_id, min(r.created_at) as first_passed_at, min(c.key) as key
      from test_results r join test_runs u on u.id = r.test_run_id join test_cases c on c.id = r.test_case_id
      where u.project_id = ${projectId} and u.release_id is not null and r.status = 'passed' and r.created_at <= ${asOf}
        and r.test_case_id in (select test_case_id from links)
      group by 1, 2
    ),
    ineffective as (
      select l.defect_id, l.number, array_agg(distinct p.key order by p.key) as test_case_keys
      from links l
      join first_passes p on p.test_case_id = l.test_case_id and p.release_id = l.release_id and p.first_passed_at <= l.created_at
      group by l.defect_id, l.number
    ),
    covered as (select distinct defect_id, component from links),
    weeks as (
      select generate_series(date_trunc('week', ${throughputStart}::timestamptz at time zone ${timeZone}),
                             date_trunc('week', ${windowEnd}::timestamptz at time zone ${timeZone}), interval '1 week') as week_start
    ),
    created_weeks as (
      select date_trunc('week', created_at at time zone ${timeZone}) as week_start, count(*)::int as count
      from defect_current_facts m
      where ${counted('m')} and m.created_at >= ${throughputStart} and m.created_at >= ${windowStart} and m.created_at <= ${windowEnd}
      group by 1
    ),
    ${sql.join(resolutionWeeks({ ...query, throughputStart, windowStart, windowEnd }, 'resolved_weeks'), sql`,
    `)}
    select
      (select json_agg(summary) from summary) as summary,
      (select row_to_json(a) from (
        select ${sql.join(ageColumns)} from defect_current_facts m
        where ${counted('m')} and not m.is_done and m.created_at > ${oldest}::timestamptz
      ) a) as ages,
      (select json_agg(mttr_counts) from mttr_counts) as mttr_counts,
      (select json_build_object(
          'covered', (select count(*) from covered), 'ineffective', (select count(*) from ineffective),
          'defects', (select json_agg(json_build_object('defectId', listed.defect_id, 'defectKey', listed.key, 'testCaseKeys', listed.test_case_keys) order by listed.number)
                      from (select i.defect_id, d.key, i.number, i.test_case_keys
                            from (select * from ineffective order by number limit ${listLimit}) i join defects d on d.id = i.defect_id) listed))) as escaped,
      (select json_agg(json_build_object('component', component, 'covered', covered))
       from (select component, count(*)::int as covered from covered group by component) per_component) as covered_by_component,
      (select json_agg(json_build_object('week', to_char(w.week_start, 'IYYY-"W"IW'), 'start', to_char(w.week_start, 'YYYY-MM-DD'),
                                         'created', coalesce(c.count, 0), 'resolved', coalesce(r.count, 0)) order by w.week_start)
       from weeks w left join created_weeks c on c.week_start = w.week_start left join resolved_weeks r on r.week_start = w.week_start) as throughput,
      ${mode === 'open'
        ? sql`(select json_build_object('reports', coalesce(sum(reports), 0)::int, 'defects', coalesce(sum(reported_defects), 0)::int)
               from groups where in_release) as duplicates,
              null::json as flow`
        : sql`(select json_build_object('reports', coalesce(sum(received), 0)::int, 'defects', count(*) filter (where received > 0)::int)
               from (
                 -- the facts carry their tally's count and bounds: reports are counted one by one
                 -- only for a defect whose bounds straddle an end of the window
                 select ${reportsReceivedBetween('m', sql.ref('m.defect_id'), projectId, windowStart, windowEnd)} as received
                 from defect_current_facts m
                 where ${counted('m')} and m.reports > 0
                   and m.last_received_at >= ${windowStart} and m.first_received_at <= ${windowEnd}
               ) per_defect) as duplicates,
              (select json_build_object('resolved', count(*)::int, 'reopened', count(*) filter (where reopen_count > 0)::int,
                                        'reopens', coalesce(sum(reopen_count), 0)::int)
               from defect_current_facts m
               where ${counted('m')} and m.first_resolved_at between ${windowStart} and ${windowEnd}) as flow`}
  `.execute(trx);
  const row = rows[0];
  const summaryRows = row.summary ?? [];

  // ages: counts above each threshold, the oldest bucket is the rest of the open defects
  const openInScope = summaryRows.filter((entry) => entry.inRelease && !entry.isDone).reduce((total, entry) => total + entry.defects, 0);
  const above = ageBucketThresholds.map((_, index) => row.ages[`age${index}`] ?? 0);
  const ageCounts = [...above.map((count, index) => count - (index > 0 ? above[index - 1] : 0)), openInScope - (above.at(-1) ?? 0)];

  let mttr: CurrentSnapshot['mttr'];
  if (mode === 'open') {
    const mttrCounts = row.mttrCounts ?? [];
    const medians = await repairMedians(trx, query, mttrCounts);
    mttr = mttrCounts.map((entry) => ({ ...entry, medianHours: medians.get(groupKey(entry)) ?? null }));
  } else {
    // the repaired defects resolved in the window, through the index on their resolution
    const repaired = sql.join(repairedStatuses.map((status) => sql`${status}`));
    const { rows: windowed } = await sql<CurrentSnapshot['mttr'][number]>`
      select grouping(severity) as "bySeverity", grouping(component) as "byComponent", severity, component, count(*)::int as count,
             sum(hours)::float8 as "totalHours", percentile_cont(0.5) within group (order by hours)::float8 as "medianHours"
      from (
        select severity, component, extract(epoch from resolved_at - created_at)::float8 / 3600 as hours
        from defect_current_facts m
        where ${counted('m')} and m.repair_us is not null and m.status in (${repaired})
          and m.resolved_at between ${windowStart} and ${windowEnd}
      ) repaired
      group by grouping sets ((), (severity), (component))
    `.execute(trx);
    mttr = windowed;
  }

  return {
    // open rows carry bucket 0 only so they count as open; the buckets come from `ageCounts`
    summary: summaryRows.map((entry) => ({ ...entry, ageBucket: entry.isDone ? null : 0 })),
    ageCounts,
    mttr,
    escaped: { covered: Number(row.escaped.covered), ineffective: Number(row.escaped.ineffective), defects: row.escaped.defects },
    coveredByComponent: row.coveredByComponent ?? [],
    throughput: row.throughput ?? [],
    duplicates: row.duplicates,
    flow: row.flow,
  };
}

/** The filters of a metrics request that decide which defects count. */
interface CountFilters {
  projectId: string;
  component: string | null;
  release: { id: string } | null;
}

/**
 * SQL: whether the facts row `alias` is counted *now* for these filters: current (not stale), not
 * merged, in the component and release filters. The kept counts (`defect_current_groups`,
 * `defect_current_resolutions`) are sums over exactly these rows, so every query that reads them,
 * or corrects them (the history path's throughput), uses this one predicate.
 */
export function countedNow(alias: string, filters: CountFilters): RawBuilder<boolean> {
  const column = (name: string) => sql.ref(`${alias}.${name}`);
  return sql<boolean>`${column('project_id')} = ${filters.projectId} and not ${column('stale')} and not ${column('merged')}
    ${filters.component ? sql`and ${column('component')} = ${filters.component}` : sql``}
    ${filters.release ? sql`and ${column('release_id')} = ${filters.release.id}::uuid` : sql``}`;
}

/** What `resolutionWeeks` counts over: the request's filters and the throughput's range. */
interface ResolutionRange extends CountFilters {
  timeZone: string;
  throughputStart: Date;
  windowStart: Date;
  windowEnd: Date;
}

/**
 * SQL CTEs (the last one named `name`: week_start, count): the entries into a done status per
 * week of the zone, in the range, of the defects counted *now* (current facts, not merged, in the
 * filters). Whole UTC days come from their kept counts (`defect_current_resolutions`); a day split
 * between two weeks (the zone's Monday midnight, or an offset change, inside it) or by an end of
 * the range is counted entry by entry. The history path corrects these counts for the defects
 * changed after its `asOf` (server/metrics/metrics-service.ts).
 */
export function resolutionWeeks(range: ResolutionRange, name: string): RawBuilder<unknown>[] {
  const { projectId, timeZone, release, throughputStart, windowStart, windowEnd } = range;
  const component = (column: string) => (range.component ? sql`and ${sql.ref(column)} = ${range.component}` : sql``);
  const inRelease = (column: string) => (release ? sql`${sql.ref(column)} = ${release.id}::uuid` : sql`true`);
  const days = sql.ref(`${name}_days`);
  const dayKinds = sql.ref(`${name}_day_kinds`);
  return [
    sql`${days} as (
      select g::date as day, g::timestamp at time zone 'UTC' as day_start, (g::date + 1)::timestamp at time zone 'UTC' - interval '1 microsecond' as day_last
      from generate_series((${throughputStart}::timestamptz at time zone 'UTC')::date, (${windowEnd}::timestamptz at time zone 'UTC')::date, interval '1 day') g
    )`,
    sql`${dayKinds} as (
      select day, day_start, day_last, date_trunc('week', day_start at time zone ${timeZone}) as week_start,
        day_start >= ${throughputStart} and day_start >= ${windowStart} and day_last <= ${windowEnd}
        and date_trunc('week', day_start at time zone ${timeZone}) = date_trunc('week', day_last at time zone ${timeZone})
        and (day_start at time zone ${timeZone}) - (day_start at time zone 'UTC') = (day_last at time zone ${timeZone}) - (day_last at time zone 'UTC') as whole
      from ${days}
    )`,
    sql`${sql.ref(name)} as (
      select week_start, sum(count)::int as count from (
        select k.week_start, r.entries as count
        from ${dayKinds} k join defect_current_resolutions r on r.day = k.day
        where k.whole and r.project_id = ${projectId} ${component('r.component')} and ${inRelease('r.release_id')}
        union all
        select date_trunc('week', e.valid_from at time zone ${timeZone}), 1
        from ${dayKinds} k cross join lateral (
          select s.valid_from from defect_states s
          join defect_current_facts m on m.defect_id = s.defect_id
          where s.project_id = ${projectId} and s.is_done and s.resolved_at = s.valid_from
            and s.valid_from >= k.day_start and s.valid_from <= k.day_last
            and ${countedNow('m', range)}
            and s.valid_from >= ${throughputStart} and s.valid_from >= ${windowStart} and s.valid_from <= ${windowEnd}
          offset 0 -- one index range per split day, not a pass over every entry
        ) e
        where not k.whole
      ) entries
      group by 1
    )`,
  ];
}

type MttrCount = Omit<CurrentSnapshot['mttr'][number], 'medianHours'>;

function groupKey(entry: Pick<MttrCount, 'bySeverity' | 'byComponent' | 'severity' | 'component'>): string {
  return JSON.stringify([entry.bySeverity, entry.byComponent, entry.severity, entry.component]);
}

/**
 * `percentile_cont(0.5)` of the repair hours of each MTTR group. Over the whole project the two
 * middle values of each group are read by their position in an index of the facts (no sort of
 * every resolution time); with a release or component filter the subset is small and sorted.
 * Both give PostgreSQL's own interpolation: low + (high − low) × 0.5.
 */
async function repairMedians(trx: Transaction<Database>, query: MetricsQuery, groups: readonly MttrCount[]): Promise<Map<string, number>> {
  const medians = new Map<string, number>();
  const { projectId, release } = query;
  const repaired = sql.join(repairedStatuses.map((status) => sql`${status}`));
  if (release || query.component) {
    const { rows } = await sql<{ bySeverity: number; byComponent: number; severity: string | null; component: string | null; medianHours: number }>`
      select grouping(severity) as "bySeverity", grouping(component) as "byComponent", severity, component,
             percentile_cont(0.5) within group (order by extract(epoch from resolved_at - created_at)::float8 / 3600)::float8 as "medianHours"
      from defect_current_facts
      where project_id = ${projectId} and not stale and not merged and status in (${repaired}) and repair_us is not null
        ${release ? sql`and release_id = ${release.id}::uuid` : sql``} ${query.component ? sql`and component = ${query.component}` : sql``}
      group by grouping sets ((), (severity), (component))
    `.execute(trx);
    for (const entry of rows) medians.set(groupKey(entry), entry.medianHours);
    return medians;
  }
  // the repair times per whole hour: find the hour of each middle position, then its value
  // (an hour whose bounds are equal holds one value; else read it by position within the hour)
  const { rows: hours } = await sql<{ bySeverity: number; byComponent: number; severity: string | null; component: string | null; hour: string; defects: number; low: string; high: string }>`
    select grouping(severity) as "bySeverity", grouping(component) as "byComponent", severity, component, hour,
           sum(defects)::int as defects, min(low_us) as low, max(high_us) as high
    from defect_current_repair_hours where project_id = ${projectId} and defects > 0
    group by grouping sets ((hour), (severity, hour), (component, hour))
    order by hour
  `.execute(trx);
  const histograms = new Map<string, typeof hours>();
  for (const entry of hours) {
    const key = groupKey(entry);
    histograms.set(key, [...(histograms.get(key) ?? []), entry]);
  }
  const values = new Map<string, number>();
  const lookups: RawBuilder<unknown>[] = [];
  const positions = new Map<string, number[]>();
  for (const group of groups) {
    if (group.count <= 0) continue;
    const key = groupKey(group);
    const middle = [...new Set([Math.floor((group.count - 1) / 2), Math.ceil((group.count - 1) / 2)])];
    positions.set(key, middle);
    for (const position of middle) {
      let before = 0;
      for (const bucket of histograms.get(key) ?? []) {
        if (position < before + bucket.defects) {
          const valueKey = `${key}#${position}`;
          if (bucket.low === bucket.high) values.set(valueKey, Number(bucket.low));
          else {
            const filter =
              group.bySeverity === 0
                ? group.severity === null ? sql`and severity is null` : sql`and severity = ${group.severity}`
                : group.byComponent === 0
                  ? group.component === null ? sql`and component is null` : sql`and component = ${group.component}`
                  : sql``;
            const start = BigInt(bucket.hour) * 3_600_000_000n;
            lookups.push(sql`select ${valueKey}::text as key, (
              select repair_us from defect_current_facts
              where project_id = ${projectId} and not stale and not merged and repair_us is not null ${filter}
                and repair_us >= ${start.toString()}::bigint and repair_us < ${(start + 3_600_000_000n).toString()}::bigint
              order by repair_us offset ${position - before} limit 1) as value`);
          }
          break;
        }
        before += bucket.defects;
      }
    }
  }
  if (lookups.length > 0) {
    const { rows } = await sql<{ key: string; value: string }>`${sql.join(lookups, sql` union all `)}`.execute(trx);
    for (const { key, value } of rows) values.set(key, Number(value));
  }
  // hours as the general path computes them: exact seconds to float8, then / 3600
  const hoursOf = (microseconds: number) => microseconds / 1_000_000 / 3600;
  for (const [key, middle] of positions) {
    const found = middle.map((position) => values.get(`${key}#${position}`));
    if (found.some((value) => value === undefined)) continue;
    const [low, high] = [hoursOf(found[0]!), hoursOf(found.at(-1)!)];
    medians.set(key, low + (high - low) * 0.5);
  }
  return medians;
}

/** Components by escaped defects descending, then by name in the database's collation (no component last). */
export async function orderComponents<Row extends { component: string | null; escaped: number }>(db: Kysely<Database> | Transaction<Database>, entries: Row[]): Promise<Row[]> {
  if (entries.length <= 1) return entries;
  const { rows } = await sql<{ position: number }>`
    select position::int from (values ${sql.join(entries.map((entry, index) => sql`(${index}, ${entry.component}::text, ${entry.escaped}::int)`))}) v(position, component, escaped)
    order by escaped desc, component
  `.execute(db);
  return rows.map((entry) => entries[entry.position]);
}
