import { type Kysely, type RawBuilder, type Transaction, sql } from 'kysely';
import type { Database } from '../db/schema';
import { AppError } from '../http/app-error';
import { isUuid } from '../projects/project-service';
import {
  type ComponentDensity,
  type Ratio,
  type ReleaseOrderFields,
  type RepairTime,
  ageBucketThresholds,
  ageBuckets,
  compareReleases,
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
 * sources: docs/metrics.md. All queries read one request-scoped snapshot (`metric_scope`):
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
  /** The instant the defects are looked at (default: `to`, else now). */
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

/** The project's releases in release order (semver, then first seen). */
export async function orderedReleases(db: Kysely<Database> | Transaction<Database>, projectId: string): Promise<(ReleaseSummary & ReleaseOrderFields)[]> {
  const rows = await db
    .selectFrom('releases')
    .select(['id', 'version', 'releasedAt', 'semverMajor', 'semverMinor', 'semverPatch', 'semverPrerelease', 'firstSeenAt'])
    .where('projectId', '=', projectId)
    .execute();
  return rows.sort(compareReleases);
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
  const asOf = input.asOf ? parseInstant(input.asOf, timeZone, 'end', 'asOf') : (to ?? now);
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

/**
 * Fills the transaction's `metric_scope` temp table: every defect that existed at `asOf` and
 * was not merged away by then, with its state at that instant. Dropped at commit.
 */
export async function createScope(trx: Transaction<Database>, projectId: string, asOf: Date, component: string | null): Promise<void> {
  await sql`
    create temp table metric_scope on commit drop as
    select defect_id, created_at, status, is_done, origin, severity, component, found_in_release_id as release_id,
           reopen_count, resolved_at, first_resolved_at
    from defect_states
    where project_id = ${projectId} and valid_from <= ${asOf} and valid_to > ${asOf} and not merged
      ${component ? sql`and component = ${component}` : sql``}
  `.execute(trx);
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

const releaseCondition = (release: ReleaseSummary | null): RawBuilder<unknown> =>
  release ? sql`and release_id = ${release.id}` : sql``;

/** Computes every metric of the request in one read-only transaction over one snapshot. */
export async function computeMetrics(db: Kysely<Database>, query: MetricsQuery): Promise<MetricsReport> {
  const { projectId, asOf, from, release, timeZone } = query;
  const windowEnd = query.to ?? asOf;
  return db.transaction().execute(async (trx) => {
    await createScope(trx, projectId, asOf, query.component);
    const inRelease = releaseCondition(release);
    const inWindow = (column: string) => sql`and ${sql.ref(column)} <= ${windowEnd} ${from ? sql`and ${sql.ref(column)} >= ${from}` : sql``}`;

    const releases = await orderedReleases(trx, projectId);
    const leakageRows = await sql<{ releaseId: string | null; escaped: number; found: number }>`
      select release_id, count(*) filter (where origin = 'field')::int as escaped, count(*)::int as found
      from metric_scope group by release_id
    `.execute(trx);
    const leakageByReleaseId = new Map(leakageRows.rows.map((row) => [row.releaseId, row]));
    const leakageByRelease = releases
      .filter((entry) => leakageByReleaseId.has(entry.id))
      .map((entry) => ({ releaseId: entry.id, version: entry.version, ...ratio(leakageByReleaseId.get(entry.id)!.escaped, leakageByReleaseId.get(entry.id)!.found) }));
    const selectedLeakage = release
      ? ratio(leakageByReleaseId.get(release.id)?.escaped ?? 0, leakageByReleaseId.get(release.id)?.found ?? 0)
      : ratio(sum(leakageRows.rows.map((row) => row.escaped)), sum(leakageRows.rows.map((row) => row.found)));

    const escapedRows = await sql<{ escaped: number; covered: number; ineffective: number; ineffectiveDefects: IneffectiveTest[] | null }>`
      with links as (
        select l.defect_id, l.test_case_id from defect_test_links l
        join metric_scope m on m.defect_id = l.defect_id
        where m.origin = 'field' and l.created_at <= ${asOf}
      ),
      -- when each test case first passed on each release (set-based: one pass over the results)
      first_passes as (
        select r.test_case_id, u.release_id, min(r.created_at) as first_passed_at
        from test_results r join test_runs u on u.id = r.test_run_id
        where u.project_id = ${projectId} and u.release_id is not null and r.status = 'passed' and r.created_at <= ${asOf}
          and r.test_case_id in (select test_case_id from links)
        group by 1, 2
      ),
      ineffective as (
        -- linked tests that passed on the defect's release before the defect was found
        select l.defect_id, array_agg(distinct c.key order by c.key) as test_case_keys
        from links l
        join metric_scope m on m.defect_id = l.defect_id
        join first_passes p on p.test_case_id = l.test_case_id and p.release_id = m.release_id and p.first_passed_at <= m.created_at
        join test_cases c on c.id = l.test_case_id
        group by l.defect_id
      ),
      escaped as (
        select m.defect_id, m.defect_id in (select defect_id from links) as covered, i.test_case_keys as ineffective_tests
        from metric_scope m left join ineffective i on i.defect_id = m.defect_id
        where m.origin = 'field' ${inRelease}
      )
      select count(*)::int as escaped, count(*) filter (where covered)::int as covered,
             count(*) filter (where ineffective_tests is not null)::int as ineffective,
             (select json_agg(json_build_object('defectId', listed.defect_id, 'defectKey', listed.key, 'testCaseKeys', listed.ineffective_tests) order by listed.number)
                from (select e.defect_id, d.key, d.number, e.ineffective_tests from escaped e join defects d on d.id = e.defect_id
                      where e.ineffective_tests is not null order by d.number limit ${listLimit}) listed) as ineffective_defects
      from escaped
    `.execute(trx);
    const escapedCounts = escapedRows.rows[0];

    const mttrRows = await sql<{ bySeverity: number; byComponent: number; severity: string | null; component: string | null; count: number; totalHours: number | null; medianHours: number | null }>`
      select grouping(severity) as by_severity, grouping(component) as by_component, severity, component, count(*)::int as count,
             sum(hours)::float8 as total_hours, percentile_cont(0.5) within group (order by hours)::float8 as median_hours
      from (
        select severity, component, extract(epoch from resolved_at - created_at)::float8 / 3600 as hours
        from metric_scope
        where status in (${sql.join(repairedStatuses.map((status) => sql`${status}`))}) ${inRelease} ${inWindow('resolved_at')}
      ) repaired
      group by grouping sets ((), (severity), (component))
    `.execute(trx);
    const toRepairTime = (row: (typeof mttrRows.rows)[number] | undefined) => repairTime(row?.totalHours ?? 0, row?.count ?? 0, row?.medianHours ?? null);
    // grouping(x) = 1 means "rolled up over x": the severity rows roll up component and vice versa
    const overall = mttrRows.rows.find((row) => row.bySeverity === 1 && row.byComponent === 1);
    const bySeverity = mttrRows.rows
      .filter((row) => row.bySeverity === 0)
      .sort((a, b) => severityRank(a.severity) - severityRank(b.severity))
      .map((row) => ({ severity: row.severity, ...toRepairTime(row) }));
    const byComponent = mttrRows.rows
      .filter((row) => row.byComponent === 0)
      .sort((a, b) => (a.component ?? '\uffff').localeCompare(b.component ?? '\uffff'))
      .map((row) => ({ component: row.component, ...toRepairTime(row) }));

    const reopen = await sql<{ reopened: number; resolved: number; reopens: number }>`
      select count(*) filter (where reopen_count > 0)::int as reopened, count(*)::int as resolved, coalesce(sum(reopen_count), 0)::int as reopens
      from metric_scope where first_resolved_at is not null ${inRelease} ${inWindow('first_resolved_at')}
    `.execute(trx);

    const ageRows = await sql<{ bucket: number; count: number }>`
      select width_bucket(extract(epoch from ${asOf}::timestamptz - created_at)::float8 / 86400, ${sql.raw(`array[${ageBucketThresholds.join(',')}]::float8[]`)}) as bucket,
             count(*)::int as count
      from metric_scope where not is_done ${inRelease}
      group by 1
    `.execute(trx);
    const ageCounts = new Map(ageRows.rows.map((row) => [row.bucket, row.count]));

    const defectsPerComponent = await sql<{ component: string | null; count: number }>`
      select component, count(*)::int as count from metric_scope where true ${inRelease} group by component
    `.execute(trx);
    const testCasesPerComponent = await sql<{ component: string | null; count: number }>`
      select component, count(*)::int as count from test_cases
      where project_id = ${projectId} and created_at <= ${asOf} and (archived_at is null or archived_at > ${asOf})
        ${query.component ? sql`and component = ${query.component}` : sql``}
      group by component
    `.execute(trx);
    const project = await trx.selectFrom('projects').select('settings').where('id', '=', projectId).executeTakeFirstOrThrow();
    const density = componentDensity(
      new Map(defectsPerComponent.rows.map((row) => [row.component, row.count])),
      new Map(testCasesPerComponent.rows.map((row) => [row.component, row.count])),
      componentSizesFromSettings(project.settings),
    );

    // Without `from`, throughput shows the 12 ISO weeks ending with the week of the window's end.
    const throughputStart = from ?? new Date(windowEnd.getTime() - 11 * 7 * 86_400_000);
    const throughput = await sql<{ week: string; start: string; created: number; resolved: number }>`
      with weeks as (
        select generate_series(date_trunc('week', ${throughputStart}::timestamptz at time zone ${timeZone}),
                               date_trunc('week', ${windowEnd}::timestamptz at time zone ${timeZone}), interval '1 week') as week_start
      ),
      created as (
        select date_trunc('week', created_at at time zone ${timeZone}) as week_start, count(*)::int as count
        from metric_scope where created_at >= ${from ?? new Date(0)} and created_at <= ${windowEnd} ${inRelease}
        group by 1
      ),
      resolved as (
        select date_trunc('week', s.valid_from at time zone ${timeZone}) as week_start, count(*)::int as count
        from defect_states s join metric_scope m on m.defect_id = s.defect_id
        where s.project_id = ${projectId} and s.is_done and s.resolved_at = s.valid_from
          and s.valid_from >= ${from ?? new Date(0)} and s.valid_from <= ${windowEnd} ${release ? sql`and m.release_id = ${release.id}` : sql``}
        group by 1
      )
      select to_char(w.week_start, 'IYYY-"W"IW') as week, to_char(w.week_start, 'YYYY-MM-DD') as start,
             coalesce(c.count, 0) as created, coalesce(r.count, 0) as resolved
      from weeks w left join created c on c.week_start = w.week_start left join resolved r on r.week_start = w.week_start
      order by w.week_start
    `.execute(trx);

    const duplicates = await sql<{ reports: number; defects: number }>`
      select count(*)::int as reports, count(distinct r.defect_id)::int as defects
      from reports r join metric_scope m on m.defect_id = r.defect_id
      where r.project_id = ${projectId} ${inWindow('r.received_at')} ${release ? sql`and m.release_id = ${release.id}` : sql``}
    `.execute(trx);
    const { reports, defects } = duplicates.rows[0];

    const openCount = sum(ageRows.rows.map((row) => row.count));
    return {
      projectId,
      asOf: asOf.toISOString(),
      timeZone,
      filters: { release, component: query.component, from: from?.toISOString() ?? null, to: query.to?.toISOString() ?? null },
      metrics: {
        defectLeakage: selectedLeakage,
        defectDetectionPercentage: complement(selectedLeakage),
        leakageByRelease,
        escapedWithoutCoverage: ratio(escapedCounts.escaped - escapedCounts.covered, escapedCounts.escaped),
        ineffectiveTests: { ...ratio(escapedCounts.ineffective, escapedCounts.covered), defects: escapedCounts.ineffectiveDefects ?? [] },
        mttr: { overall: toRepairTime(overall), bySeverity, byComponent },
        reopenRate: { ...ratio(reopen.rows[0].reopened, reopen.rows[0].resolved), reopens: reopen.rows[0].reopens },
        defectAge: {
          open: openCount,
          buckets: ageBuckets.map((bucket, index) => ({ ...bucket, count: ageCounts.get(index) ?? 0 })),
        },
        density,
        throughput: { weeks: throughput.rows },
        reportsPerDefect: ratio(reports, defects),
        duplicateRate: ratio(reports - defects, reports),
      },
    };
  });
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
