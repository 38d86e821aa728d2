import { type Kysely, type Transaction, sql } from 'kysely';
import type { Database } from '../db/schema';
import type { SharedSnapshotReader } from '../db/shared-snapshot';
import { AppError } from '../http/app-error';
import { coveringLinks, hasCoveringTest } from '../test-management/coverage-definition';
import {
  type ReadinessCheck,
  type Ratio,
  compareTestPriority,
  ratio,
  readinessChecks,
  severityRank,
  toCsv,
} from './metric-math';
import { currentStateHolds } from './current-metrics';
import { type ReleaseSummary, findRelease, listLimit, orderedReleases } from './metrics-service';

/** How many releases the leakage trend shows, ending with the release itself. */
export const leakageTrendLength = 10;

/** One test case whose latest result on the release's builds is failed or error. */
export interface FailingTest {
  testCaseId: string;
  key: string;
  title: string;
  priority: string | null;
  component: string | null;
  status: 'failed' | 'error';
  build: string | null;
  at: Date;
}

/** An open defect named on the readiness page (blockers and criticals). */
export interface OpenDefect {
  defectId: string;
  key: string;
  title: string;
  severity: string | null;
  status: string;
}

/** An escaped defect of the previous release and the tests it has now. */
export interface PreviousEscape {
  defectId: string;
  key: string;
  title: string;
  status: string;
  testCaseKeys: string[];
  hasTest: boolean;
  /** Whether one of its linked tests passed on this release's builds (the regression is checked). */
  testPassedOnRelease: boolean;
}

/** The evidence for a go/no-go call on one release (`GET …/releases/:release/readiness`). */
export interface ReadinessReport {
  projectId: string;
  asOf: string;
  release: ReleaseSummary;
  previousRelease: ReleaseSummary | null;
  tests: {
    runs: number;
    builds: string[];
    planned: number;
    /** Planned test cases with a result (not skipped) on the release's builds ÷ planned. */
    executed: Ratio;
    /** Test cases whose latest result is passed ÷ executed. */
    passRate: Ratio;
    failingByPriority: { priority: string | null; count: number }[];
    failing: FailingTest[];
  };
  openDefects: {
    total: number;
    bySeverity: { severity: string | null; count: number }[];
    /** Open blocker and critical defects, blockers first. */
    blocking: OpenDefect[];
  };
  previousReleaseEscapes: { total: number; withTests: number; defects: PreviousEscape[] };
  leakageTrend: ({ releaseId: string; version: string } & Ratio)[];
  checks: ReadinessCheck[];
}

/**
 * Gathers the readiness evidence for `releaseReference` (an id or a version) as of `asOf`.
 * "The release's builds" are the test runs recorded with that release.
 */
