import { type Kysely, type RawBuilder, type Transaction, sql } from 'kysely';
import type { Database } from '../db/schema';
import type { SharedSnapshotReader } from '../db/shared-snapshot';
import { AppError } from '../http/app-error';
import { isUuid } from '../projects/project-service';
import { type OrderableRelease, orderReleases } from '../releases/release-order';
import { coveringLinks } from '../test-management/coverage-definition';
import { countedNow, currentSnapshot, currentStateApplies, orderComponents, resolutionWeeks } from './current-metrics';
import { endOfMinute } from './metrics-cache';
import { reportsReceivedBetween } from './report-tallies';
import {
  type ComponentDensity,
  type Ratio,
  type RepairTime,
  ageBucketThresholds,
  ageBuckets,
  complement,
  componentDensity,
  componentSizesFromSettings,
  isCalendarDay,
  isTimeZone,
  ratio,
  repairTime,
  repairedStatuses,
  severityRank,
  startOfZonedDay,
} from './metric-math';

/**
 * Quality metrics computed from the defect history (`defect_states`, replayed from
 * `defect_events`), so every figure can be recomputed for any past instant. Definitions and
 * sources: docs/metrics.md. Every metric of one answer reads one snapshot (the `scope` CTE):
 * the defects as they stood at `asOf`, merged ones left out, filtered by component.
 */

/** A release as the metrics show it. */
export interface ReleaseSummary {
  id: string;
  version: string;
  releasedAt: Date | null;
}

/** The resolved, validated filters of one metrics request. */
export interface MetricsQuery {
  projectId: string;
  /** The instant the defects are looked at (default: `to`, else the end of the current minute). */
  asOf: Date;
  /** Window for flow metrics (MTTR, reopen rate, throughput, duplicates); null = open-ended. */
  from: Date | null;
  to: Date | null;
  /** IANA zone for calendar days and ISO weeks; default UTC. */
  timeZone: string;
  release: ReleaseSummary | null;
  component: string | null;
}

/** Raw query-string values, as they come from the request. */
export interface MetricsQueryInput {
  release?: string;
  component?: string;
  from?: string;
  to?: string;
  asOf?: string;
  tz?: string;
}

const maximumWindowDays = 3660;
/** Lists inside a metric (defects behind a figure) stop here; the counts are always complete. */
export const listLimit = 100;

/**
 * Parses an instant: a calendar day (YYYY-MM-DD, in `timeZone`; `edge` says whether the day's
 * start or its last millisecond is meant) or an ISO 8601 date-time with a zone.
 */
export function parseInstant(text: string, timeZone: string, edge: 'start' | 'end', field: string): Date {
  if (isCalendarDay(text)) {
    const start = startOfZonedDay(text, timeZone);
    if (edge === 'start') return start;
    const next = new Date(`${text}T00:00:00Z`);
    next.setUTCDate(next.getUTCDate() + 1);
    return new Date(startOfZonedDay(next.toISOString().slice(0, 10), timeZone).getTime() - 1);
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$/i.test(text)) {
    const parsed = new Date(text);
    if (!Number.isNaN(parsed.getTime())) return parsed;
  }
  throw new AppError('invalid_request', `${field} must be a day (2026-11-22) or a date-time with a zone (2026-11-22T10:00:00Z)`, { field });
}

/** The project's releases in release order, the one the test pages use (server/releases/release-order.ts). */
export async function orderedReleases(db: Kysely<Database> | Transaction<Database>, projectId: string): Promise<(ReleaseSummary & OrderableRelease)[]> {
  const rows = await db
    .selectFrom('releases')
    .select(['id', 'version', 'releasedAt', 'semverMajor', 'semverMinor', 'semverPatch', 'semverPrerelease', 'firstSeenAt'])
    .where('projectId', '=', projectId)
    .execute();
  return orderReleases(rows);
}

