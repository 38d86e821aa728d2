import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import type { NewTestCase, TestCaseChanges } from '../../shared/test-case-schema';
import type { Database, TestCasesTable } from '../db/schema';
import { AppError } from '../http/app-error';

type Executor = Kysely<Database> | Transaction<Database>;
export type TestCase = Selectable<TestCasesTable>;

/**
 * Serializes writers of one project's catalog (key numbering, run imports) until the
 * transaction ends. Readers are not blocked.
 */
export async function lockTestCatalog(trx: Transaction<Database>, projectId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`bugloop:test-catalog:${projectId}`}))`.execute(trx);
}

/** The next free number n for a generated key TC-n (hold `lockTestCatalog` while using it). */
export async function nextTestCaseNumber(db: Executor, projectId: string): Promise<number> {
  const row = await sql<{ highest: number | null }>`
    select max((substring(key from '^TC-([0-9]{1,9})$'))::int) as highest from test_cases where project_id = ${projectId}
  `.execute(db);
  return (row.rows[0]?.highest ?? 0) + 1;
}

const editableFields = ['title', 'suite', 'component', 'tags', 'priority', 'kind', 'steps', 'expectedResult', 'requirements'] as const;
type EditableField = (typeof editableFields)[number];

function normalized(changes: TestCaseChanges): Partial<Record<EditableField, unknown>> {
  const values: Partial<Record<EditableField, unknown>> = {};
  for (const field of editableFields) {
    const value = changes[field];
    if (value === undefined) continue;
    if (field === 'tags' || field === 'requirements') values[field] = [...new Set(value as string[])];
    else if (typeof value === 'string' && field !== 'title' && field !== 'kind') values[field] = value === '' ? null : value;
    else values[field] = value;
  }
  return values;
}

/** Creates a catalog entry (key given or TC-n), with a `created` revision. */
export async function createTestCase(db: Kysely<Database>, projectId: string, input: NewTestCase, actorUserId: string | null): Promise<TestCase> {
  return db.transaction().execute(async (trx) => {
    await lockTestCatalog(trx, projectId);
    const key = input.key?.toUpperCase() ?? `TC-${await nextTestCaseNumber(trx, projectId)}`;
    const taken = await trx.selectFrom('testCases').select('id').where('projectId', '=', projectId).where('key', '=', key).executeTakeFirst();
    if (taken) throw new AppError('conflict', `The key ${key} is already used in this project`, { field: 'key' });
    const values = normalized(input);
    const testCase = await trx
      .insertInto('testCases')
      .values({
        projectId,
        key,
        title: input.title,
        suite: (values.suite as string | null) ?? null,
        component: (values.component as string | null) ?? null,
        tags: (values.tags as string[]) ?? [],
        priority: (values.priority as string | null) ?? null,
        kind: input.kind ?? 'manual',
        steps: JSON.stringify(values.steps ?? []),
        expectedResult: (values.expectedResult as string | null) ?? null,
        requirements: (values.requirements as string[]) ?? [],
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx.insertInto('testCaseRevisions').values({ testCaseId: testCase.id, actorUserId, changes: JSON.stringify({ created: values }) }).execute();
    return testCase;
  });
}

/** Applies changes and records one revision listing each changed field's old and new value. */
export async function updateTestCase(
  db: Executor,
  projectId: string,
  testCaseId: string,
  changes: TestCaseChanges,
  actorUserId: string | null,
): Promise<TestCase> {
  const current = await getTestCase(db, projectId, testCaseId);
  const values = normalized(changes);
  const diff: Record<string, { from: unknown; to: unknown }> = {};
  for (const [field, value] of Object.entries(values) as [EditableField, unknown][]) {
    const before = current[field];
    if (JSON.stringify(before) !== JSON.stringify(value)) diff[field] = { from: before, to: value };
  }
  if (Object.keys(diff).length === 0) return current;
  const update: Record<string, unknown> = { updatedAt: new Date() };
  for (const [field, change] of Object.entries(diff)) update[field] = field === 'steps' ? JSON.stringify(change.to) : change.to;
  const updated = await db.updateTable('testCases').set(update).where('id', '=', testCaseId).returningAll().executeTakeFirstOrThrow();
  await db.insertInto('testCaseRevisions').values({ testCaseId, actorUserId, changes: JSON.stringify(diff) }).execute();
  return updated;
}

/** Archives (or restores) a case: archived cases leave lists and coverage but keep their history. */
export async function setTestCaseArchived(db: Executor, projectId: string, testCaseId: string, archived: boolean, actorUserId: string | null): Promise<TestCase> {
  const current = await getTestCase(db, projectId, testCaseId);
  if (Boolean(current.archivedAt) === archived) return current;
  const updated = await db
    .updateTable('testCases')
    .set({ archivedAt: archived ? new Date() : null, updatedAt: new Date() })
    .where('id', '=', testCaseId)
    .returningAll()
    .executeTakeFirstOrThrow();
  await db.insertInto('testCaseRevisions').values({ testCaseId, actorUserId, changes: JSON.stringify({ archived: { from: !archived, to: archived } }) }).execute();
  return updated;
}

/** One case of a project, or 404. */
export async function getTestCase(db: Executor, projectId: string, testCaseId: string): Promise<TestCase> {
  const testCase = /^[0-9a-f-]{36}$/i.test(testCaseId)
    ? await db.selectFrom('testCases').selectAll().where('projectId', '=', projectId).where('id', '=', testCaseId).executeTakeFirst()
    : await db.selectFrom('testCases').selectAll().where('projectId', '=', projectId).where('key', '=', testCaseId.toUpperCase()).executeTakeFirst();
  if (!testCase) throw new AppError('not_found', 'test case not found');
  return testCase;
}

export interface TestCaseFilters {
  /** Words in the title, key or suite. */
  q?: string;
  suite?: string;
  component?: string;
  tag?: string;
  kind?: 'manual' | 'automated';
  requirement?: string;
  /** Test-case priority (free text), compared without case. */
  priority?: string;
  includeArchived?: boolean;
  /** Only archived cases (the catalog's "archived" tab). */
  archivedOnly?: boolean;
  limit?: number;
  offset?: number;
}

/** Lists a project's cases with filters, newest key numbers last; returns the page and the total. */
export async function listTestCases(db: Executor, projectId: string, filters: TestCaseFilters): Promise<{ items: TestCase[]; total: number }> {
  let query = db.selectFrom('testCases').where('projectId', '=', projectId);
  if (filters.archivedOnly) query = query.where('archivedAt', 'is not', null);
  else if (!filters.includeArchived) query = query.where('archivedAt', 'is', null);
  if (filters.priority) query = query.where(sql<boolean>`lower(priority) = lower(${filters.priority})`);
  if (filters.suite) query = query.where('suite', '=', filters.suite);
  if (filters.component) query = query.where('component', '=', filters.component);
  if (filters.kind) query = query.where('kind', '=', filters.kind);
  if (filters.tag) query = query.where(sql<boolean>`${filters.tag} = any(tags)`);
  if (filters.requirement) query = query.where(sql<boolean>`${filters.requirement} = any(requirements)`);
  if (filters.q) {
    const pattern = `%${filters.q.replace(/[\\%_]/g, (match) => `\\${match}`)}%`;
    query = query.where((eb) => eb.or([eb('title', 'ilike', pattern), eb('key', 'ilike', pattern), eb('suite', 'ilike', pattern)]));
  }
  const [items, total] = await Promise.all([
    query
      .selectAll()
      .orderBy('createdAt')
      .orderBy('key')
      .limit(Math.min(filters.limit ?? 50, 500))
      .offset(filters.offset ?? 0)
      .execute(),
    query.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  return { items, total: Number(total.count) };
}

/** The edit history of a case, oldest first, with the editor's email. */
export async function listTestCaseRevisions(db: Executor, testCaseId: string) {
  return db
    .selectFrom('testCaseRevisions')
    .leftJoin('users', 'users.id', 'testCaseRevisions.actorUserId')
    .selectAll('testCaseRevisions')
    .select('users.email as actorEmail')
    .where('testCaseId', '=', testCaseId)
    .orderBy('testCaseRevisions.id')
    .execute();
}

/** The values in use for the catalog's filter bar (live cases and archived ones alike). */
export async function testCaseFacets(db: Executor, projectId: string) {
  const result = await sql<{ suites: string[] | null; components: string[] | null; tags: string[] | null; priorities: string[] | null }>`
    select
      (select array_agg(distinct suite order by suite) from test_cases where project_id = ${projectId} and suite is not null) as suites,
      (select array_agg(distinct component order by component) from test_cases where project_id = ${projectId} and component is not null) as components,
      (select array_agg(distinct tag order by tag) from test_cases, unnest(tags) as tag where project_id = ${projectId}) as tags,
      (select array_agg(distinct priority order by priority) from test_cases where project_id = ${projectId} and priority is not null) as priorities
  `.execute(db);
  const row = result.rows[0];
  return { suites: row?.suites ?? [], components: row?.components ?? [], tags: row?.tags ?? [], priorities: row?.priorities ?? [] };
}

/** A case's latest result (not skipped, else skipped) on each release that ran it, newest release run first. */
export async function latestResultsByRelease(db: Executor, testCaseId: string) {
  const result = await sql<{ releaseId: string; release: string; status: string; isFlaky: boolean; message: string | null; createdAt: Date; runId: string; build: string | null }>`
    select distinct on (u.release_id) u.release_id, rel.version as release, r.status, r.is_flaky, r.message, r.created_at, u.id as run_id, u.build
    from test_results r join test_runs u on u.id = r.test_run_id join releases rel on rel.id = u.release_id
    where r.test_case_id = ${testCaseId}
    order by u.release_id, (r.status = 'skipped'), r.created_at desc, r.id desc
  `.execute(db);
  return result.rows.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
}
