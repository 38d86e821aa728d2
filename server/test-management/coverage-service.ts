import { type Kysely, sql, type Transaction } from 'kysely';
import type { DefectTestLinkKind } from '../../shared/test-case-schema';
import type { Database } from '../db/schema';
import { type Actor, recordDefectEvent } from '../defects/defect-service';
import { AppError } from '../http/app-error';
import { releaseRanks } from '../releases/release-order';
import { isCoverageGap } from './coverage-definition';
import { scoreSuggestion, textTerms, routeTerms } from './suggestion-score';

type Executor = Kysely<Database> | Transaction<Database>;

async function requireDefect(db: Executor, projectId: string, defectId: string) {
  const defect = /^[0-9a-f-]{36}$/i.test(defectId)
    ? await db.selectFrom('defects').selectAll().where('projectId', '=', projectId).where('id', '=', defectId).executeTakeFirst()
    : await db.selectFrom('defects').selectAll().where('projectId', '=', projectId).where('key', '=', defectId.toUpperCase()).executeTakeFirst();
  if (!defect) throw new AppError('not_found', 'defect not found');
  return defect;
}

/**
 * Links a defect to a test case (covers, failed_in with a result, regression_test_added) and
 * records it in the defect's history. Linking the same pair and kind again updates the result.
 */
export async function linkDefectToTestCase(
  db: Kysely<Database>,
  projectId: string,
  defectId: string,
  link: { testCaseId: string; kind: DefectTestLinkKind; testResultId?: string | number | null },
  actor: Actor,
) {
  return db.transaction().execute(async (trx) => {
    const defect = await requireDefect(trx, projectId, defectId);
    const testCase = await trx.selectFrom('testCases').select(['id', 'key']).where('projectId', '=', projectId).where('id', '=', link.testCaseId).executeTakeFirst();
    if (!testCase) throw new AppError('invalid_request', 'testCaseId: no such test case in this project', { field: 'testCaseId' });
    const resultId = link.testResultId === undefined || link.testResultId === null ? null : String(link.testResultId);
    if (resultId) {
      const result = await trx.selectFrom('testResults').select('id').where('id', '=', resultId).where('testCaseId', '=', testCase.id).executeTakeFirst();
      if (!result) throw new AppError('invalid_request', 'testResultId: no such result of this test case', { field: 'testResultId' });
    } else if (link.kind === 'failed_in') {
      throw new AppError('invalid_request', 'testResultId: a failed_in link names the test result the defect showed up in', { field: 'testResultId' });
    }
    const row = await sql<{ id: string; inserted: boolean }>`
      insert into defect_test_links (defect_id, test_case_id, kind, test_result_id, created_by)
      values (${defect.id}, ${testCase.id}, ${link.kind}, ${resultId}, ${actor.userId ?? null})
      on conflict (defect_id, test_case_id, kind) do update set test_result_id = coalesce(excluded.test_result_id, defect_test_links.test_result_id)
      returning id, (xmax = 0) as inserted
    `.execute(trx);
    if (row.rows[0].inserted) {
      await recordDefectEvent(trx, { projectId, defectId: defect.id, actor, kind: 'test_linked', newValue: { testCaseId: testCase.id, testCaseKey: testCase.key, kind: link.kind } });
    }
    return (await listDefectTestLinks(trx, projectId, defect.id)).find((entry) => entry.id === row.rows[0].id)!;
  });
}

/** Removes a link (history records it). */
export async function unlinkDefectTestCase(db: Kysely<Database>, projectId: string, defectId: string, linkId: string, actor: Actor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const defect = await requireDefect(trx, projectId, defectId);
    const removed = await trx
      .deleteFrom('defectTestLinks')
      .where('id', '=', linkId)
      .where('defectId', '=', defect.id)
      .returning(['testCaseId', 'kind'])
      .executeTakeFirst();
    if (!removed) throw new AppError('not_found', 'link not found');
    await recordDefectEvent(trx, { projectId, defectId: defect.id, actor, kind: 'test_unlinked', oldValue: removed });
  });
}

