import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema';
import { AppError } from '../http/app-error';
import { releaseRanks } from '../releases/release-order';

type Executor = Kysely<Database> | Transaction<Database>;

/** Where a requirement stands on a release; the order is the order of the view. */
export type RequirementStatus = 'no_tests' | 'failing' | 'not_run' | 'passing';
const statusOrder: Record<RequirementStatus, number> = { no_tests: 0, failing: 1, not_run: 2, passing: 3 };

export interface TraceabilityRow {
  requirement: string;
  title: string | null;
  url: string | null;
  status: RequirementStatus;
  tests: Array<{ id: string; key: string; title: string; kind: string; latestStatus: string | null; flaky: boolean; latestAt: Date | null }>;
  defects: Array<{ id: string; key: string; title: string; origin: string; status: string; linkKind: string; testCaseKey: string }>;
}

export interface TraceabilityView {
  release: { id: string; version: string } | null;
  requirements: TraceabilityRow[];
}

/** Registers requirements (upsert by key) so ones without tests show up in the view. */
export async function upsertRequirements(db: Executor, projectId: string, requirements: Array<{ key: string; title?: string | null; url?: string | null }>): Promise<number> {
  if (requirements.length === 0) return 0;
  await db
    .insertInto('requirements')
    .values(requirements.map((requirement) => ({ projectId, key: requirement.key, title: requirement.title ?? null, url: requirement.url ?? null })))
    .onConflict((conflict) =>
      conflict.columns(['projectId', 'key']).doUpdateSet((eb) => ({ title: eb.ref('excluded.title'), url: eb.ref('excluded.url'), updatedAt: new Date() })),
    )
    .execute();
  return requirements.length;
}

/**
 * For each requirement (registered, or referenced by a test case that is not archived): the
 * tests that cover it, their latest result on the release, and the defects (field, QA, CI)
 * linked to those tests. Requirements without tests come first, then those with failing tests,
 * then those whose tests did not run on the release, then passing ones. Without a release, the
 * newest release (semantic version, then first seen) is used.
 */
export async function traceabilityView(db: Executor, projectId: string, version?: string): Promise<TraceabilityView> {
  let release: { id: string; version: string } | null = null;
  if (version) {
    release = (await db.selectFrom('releases').select(['id', 'version']).where('projectId', '=', projectId).where('version', '=', version.trim()).executeTakeFirst()) ?? null;
    if (!release) throw new AppError('not_found', `release ${version} not found in this project`);
  } else {
    const newest = (await releaseRanks(db, projectId)).ordered.at(-1);
    release = newest ? { id: newest.id, version: newest.version } : null;
  }
  const tests = await sql<{ requirement: string; id: string; key: string; title: string; kind: string; latestStatus: string | null; isFlaky: boolean | null; latestAt: Date | null }>`
    select req.requirement, tc.id, tc.key, tc.title, tc.kind, last.status as latest_status, last.is_flaky, last.created_at as latest_at
    from test_cases tc
    cross join lateral unnest(tc.requirements) as req(requirement)
    left join lateral (
      select r.status, r.is_flaky, r.created_at
      from test_results r join test_runs t on t.id = r.test_run_id
      where r.test_case_id = tc.id and t.release_id = ${release?.id ?? null}::uuid and r.status <> 'skipped'
      order by r.id desc
      limit 1
    ) last on true
    where tc.project_id = ${projectId} and tc.archived_at is null
    order by req.requirement, tc.key
  `.execute(db);
  const caseIds = [...new Set(tests.rows.map((row) => row.id))];
  const defects = caseIds.length
    ? await db
        .selectFrom('defectTestLinks as l')
        .innerJoin('defects as d', 'd.id', 'l.defectId')
        .innerJoin('testCases as tc', 'tc.id', 'l.testCaseId')
        .select(['l.testCaseId', 'l.kind as linkKind', 'd.id', 'd.key', 'd.title', 'd.origin', 'd.status', 'tc.key as testCaseKey'])
        .where('l.testCaseId', 'in', caseIds)
        .where('d.mergedIntoId', 'is', null)
        .orderBy('d.number')
        .execute()
    : [];
  const registered = await db.selectFrom('requirements').select(['key', 'title', 'url']).where('projectId', '=', projectId).execute();
  const rows = new Map<string, TraceabilityRow>();
  const rowFor = (requirement: string) => {
    let row = rows.get(requirement);
    if (!row) {
      row = { requirement, title: null, url: /^https?:\/\//.test(requirement) ? requirement : null, status: 'no_tests', tests: [], defects: [] };
      rows.set(requirement, row);
    }
    return row;
  };
  for (const requirement of registered) Object.assign(rowFor(requirement.key), { title: requirement.title, url: requirement.url ?? rowFor(requirement.key).url });
  for (const test of tests.rows) {
    const row = rowFor(test.requirement);
    row.tests.push({ id: test.id, key: test.key, title: test.title, kind: test.kind, latestStatus: test.latestStatus, flaky: Boolean(test.isFlaky), latestAt: test.latestAt });
    for (const defect of defects.filter((candidate) => candidate.testCaseId === test.id)) {
      if (!row.defects.some((existing) => existing.id === defect.id && existing.linkKind === defect.linkKind)) {
        row.defects.push({ id: defect.id, key: defect.key, title: defect.title, origin: defect.origin, status: defect.status, linkKind: defect.linkKind, testCaseKey: defect.testCaseKey });
      }
    }
  }
  for (const row of rows.values()) {
    if (row.tests.length === 0) row.status = 'no_tests';
    else if (row.tests.some((test) => test.latestStatus === 'failed' || test.latestStatus === 'error')) row.status = 'failing';
    else if (row.tests.some((test) => test.latestStatus === null)) row.status = 'not_run';
    else row.status = 'passing';
  }
  const requirements = [...rows.values()].sort((a, b) => statusOrder[a.status] - statusOrder[b.status] || a.requirement.localeCompare(b.requirement, 'en', { numeric: true }));
  return { release, requirements };
}

/** One CSV cell: quoted when needed; a leading = + - @ is neutralized so spreadsheets never run it. */
export function csvCell(value: string | number | null | undefined): string {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The traceability view as CSV, one line per requirement. */
export function traceabilityCsv(view: TraceabilityView): string {
  const header = ['requirement', 'title', 'status', 'release', 'tests', 'latest results', 'defects'];
  const lines = [header.join(',')];
  for (const row of view.requirements) {
    lines.push(
      [
        row.requirement,
        row.title,
        row.status,
        view.release?.version ?? '',
        row.tests.map((test) => test.key).join('; '),
        row.tests.map((test) => `${test.key}: ${test.latestStatus ?? 'not run'}${test.flaky ? ' (flaky)' : ''}`).join('; '),
        row.defects.map((defect) => `${defect.key} (${defect.origin}, ${defect.status})`).join('; '),
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