/** Finds a release by id or by version string; null when the project has none such. */
export async function findRelease(db: Kysely<Database>, projectId: string, reference: string): Promise<ReleaseSummary | null> {
  let query = db.selectFrom('releases').select(['id', 'version', 'releasedAt']).where('projectId', '=', projectId);
  query = isUuid(reference) ? query.where((eb) => eb.or([eb('id', '=', reference), eb('version', '=', reference)])) : query.where('version', '=', reference);
  return (await query.executeTakeFirst()) ?? null;
}

/** Validates the query string of `GET …/metrics` and resolves the release; 400 on anything malformed. */
export async function resolveMetricsQuery(db: Kysely<Database>, projectId: string, input: MetricsQueryInput, now = new Date()): Promise<MetricsQuery> {
  const timeZone = input.tz?.trim() || 'UTC';
  if (timeZone.length > 64 || !isTimeZone(timeZone)) {
    throw new AppError('invalid_request', 'tz must be an IANA time zone such as UTC or Europe/Berlin', { field: 'tz' });
  }
  const from = input.from ? parseInstant(input.from, timeZone, 'start', 'from') : null;
  const to = input.to ? parseInstant(input.to, timeZone, 'end', 'to') : null;
  const asOf = input.asOf ? parseInstant(input.asOf, timeZone, 'end', 'asOf') : (to ?? endOfMinute(now));
  if (to && to > asOf) throw new AppError('invalid_request', 'to cannot be later than asOf: the window must end by the instant looked at', { field: 'to' });
  const windowEnd = to ?? asOf;
  if (from && from > windowEnd) throw new AppError('invalid_request', 'from must be before to (or asOf)', { field: 'from' });
  if (from && windowEnd.getTime() - from.getTime() > maximumWindowDays * 86_400_000) {
    throw new AppError('invalid_request', `The window may span at most ${maximumWindowDays} days`, { field: 'from' });
  }
  let release: ReleaseSummary | null = null;
  if (input.release) {
    if (input.release.length > 200) throw new AppError('invalid_request', 'release is too long', { field: 'release' });
    release = await findRelease(db, projectId, input.release);
    if (!release) throw new AppError('invalid_request', `This project has no release "${input.release}"`, { field: 'release' });
  }
  const component = input.component?.trim() || null;
  if (component && component.length > 200) throw new AppError('invalid_request', 'component is too long', { field: 'component' });
  return { projectId, asOf, from, to, timeZone, release, component };
}

/** Leakage of one release with the release named. */
export interface ReleaseLeakage extends Ratio {
  releaseId: string;
  version: string;
}

/** An escaped defect whose linked test passed on its release before the defect was found. */
export interface IneffectiveTest {
  defectId: string;
  defectKey: string;
  testCaseKeys: string[];
}

export interface MttrGroup extends RepairTime {
  severity?: string | null;
  component?: string | null;
}

/** The body of `GET /api/v1/projects/:projectId/metrics`. */
export interface MetricsReport {
  projectId: string;
  asOf: string;
  timeZone: string;
  filters: { release: ReleaseSummary | null; component: string | null; from: string | null; to: string | null };
  metrics: {
    defectLeakage: Ratio;
    defectDetectionPercentage: Ratio;
    leakageByRelease: ReleaseLeakage[];
    escapedWithoutCoverage: Ratio;
    /** Per component: escaped defects, and those without a linked test (coverage gaps) ÷ escaped. */
    escapedByComponent: { component: string | null; escaped: number; withoutCoverage: Ratio }[];
    ineffectiveTests: Ratio & { defects: IneffectiveTest[] };
    mttr: { overall: RepairTime; bySeverity: MttrGroup[]; byComponent: MttrGroup[] };
    reopenRate: Ratio & { reopens: number };
    defectAge: { open: number; buckets: { label: string; minDays: number; maxDays: number | null; count: number }[] };
    density: ComponentDensity[];
    throughput: { weeks: { week: string; start: string; created: number; resolved: number }[] };
    reportsPerDefect: Ratio;
    duplicateRate: Ratio;
  };
}