export async function computeReadiness(
  db: Kysely<Database>,
  projectId: string,
  releaseReference: string,
  asOf: Date,
  /** `currentState: false` reads the history intervals only (see `MetricsComputeOptions`). */
  options: { snapshotReader?: SharedSnapshotReader | null; currentState?: boolean } = {},
): Promise<ReadinessReport> {
  const release = await findRelease(db, projectId, releaseReference);
  if (!release) throw new AppError('not_found', `release "${releaseReference}" not found`);

  // The test sections and the defect sections are independent: on PostgreSQL they run at once
  // on two connections sharing one snapshot (server/db/shared-snapshot.ts), else one after the other.
  const testSections = async (trx: Transaction<Database>) => {
    await sql`set local work_mem = '64MB'`.execute(trx);
    const runs = await sql<{ runs: number; builds: string[] | null }>`
      select count(*)::int as runs, array_agg(distinct build order by build) filter (where build is not null) as builds
      from test_runs where project_id = ${projectId} and release_id = ${release.id} and created_at <= ${asOf}
    `.execute(trx);

    // The latest result that is not "skipped" of every planned test case, on this release's runs.
    const tests = await sql<{ planned: number; executed: number; passed: number }>`
      with planned as (
        select id from test_cases
        where project_id = ${projectId} and created_at <= ${asOf} and (archived_at is null or archived_at > ${asOf})
      ),
      latest as (
        select distinct on (r.test_case_id) r.test_case_id, r.status
        from test_results r join test_runs u on u.id = r.test_run_id
        where u.project_id = ${projectId} and u.release_id = ${release.id} and r.created_at <= ${asOf} and r.status <> 'skipped'
          and r.test_case_id in (select id from planned)
        order by r.test_case_id, r.created_at desc, r.id desc
      )
      select (select count(*) from planned)::int as planned, count(*)::int as executed,
             count(*) filter (where status = 'passed')::int as passed
      from latest
    `.execute(trx);
    const failing = await sql<FailingTest>`
      select * from (
        select distinct on (r.test_case_id) r.test_case_id, c.key, c.title, c.priority, c.component, r.status, u.build, r.created_at as at
        from test_results r join test_runs u on u.id = r.test_run_id join test_cases c on c.id = r.test_case_id
        where u.project_id = ${projectId} and u.release_id = ${release.id} and r.created_at <= ${asOf} and r.status <> 'skipped'
          and c.created_at <= ${asOf} and (c.archived_at is null or c.archived_at > ${asOf})
        order by r.test_case_id, r.created_at desc, r.id desc
      ) latest
      where status in ('failed', 'error')
    `.execute(trx);
    return { runs, tests, failing };
  };

  const defectSectionsOf = async (trx: Transaction<Database>) => {
    const releases = await orderedReleases(trx, projectId);
    const position = releases.findIndex((entry) => entry.id === release.id);
    const previous = position > 0 ? releases[position - 1] : null;
    await sql`set local work_mem = '64MB'`.execute(trx);
    // Defects as they stood at asOf (merged ones out), read once for all the defect sections;
    // when nothing changed after asOf, from the current state kept by the database: its counts
    // for leakage and open defects, and the facts of the two releases named.
    const current = options.currentState !== false && (await currentStateHolds(trx, projectId, asOf));
    const scopeSql = current
      ? sql`scope as materialized (
        select defect_id, release_id, origin, is_done, severity, status from defect_current_facts
        where project_id = ${projectId} and not stale and not merged
          and (release_id = ${release.id}::uuid or release_id = ${previous?.id ?? null}::uuid)
      ),
      leakage as (
        select release_id as "releaseId", sum(defects) filter (where origin = 'field')::int as escaped, sum(defects)::int as found
        from defect_current_groups where project_id = ${projectId} and release_id is not null and defects > 0 group by release_id
      ),
      open_by_severity as (
        select severity, sum(defects)::int as count from defect_current_groups
        where project_id = ${projectId} and release_id = ${release.id} and not is_done and defects > 0 group by severity
      )`
      : sql`scope as materialized (
        select defect_id, found_in_release_id as release_id, origin, is_done, severity, status
        from defect_states
        where project_id = ${projectId} and valid_from <= ${asOf} and valid_to > ${asOf} and not merged
      ),
      leakage as (
        select release_id as "releaseId", count(*) filter (where origin = 'field')::int as escaped, count(*)::int as found
        from scope where release_id is not null group by release_id
      ),
      open_by_severity as (
        select severity, count(*)::int as count from scope where release_id = ${release.id} and not is_done group by severity
      )`;
    const defectSections = await sql<{
      leakage: { releaseId: string; escaped: number; found: number }[] | null;
      openBySeverity: { severity: string | null; count: number }[] | null;
      blocking: OpenDefect[] | null;
      previousEscapes: PreviousEscape[] | null;
    }>`
      with ${scopeSql},
      blocking as (
        select m.defect_id as "defectId", d.key, d.title, m.severity, m.status, d.number
        from scope m join defects d on d.id = m.defect_id
        where m.release_id = ${release.id} and not m.is_done and m.severity in ('blocker', 'critical')
        order by d.number limit ${listLimit}
      ),
      previous_escapes as (
        select m.defect_id as "defectId", d.key, d.title, m.status, d.number,
          -- the covering tests only (not archived ones), so the keys agree with hasTest
          coalesce((select array_agg(distinct c.key order by c.key) from (${coveringLinks(asOf)}) l join test_cases c on c.id = l.test_case_id
                    where l.defect_id = m.defect_id), '{}') as "testCaseKeys",
          ${hasCoveringTest(sql.ref('m.defect_id'), asOf)} as "hasTest",
          exists (select 1 from defect_test_links l join test_results r on r.test_case_id = l.test_case_id
                  join test_runs u on u.id = r.test_run_id
                  where l.defect_id = m.defect_id and l.created_at <= ${asOf} and r.status = 'passed'
                    and r.created_at <= ${asOf} and u.release_id = ${release.id}) as "testPassedOnRelease"
        from scope m join defects d on d.id = m.defect_id
        where m.release_id = ${previous?.id ?? null}::uuid and m.origin = 'field'
      )
      select (select json_agg(leakage) from leakage) as leakage,
             (select json_agg(open_by_severity) from open_by_severity) as open_by_severity,
             (select json_agg(json_build_object('defectId', "defectId", 'key', key, 'title', title, 'severity', severity, 'status', status) order by number) from blocking) as blocking,
             (select json_agg(json_build_object('defectId', "defectId", 'key', key, 'title', title, 'status', status, 'testCaseKeys', "testCaseKeys",
                                                'hasTest', "hasTest", 'testPassedOnRelease', "testPassedOnRelease") order by number) from previous_escapes) as previous_escapes
    `.execute(trx);
    return { releases, position, previous, sections: defectSections.rows[0] };
  };

  const [{ runs, tests, failing }, { releases, position, previous, sections }] =
    (await options.snapshotReader?.run([testSections, defectSectionsOf])) ??
    (await db.transaction().execute(async (trx) => [await testSections(trx), await defectSectionsOf(trx)] as const));

  const failingTests = failing.rows.sort((a, b) => compareTestPriority(a.priority, b.priority) || a.key.localeCompare(b.key));
  const failingByPriority: { priority: string | null; count: number }[] = [];
  for (const test of failingTests) {
    const last = failingByPriority.at(-1);
    if (last && last.priority === test.priority) last.count += 1;
    else failingByPriority.push({ priority: test.priority, count: 1 });
  }

  const bySeverity = (sections.openBySeverity ?? []).sort((a, b) => severityRank(a.severity) - severityRank(b.severity));
  const previousEscapes = sections.previousEscapes ?? [];
  const leakageByRelease = new Map((sections.leakage ?? []).map((row) => [row.releaseId, row]));
  const leakageTrend = releases
    .slice(Math.max(0, position + 1 - leakageTrendLength), position + 1)
    .map((entry) => {
      const counts = leakageByRelease.get(entry.id);
      return { releaseId: entry.id, version: entry.version, ...ratio(counts?.escaped ?? 0, counts?.found ?? 0) };
    });

  const { planned, executed, passed } = tests.rows[0];
  const withTests = previousEscapes.filter((escape) => escape.hasTest).length;
  const openTotal = bySeverity.reduce((total, row) => total + row.count, 0);
  return {
    projectId,
    asOf: asOf.toISOString(),
    release,
    previousRelease: previous ? { id: previous.id, version: previous.version, releasedAt: previous.releasedAt } : null,
    tests: {
      runs: runs.rows[0].runs,
      builds: runs.rows[0].builds ?? [],
      planned,
      executed: ratio(executed, planned),
      passRate: ratio(passed, executed),
      failingByPriority,
      failing: failingTests,
    },
    openDefects: { total: openTotal, bySeverity, blocking: sections.blocking ?? [] },
    previousReleaseEscapes: { total: previousEscapes.length, withTests, defects: previousEscapes },
    leakageTrend,
    checks: readinessChecks({
      openBlockers: bySeverity.find((row) => row.severity === 'blocker')?.count ?? 0,
      planned,
      executed,
      failing: failingTests.length,
      previousEscaped: previousEscapes.length,
      previousEscapedWithTests: withTests,
    }),
  };
}