/** A defect's links with the test case and the linked (or latest) result. */
export async function listDefectTestLinks(db: Executor, projectId: string, defectId: string) {
  const defect = await requireDefect(db, projectId, defectId);
  const rows = await sql<{
    id: string; kind: DefectTestLinkKind; createdAt: Date; testCaseId: string; testCaseKey: string; testCaseTitle: string; testCaseKind: string;
    testResultId: string | null; resultStatus: string | null; resultRunId: string | null; latestStatus: string | null; latestAt: Date | null;
  }>`
    select l.id, l.kind, l.created_at, tc.id as test_case_id, tc.key as test_case_key, tc.title as test_case_title, tc.kind as test_case_kind,
           l.test_result_id, linked.status as result_status, linked.test_run_id as result_run_id,
           latest.status as latest_status, latest.created_at as latest_at
    from defect_test_links l
    join test_cases tc on tc.id = l.test_case_id
    left join test_results linked on linked.id = l.test_result_id
    left join lateral (select r.status, r.created_at from test_results r where r.test_case_id = tc.id order by r.id desc limit 1) latest on true
    where l.defect_id = ${defect.id}
    order by l.created_at, l.id
  `.execute(db);
  return rows.rows;
}

export interface CoverageFilters {
  /** Only defects found in this release (version string). */
  release?: string;
  /** Only this defect (its id). */
  defectId?: string;
}

async function releaseIdFor(db: Executor, projectId: string, version: string | undefined): Promise<string | null | undefined> {
  if (!version) return undefined;
  const release = await db.selectFrom('releases').select('id').where('projectId', '=', projectId).where('version', '=', version.trim()).executeTakeFirst();
  return release?.id ?? null;
}

/** Coverage gaps (coverage-definition.ts: field defects with no linked test case that is not archived), not merged, newest first. */
export async function coverageGaps(db: Executor, projectId: string, filters: CoverageFilters = {}) {
  const releaseId = await releaseIdFor(db, projectId, filters.release);
  if (releaseId === null) return [];
  let query = db
    .selectFrom('defects as d')
    .leftJoin('releases as r', 'r.id', 'd.foundInReleaseId')
    .select(['d.id', 'd.key', 'd.title', 'd.status', 'd.component', 'd.route', 'd.reportCount', 'd.createdAt', 'r.version as foundInRelease'])
    .where('d.projectId', '=', projectId)
    .where('d.mergedIntoId', 'is', null)
    .where(isCoverageGap({ id: sql.ref('d.id'), origin: sql.ref('d.origin') }));
  if (releaseId) query = query.where('d.foundInReleaseId', '=', releaseId);
  return query.orderBy('d.createdAt', 'desc').limit(1000).execute();
}

/**
 * Ineffective tests: a field defect escaped in release R although a test that covers it passed
 * there: its latest result among the runs of R (the last run of R that ran it) is `passed`.
 */
export async function ineffectiveTests(db: Executor, projectId: string, filters: CoverageFilters = {}) {
  const releaseId = await releaseIdFor(db, projectId, filters.release);
  if (releaseId === null) return [];
  const rows = await sql<{
    defectId: string; defectKey: string; defectTitle: string; foundInRelease: string; testCaseId: string; testCaseKey: string; testCaseTitle: string;
    testResultId: string; testRunId: string; passedAt: Date;
  }>`
    select d.id as defect_id, d.key as defect_key, d.title as defect_title, rel.version as found_in_release,
           tc.id as test_case_id, tc.key as test_case_key, tc.title as test_case_title,
           last.id as test_result_id, last.test_run_id, last.created_at as passed_at
    from defects d
    join releases rel on rel.id = d.found_in_release_id
    join defect_test_links l on l.defect_id = d.id and l.kind = 'covers'
    join test_cases tc on tc.id = l.test_case_id
    join lateral (
      select r.id, r.status, r.test_run_id, r.created_at
      from test_results r join test_runs t on t.id = r.test_run_id
      where r.test_case_id = tc.id and t.release_id = d.found_in_release_id and r.status <> 'skipped'
      order by t.created_at desc, r.id desc
      limit 1
    ) last on true
    where d.project_id = ${projectId} and d.origin = 'field' and d.merged_into_id is null and last.status = 'passed'
      ${releaseId ? sql`and d.found_in_release_id = ${releaseId}` : sql``}
      ${filters.defectId ? sql`and d.id = ${filters.defectId}` : sql``}
    order by d.created_at desc, tc.key
    limit 1000
  `.execute(db);
  return rows.rows;
}