/** One row of the scope summary: counted defects grouped by everything the snapshot metrics need. */
export interface ScopeSummaryRow {
  releaseId: string | null;
  component: string | null;
  origin: string;
  isDone: boolean;
  /** Index into `ageBuckets` for open defects; null for done ones. */
  ageBucket: number | null;
  /** Inside the `release` filter (always true without one). */
  inRelease: boolean;
  defects: number;
  /** Resolved at least once, first resolution inside the window. */
  resolved: number;
  reopened: number;
  reopens: number;
}

/** The snapshot metrics from the grouped scope: pure, so the SQL stays one pass. */
export function summarizeScope(rows: readonly ScopeSummaryRow[]) {
  const byRelease = new Map<string | null, { escaped: number; found: number }>();
  const selected = { escaped: 0, found: 0, resolved: 0, reopened: 0, reopens: 0, open: 0 };
  const ageCounts = ageBuckets.map(() => 0);
  const perComponent = new Map<string | null, number>();
  const escapedPerComponent = new Map<string | null, number>();
  for (const row of rows) {
    const escaped = row.origin === 'field' ? row.defects : 0;
    const entry = byRelease.get(row.releaseId) ?? { escaped: 0, found: 0 };
    entry.escaped += escaped;
    entry.found += row.defects;
    byRelease.set(row.releaseId, entry);
    if (!row.inRelease) continue;
    selected.escaped += escaped;
    selected.found += row.defects;
    selected.resolved += row.resolved;
    selected.reopened += row.reopened;
    selected.reopens += row.reopens;
    if (!row.isDone && row.ageBucket !== null) {
      ageCounts[row.ageBucket] += row.defects;
      selected.open += row.defects;
    }
    perComponent.set(row.component, (perComponent.get(row.component) ?? 0) + row.defects);
    if (escaped > 0) escapedPerComponent.set(row.component, (escapedPerComponent.get(row.component) ?? 0) + escaped);
  }
  return { byRelease, selected, ageCounts, perComponent, escapedPerComponent };
}

/**
 * SQL: the age bucket (index into `ageBuckets`) of a defect created at `createdAt`, as of `asOf`:
 * the creation compared with asOf minus each threshold (exact instants, computed here). The same
 * bucket as `width_bucket` over the age in fractional days (an age of exactly 7 days is in
 * 7–30; test/db/metrics-fast-paths.test.ts compares them), without turning every defect's age
 * into a numeric (measured: about a quarter of the summary's time).
 */
export function ageBucketOf(createdAt: RawBuilder<unknown>, asOf: Date): RawBuilder<number> {
  const whens = ageBucketThresholds.map((days, index) => sql`when ${createdAt} > ${new Date(asOf.getTime() - days * 86_400_000)}::timestamptz then ${sql.lit(index)}`);
  return sql<number>`case ${sql.join(whens, sql` `)} else ${sql.lit(ageBucketThresholds.length)} end`;
}

/**
 * SQL, two CTEs: `scope`, every counted defect's state at `asOf` (not merged, in the component
 * filter), and `changed`, the defects changed after `asOf` (the throughput corrects its kept
 * counts with them). The scope is read from the current facts where that is the same thing. A
 * defect with no state change after `asOf` (its current interval, which its facts row copies,
 * starts at or before it) stood at `asOf` as it stands now; only a defect changed after `asOf` is
 * read from its history: the interval holding `asOf` is then not its current one (that starts
 * later), so the range of intervals that end after `asOf`, short when `asOf` is recent, finds them
 * all. Together exactly the defects of `defect_states` at `asOf` (a defect's intervals and facts
 * carry its project), with their number and report tally (the facts' copy) beside them;
 * test/db/metrics-current-state.test.ts compares the figures with the intervals' alone.
 */