/**
 * The readiness report as one CSV table (section, item, value, numerator, denominator, detail),
 * so a spreadsheet gets every figure with its audit trail.
 */
export function readinessToCsv(report: ReadinessReport): string {
  const rows: unknown[][] = [];
  const add = (section: string, item: string, value: unknown, numerator: unknown = '', denominator: unknown = '', detail: unknown = '') =>
    rows.push([section, item, value, numerator, denominator, detail]);
  add('release', 'version', report.release.version, '', '', report.asOf);
  add('release', 'previous', report.previousRelease?.version ?? '');
  add('tests', 'runs', report.tests.runs, '', '', report.tests.builds.join(' '));
  add('tests', 'planned', report.tests.planned);
  add('tests', 'executed', report.tests.executed.value, report.tests.executed.numerator, report.tests.executed.denominator);
  add('tests', 'pass_rate', report.tests.passRate.value, report.tests.passRate.numerator, report.tests.passRate.denominator);
  for (const group of report.tests.failingByPriority) add('failing_by_priority', group.priority ?? '(none)', group.count);
  for (const test of report.tests.failing) add('failing_test', test.key, test.status, '', '', `${test.title} [${test.priority ?? 'no priority'}]`);
  for (const group of report.openDefects.bySeverity) add('open_defects_by_severity', group.severity ?? '(none)', group.count);
  for (const defect of report.openDefects.blocking) add('open_blocking_defect', defect.key, defect.severity, '', '', defect.title);
  for (const escape of report.previousReleaseEscapes.defects) {
    add('previous_release_escape', escape.key, escape.hasTest ? 'has_test' : 'no_test', '', '', [escape.title, escape.testCaseKeys.join(' ')].filter(Boolean).join(' | '));
  }
  for (const point of report.leakageTrend) add('leakage_trend', point.version, point.value, point.numerator, point.denominator);
  for (const check of report.checks) add('check', check.name, check.passed ? 'pass' : 'fail', '', '', check.detail);
  return toCsv(['section', 'item', 'value', 'numerator', 'denominator', 'detail'], rows);
}