export interface VerifiedByTest {
  defectId: string;
  defectKey: string;
  fixedInRelease: string;
  verified: boolean;
  /** The passing result that verifies the fix, when there is one. */
  testCaseKey: string | null;
  release: string | null;
  testResultId: string | null;
}

/**
 * "Verified by test": a defect with a fixed-in release and a regression test added, whose
 * regression test passed on a release at or after the fixed-in one (release order: semantic
 * version, then first seen). Defects without a regression test are not listed.
 */
export async function verifiedByTest(db: Executor, projectId: string, defectIds?: string[]): Promise<VerifiedByTest[]> {
  let query = db
    .selectFrom('defects as d')
    .innerJoin('releases as fixed', 'fixed.id', 'd.fixedInReleaseId')
    .innerJoin('defectTestLinks as l', (join) => join.onRef('l.defectId', '=', 'd.id').on('l.kind', '=', 'regression_test_added'))
    .innerJoin('testCases as tc', 'tc.id', 'l.testCaseId')
    .leftJoin('testResults as r', (join) => join.onRef('r.testCaseId', '=', 'tc.id').on('r.status', '=', 'passed'))
    .leftJoin('testRuns as t', 't.id', 'r.testRunId')
    .leftJoin('releases as ran', 'ran.id', 't.releaseId')
    .select(['d.id as defectId', 'd.key as defectKey', 'd.fixedInReleaseId', 'fixed.version as fixedInRelease', 'tc.key as testCaseKey', 'r.id as testResultId', 't.releaseId', 'ran.version as ranVersion'])
    .where('d.projectId', '=', projectId)
    .where('d.mergedIntoId', 'is', null);
  if (defectIds) {
    if (defectIds.length === 0) return [];
    query = query.where('d.id', 'in', defectIds);
  }
  const rows = await query.orderBy('r.id').execute();
  const { rank } = await releaseRanks(db, projectId);
  const byDefect = new Map<string, VerifiedByTest>();
  for (const row of rows) {
    const entry = byDefect.get(row.defectId) ?? {
      defectId: row.defectId, defectKey: row.defectKey, fixedInRelease: row.fixedInRelease, verified: false, testCaseKey: null, release: null, testResultId: null,
    };
    byDefect.set(row.defectId, entry);
    if (entry.verified || !row.testResultId || !row.releaseId) continue;
    if ((rank.get(row.releaseId) ?? -1) >= (rank.get(row.fixedInReleaseId!) ?? Number.POSITIVE_INFINITY)) {
      Object.assign(entry, { verified: true, testCaseKey: row.testCaseKey, release: row.ranVersion, testResultId: row.testResultId });
    }
  }
  return [...byDefect.values()];
}

/** Test cases that probably cover a defect, best first, each with its reasons. */
export async function suggestTestCases(db: Executor, projectId: string, defectId: string, limit = 10) {
  const defect = await requireDefect(db, projectId, defectId);
  const linked = new Set((await db.selectFrom('defectTestLinks').select('testCaseId').where('defectId', '=', defect.id).execute()).map((row) => row.testCaseId));
  const words = [...textTerms(defect.title), ...routeTerms(defect.route)].filter((word) => word.length >= 4).slice(0, 12);
  const patterns = words.map((word) => `%${word}%`);
  const candidates = await db
    .selectFrom('testCases')
    .select(['id', 'key', 'title', 'suite', 'component', 'tags', 'steps', 'identity', 'kind'])
    .where('projectId', '=', projectId)
    .where('archivedAt', 'is', null)
    .where((eb) => {
      const conditions = [];
      if (defect.component) conditions.push(eb('component', '=', defect.component));
      for (const pattern of patterns) conditions.push(eb('title', 'ilike', pattern), eb('suite', 'ilike', pattern));
      return conditions.length ? eb.or(conditions) : eb.val(false);
    })
    .limit(500)
    .execute();
  return candidates
    .filter((candidate) => !linked.has(candidate.id))
    .map((candidate) => ({ testCase: { id: candidate.id, key: candidate.key, title: candidate.title, suite: candidate.suite, component: candidate.component, kind: candidate.kind }, ...scoreSuggestion(defect, candidate) }))
    .filter((suggestion) => suggestion.score > 0)
    .sort((a, b) => b.score - a.score || a.testCase.key.localeCompare(b.testCase.key))
    .slice(0, limit);
}