function stateAtAsOf(
  projectId: string,
  asOf: Date,
  component: (column: string) => RawBuilder<unknown>,
  inRelease: (column: string) => RawBuilder<unknown>,
): RawBuilder<unknown> {
  return sql`
    changed as materialized (
      -- the defects changed after asOf, each with its superseded interval holding asOf: merged
      -- or not, in the filters or not (the throughput's corrections need every one)
      select s.defect_id, s.created_at, s.status, s.is_done, s.origin, s.severity, s.component, s.found_in_release_id, s.merged,
             s.reopen_count, s.resolved_at, s.first_resolved_at
      from defect_states s
      where tstzrange(s.valid_from, s.valid_to) @> ${asOf}::timestamptz and s.valid_to < 'infinity' and s.project_id = ${projectId}
    ),
    scope as materialized (
      select f.defect_id, f.number, f.created_at, f.status, f.is_done, f.origin, f.severity, f.component, f.release_id,
             f.reopen_count, f.resolved_at, f.first_resolved_at, f.reports, f.first_received_at, f.last_received_at,
             ${inRelease('f.release_id')} as in_release
      from defect_current_facts f
      where f.project_id = ${projectId} and not f.stale and f.valid_from <= ${asOf} and not f.merged ${component('f.component')}
      union all
      select s.defect_id, f.number, s.created_at, s.status, s.is_done, s.origin, s.severity, s.component, s.found_in_release_id,
             s.reopen_count, s.resolved_at, s.first_resolved_at, f.reports, f.first_received_at, f.last_received_at,
             ${inRelease('s.found_in_release_id')}
      -- the facts' copies looked up per interval by key: a plain join let the planner hash all
      -- 100,000 facts for the few hundred intervals of a recent asOf (bench:metrics ?asOf on
      -- PGlite, 2026-12-03: 286 -> 260 ms; OFFSET 0 keeps the subquery from being flattened back)
      from changed s
      cross join lateral (
        select f.number, f.reports, f.first_received_at, f.last_received_at from defect_current_facts f where f.defect_id = s.defect_id offset 0
      ) f
      where not s.merged ${component('s.component')}
    )`;
}

/** One part of the metrics statement: the CTEs it adds after `scope` and the columns it selects. */
interface MetricsPart {
  ctes: RawBuilder<unknown>[];
  columns: RawBuilder<unknown>[];
}

/** The row the metrics statement answers (its parts' columns together). */
interface SnapshotRow {
  summary: ScopeSummaryRow[] | null;
  mttr: { bySeverity: number; byComponent: number; severity: string | null; component: string | null; count: number; totalHours: number | null; medianHours: number | null }[] | null;
  /** Escaped defects with a covering link, and those whose linked test passed before (the escaped ones are the summary's). */
  escaped: { covered: number; ineffective: number; defects: IneffectiveTest[] | null };
  coveredByComponent: { component: string | null; covered: number }[] | null;
  throughput: { week: string; start: string; created: number; resolved: number }[];
  duplicates: { reports: number; defects: number };
}

/** How `computeMetrics` may read the database. */
export interface MetricsComputeOptions {
  /**
   * Runs the parts of the statement at once on several connections sharing one snapshot
   * (PostgreSQL); without it (PGlite, or when the reader's connections are busy) the parts are
   * one statement.
   */
  snapshotReader?: SharedSnapshotReader | null;
  /**
   * false: always compute from the history intervals (`defect_states`), never from the current
   * state the database keeps (server/metrics/current-metrics.ts). The history is the definition;
   * test/db/metrics-current-state.test.ts checks that both give the same figures.
   */
  currentState?: boolean;
}

/**
 * Computes every metric of the request from one snapshot: the materialized `scope` CTE (the
 * defects at `asOf`) read by every metric, with small lookups (releases, test cases, settings)
 * beside it. The metrics are parts (`MetricsPart`) over that scope: one statement holds them all,
 * or, given a `snapshotReader`, groups of them run at once as statements of their own, each with
 * its own copy of the scope, on transactions that share one snapshot, so the figures agree
 * exactly as in one statement. `work_mem` is raised for these statements only, so their sorts of
 * ~100k rows stay in memory.
 */
export async function computeMetrics(db: Kysely<Database>, query: MetricsQuery, options: MetricsComputeOptions = {}): Promise<MetricsReport> {
  const { projectId, asOf, from, release, timeZone } = query;
  const windowEnd = query.to ?? asOf;
  const windowStart = from ?? new Date(0);
  const inWindow = (column: string) => sql`${sql.ref(column)} between ${windowStart} and ${windowEnd}`;
  // Without `from`, throughput shows the 12 ISO weeks ending with the week of the window's end.
  const throughputStart = from ?? new Date(windowEnd.getTime() - 11 * 7 * 86_400_000);
  const repaired = sql.join(repairedStatuses.map((status) => sql`${status}`));

  const component = (column: string) => (query.component ? sql`and ${sql.ref(column)} = ${query.component}` : sql``);
  const inRelease = (column: string) => (release ? sql`${sql.ref(column)} is not distinct from ${release.id}::uuid` : sql`true`);
  // The scope from the current facts kept by the database (see `stateAtAsOf`), unless the caller
  // asks for the history intervals alone (the definition the tests compare it with).
  const fromFacts = options.currentState !== false;
  const scope = fromFacts
    ? stateAtAsOf(projectId, asOf, component, inRelease)
    : sql`
    scope as materialized (
      select defect_id, created_at, status, is_done, origin, severity, component, found_in_release_id as release_id,
             reopen_count, resolved_at, first_resolved_at, ${inRelease('found_in_release_id')} as in_release
      from defect_states
      where project_id = ${projectId} and valid_from <= ${asOf} and valid_to > ${asOf} and not merged ${component('component')}
    )`;

  const ageBucket = ageBucketOf(sql.ref('created_at'), asOf);
  const summaryPart: MetricsPart = {
    ctes: [
      sql`summary as (
      select release_id as "releaseId", component, origin, is_done as "isDone",
             case when not is_done then ${ageBucket} end as "ageBucket",
             in_release as "inRelease", count(*)::int as defects,
             count(*) filter (where first_resolved_at is not null and ${inWindow('first_resolved_at')})::int as resolved,
             count(*) filter (where first_resolved_at is not null and ${inWindow('first_resolved_at')} and reopen_count > 0)::int as reopened,
             coalesce(sum(reopen_count) filter (where first_resolved_at is not null and ${inWindow('first_resolved_at')}), 0)::int as reopens
      from scope group by 1, 2, 3, 4, 5, 6
    )`,
    ],
    columns: [sql`(select json_agg(summary) from summary) as summary`],
  };

  const mttrPart: MetricsPart = {
    ctes: [
      sql`mttr as (
      select grouping(severity) as "bySeverity", grouping(component) as "byComponent", severity, component, count(*)::int as count,
             sum(hours)::float8 as "totalHours", percentile_cont(0.5) within group (order by hours)::float8 as "medianHours"
      from (
        select severity, component, extract(epoch from resolved_at - created_at)::float8 / 3600 as hours
        from scope where in_release and status in (${repaired}) and ${inWindow('resolved_at')}
      ) repaired
      group by grouping sets ((), (severity), (component))
    )`,
    ],
    columns: [sql`(select json_agg(mttr) from mttr) as mttr`],
  };

  // Escaped defects are counted by the summary (origin and component are among its keys); this
  // part adds what needs the links: which escaped defects have a test, and the ineffective ones.
  const escapedPart: MetricsPart = {
    ctes: [
      sql`links as (
      -- covering links at asOf (server/test-management/coverage-definition.ts); each carries the
      -- defect's release, creation time, component and number, so no second pass over scope
      select l.defect_id, l.test_case_id, m.release_id, m.created_at, m.component, ${fromFacts ? sql`m.number` : sql`null::int`} as number
      from (${coveringLinks(asOf)}) l
      join scope m on m.defect_id = l.defect_id
      where m.origin = 'field' and m.in_release
    )`,
      // when each linked test case first passed on each release (one pass over their results),
      // with the test case's key, so the defects' key lists need no lookup per link
      sql`first_passes as (
      select r.test_case_id, u.release_id, min(r.created_at) as first_passed_at, min(c.key) as key
      from test_results r join test_runs u on u.id = r.test_run_id join test_cases c on c.id = r.test_case_id
      where u.project_id = ${projectId} and u.release_id is not null and r.status = 'passed' and r.created_at <= ${asOf}
        and r.test_case_id in (select test_case_id from links)
      group by 1, 2
    )`,
      // linked tests that passed on the defect's release before the defect was found
      sql`ineffective as (
      select l.defect_id, l.number, array_agg(distinct p.key order by p.key) as test_case_keys
      from links l
      join first_passes p on p.test_case_id = l.test_case_id and p.release_id = l.release_id and p.first_passed_at <= l.created_at
      group by l.defect_id, l.number
    )`,
      sql`covered as (select distinct defect_id, component from links)`,
    ],
    columns: [
      sql`(select json_build_object(
          'covered', (select count(*) from covered), 'ineffective', (select count(*) from ineffective),
          'defects', (select json_agg(json_build_object('defectId', listed.defect_id, 'defectKey', listed.key, 'testCaseKeys', listed.test_case_keys) order by listed.number)
                      from ${fromFacts
                        // the facts carry the number: only the listed defects are looked up for their key
                        ? sql`(select i.defect_id, d.key, i.number, i.test_case_keys
                               from (select defect_id, number, test_case_keys from ineffective order by number limit ${listLimit}) i
                               join defects d on d.id = i.defect_id)`
                        : sql`(select i.defect_id, d.key, d.number, i.test_case_keys from ineffective i join defects d on d.id = i.defect_id
                               order by d.number limit ${listLimit})`} listed))) as escaped`,
      sql`(select json_agg(json_build_object('component', component, 'covered', covered))
       from (select component, count(*)::int as covered from covered group by component) per_component) as covered_by_component`,
    ],
  };

  const throughputPart: MetricsPart = {
    ctes: [
      sql`weeks as (
      select generate_series(date_trunc('week', ${throughputStart}::timestamptz at time zone ${timeZone}),
                             date_trunc('week', ${windowEnd}::timestamptz at time zone ${timeZone}), interval '1 week') as week_start
    )`,
      sql`created_weeks as (
      select date_trunc('week', created_at at time zone ${timeZone}) as week_start, count(*)::int as count
      from scope where in_release and created_at >= ${throughputStart} and ${inWindow('created_at')}
      group by 1
    )`,
      ...(fromFacts
        ? [
            // The entries into done of the defects counted now, from the kept counts, corrected
            // for the defects changed after asOf: each of their entries in the range is taken
            // off where it counts now and put back where the defect stood at asOf. Every other
            // defect counted now stood at asOf as it stands now, and one created after asOf has
            // no entry in a window that ends by asOf. Replaces a join of every resolution in the
            // range with the whole scope (bench:metrics, 2026-12-04).
            ...resolutionWeeks({ projectId, timeZone, component: query.component, release, throughputStart, windowStart, windowEnd }, 'resolved_now'),
            sql`resolved_changes as (
      select date_trunc('week', s.valid_from at time zone ${timeZone}) as week_start,
             sum(case when not c.merged ${component('c.component')} and ${inRelease('c.found_in_release_id')} then 1 else 0 end
               - case when ${countedNow('f', { projectId, component: query.component, release })} then 1 else 0 end)::int as count
      from changed c
      join defect_states s on s.defect_id = c.defect_id
      left join defect_current_facts f on f.defect_id = c.defect_id
      where s.project_id = ${projectId} and s.is_done and s.resolved_at = s.valid_from
        and s.valid_from >= ${throughputStart} and ${inWindow('s.valid_from')}
      group by 1
    )`,
            sql`resolved_weeks as (
      select week_start, sum(count)::int as count
      from (select week_start, count from resolved_now union all select week_start, count from resolved_changes) entries
      group by 1
    )`,
          ]
        : [
            sql`resolved_weeks as (
      select date_trunc('week', s.valid_from at time zone ${timeZone}) as week_start, count(*)::int as count
      from defect_states s join scope m on m.defect_id = s.defect_id
      where s.project_id = ${projectId} and s.is_done and s.resolved_at = s.valid_from and m.in_release
        and s.valid_from >= ${throughputStart} and ${inWindow('s.valid_from')}
      group by 1
    )`,
          ]),
    ],
    columns: [
      sql`(select json_agg(json_build_object('week', to_char(w.week_start, 'IYYY-"W"IW'), 'start', to_char(w.week_start, 'YYYY-MM-DD'),
                                         'created', coalesce(c.count, 0), 'resolved', coalesce(r.count, 0)) order by w.week_start)
       from weeks w left join created_weeks c on c.week_start = w.week_start left join resolved_weeks r on r.week_start = w.week_start) as throughput`,
    ],
  };

  // Reports received in the window on counted defects, from each defect's tally (one small row)
  // instead of every report: see server/metrics/report-tallies.ts.
  const duplicatesPart: MetricsPart = {
    ctes: [
      sql`duplicates as (
      select coalesce(sum(received), 0)::int as reports, count(*) filter (where received > 0)::int as defects
      from ${fromFacts
        // the facts' copy of each defect's tally (kept equal to it by the triggers): no join
        ? sql`(
        select ${reportsReceivedBetween('m', sql.ref('m.defect_id'), projectId, windowStart, windowEnd)} as received
        from scope m
        where m.in_release and m.reports > 0 and m.last_received_at >= ${windowStart} and m.first_received_at <= ${windowEnd}
      )`
        : sql`(
        select ${reportsReceivedBetween('t', sql.ref('m.defect_id'), projectId, windowStart, windowEnd)} as received
        from scope m join defect_report_tallies t on t.defect_id = m.defect_id
        -- only tallies whose bounds reach into the window can count a report: a narrow window
        -- joins the scope to few rows (a defect without one adds no report and no defect)
        where m.in_release and t.project_id = ${projectId} and t.last_received_at >= ${windowStart} and t.first_received_at <= ${windowEnd}
      )`} per_defect
    )`,
    ],
    columns: [sql`(select row_to_json(duplicates) from duplicates) as duplicates`],
  };

  const statementOf = (parts: MetricsPart[]) =>
    sql<Partial<SnapshotRow>>`with ${sql.join([scope, ...parts.flatMap((part) => part.ctes)])} select ${sql.join(parts.flatMap((part) => part.columns))}`;
  const prepare = async (trx: Transaction<Database>) => {
    await sql`set local work_mem = '64MB'`.execute(trx);
    // JIT compiling this statement costs more (~200 ms) than running it; estimates over the
    // materialized scope are rough enough to cross jit_above_cost now and then
    await sql`set local jit = off`.execute(trx);
  };
  // Two groups of about equal cost on the metrics bench (PostgreSQL, 100k defects). Each group
  // materializes the scope again (~40–60 ms of CPU), so more groups than cores cost more than
  // they save: three groups were slower than two on a 2-core machine.
  const parallelGroups = [[summaryPart, duplicatesPart, throughputPart], [mttrPart, escapedPart]];
  const computeSnapshot = async (): Promise<SnapshotRow & { ageCounts?: number[]; flow?: { resolved: number; reopened: number; reopens: number } | null }> => {
    // The current state answers most requests ("as of now"), in one snapshot with its check.
    const current = options.currentState === false ? null : await db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        await prepare(trx);
        const mode = await currentStateApplies(trx, query);
        return mode ? currentSnapshot(trx, query, mode) : null;
      });
    if (current) return current;
    const parts = await options.snapshotReader?.run(
      parallelGroups.map((group) => async (trx: Transaction<Database>) => {
        await prepare(trx);
        return (await statementOf(group).execute(trx)).rows[0];
      }),
    );
    if (parts) return Object.assign({}, ...parts) as SnapshotRow;
    return db.transaction().execute(async (trx) => {
      await prepare(trx);
      return (await statementOf([summaryPart, mttrPart, escapedPart, throughputPart, duplicatesPart]).execute(trx)).rows[0] as SnapshotRow;
    });
  };

  const [result, releases, testCasesPerComponent, project] = await Promise.all([
    computeSnapshot(),
    orderedReleases(db, projectId),
    db
      .selectFrom('testCases')
      .select(['component', (eb) => eb.fn.countAll<number>().as('count')])
      .where('projectId', '=', projectId)
      .where('createdAt', '<=', asOf)
      .where((eb) => eb.or([eb('archivedAt', 'is', null), eb('archivedAt', '>', asOf)]))
      .$if(Boolean(query.component), (builder) => builder.where('component', '=', query.component))
      .groupBy('component')
      .execute(),
    db.selectFrom('projects').select('settings').where('id', '=', projectId).executeTakeFirstOrThrow(),
  ]);
  const { byRelease, selected, perComponent, escapedPerComponent, ...scopeAges } = summarizeScope(result.summary ?? []);
  let { ageCounts } = scopeAges;
  if (result.ageCounts) {
    ageCounts = result.ageCounts;
    selected.open = ageCounts.reduce((total, count) => total + count, 0);
  }
  if (result.flow) Object.assign(selected, result.flow);

  const leakageByRelease = releases
    .filter((entry) => byRelease.has(entry.id))
    .map((entry) => ({ releaseId: entry.id, version: entry.version, ...ratio(byRelease.get(entry.id)!.escaped, byRelease.get(entry.id)!.found) }));
  const selectedLeakage = ratio(selected.escaped, selected.found);

  const mttrRows = result.mttr ?? [];
  const toRepairTime = (row: (typeof mttrRows)[number] | undefined) => repairTime(row?.totalHours ?? 0, row?.count ?? 0, row?.medianHours ?? null);
  // grouping(x) = 1 means "rolled up over x": the severity rows roll up component and vice versa
  const overall = mttrRows.find((row) => row.bySeverity === 1 && row.byComponent === 1);
  const bySeverity = mttrRows
    .filter((row) => row.bySeverity === 0)
    .sort((a, b) => severityRank(a.severity) - severityRank(b.severity))
    .map((row) => ({ severity: row.severity, ...toRepairTime(row) }));
  const byComponent = mttrRows
    .filter((row) => row.byComponent === 0)
    .sort((a, b) => (a.component ?? '\uffff').localeCompare(b.component ?? '\uffff'))
    .map((row) => ({ component: row.component, ...toRepairTime(row) }));

  const density = componentDensity(
    perComponent,
    new Map(testCasesPerComponent.map((row) => [row.component, Number(row.count)])),
    componentSizesFromSettings(project.settings),
  );
  const { escaped, duplicates } = result;
  const coveredPerComponent = new Map((result.coveredByComponent ?? []).map((entry) => [entry.component, entry.covered]));
  const escapedByComponent = await orderComponents(
    db,
    [...escapedPerComponent].map(([name, count]) => ({ component: name, escaped: count, withoutCoverage: ratio(count - (coveredPerComponent.get(name) ?? 0), count) })),
  );
  return {
    projectId,
    asOf: asOf.toISOString(),
    timeZone,
    filters: { release, component: query.component, from: from?.toISOString() ?? null, to: query.to?.toISOString() ?? null },
    metrics: {
      defectLeakage: selectedLeakage,
      defectDetectionPercentage: complement(selectedLeakage),
      leakageByRelease,
      escapedWithoutCoverage: ratio(selected.escaped - escaped.covered, selected.escaped),
      escapedByComponent,
      ineffectiveTests: { ...ratio(escaped.ineffective, escaped.covered), defects: escaped.defects ?? [] },
      mttr: { overall: toRepairTime(overall), bySeverity, byComponent },
      reopenRate: { ...ratio(selected.reopened, selected.resolved), reopens: selected.reopens },
      defectAge: { open: selected.open, buckets: ageBuckets.map((bucket, index) => ({ ...bucket, count: ageCounts[index] })) },
      density,
      throughput: { weeks: result.throughput ?? [] },
      reportsPerDefect: ratio(duplicates.reports, duplicates.defects),
      duplicateRate: ratio(duplicates.reports - duplicates.defects, duplicates.reports),
    },
  };
}
