import { createReadStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { createProject } from '../../server/projects/project-service';
import { importTestRun, type TestRunInput } from '../../server/test-management/test-run-import';
import { createTestDatabase } from '../support/test-database';

const fixtures = path.resolve('test/fixtures/junit');
let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

const newProject = async () => (await createProject(database.db, { name: `Import ${crypto.randomUUID().slice(0, 8)}` })).id;
const file = (name: string) => createReadStream(path.join(fixtures, name));
const text = (xml: string) => [(async function* () { yield xml; })()];

/** A tiny report: each entry is [name, status, message?]. */
function report(cases: Array<[string, 'passed' | 'failed' | 'skipped', string?]>): string {
  const body = cases
    .map(([name, status, message]) =>
      status === 'passed'
        ? `<testcase classname="shop.Cart" name="${name}" time="0.1"/>`
        : status === 'skipped'
          ? `<testcase classname="shop.Cart" name="${name}"><skipped/></testcase>`
          : `<testcase classname="shop.Cart" name="${name}"><failure message="${message ?? 'boom'}">at shop.Cart.${name}(Cart.java:10)</failure></testcase>`,
    )
    .join('');
  return `<testsuite name="shop.Cart">${body}</testsuite>`;
}

const run = (projectId: string, xml: string, extra: Partial<TestRunInput> = {}) => importTestRun(database.db, { projectId, release: '1.4.0', ...extra }, text(xml));

describe('importing a run', () => {
  it('stores the run, its results and new catalog entries with counts', async () => {
    const projectId = await newProject();
    const summary = await importTestRun(database.db, { projectId, release: '1.4.0', build: '77', environment: 'ci', commit: 'abc123' }, [file('surefire.xml')]);
    expect(summary).toMatchObject({ cases: 6, passed: 3, failed: 1, errors: 1, skipped: 1, newCases: 6, flaky: 1, newDefects: 2, updatedDefects: 0 });
    const stored = await database.db.selectFrom('testRuns').selectAll().where('id', '=', summary.runId).executeTakeFirstOrThrow();
    expect(stored).toMatchObject({ total: 6, passed: 3, failed: 2, skipped: 1, build: '77', environment: 'ci', commitSha: 'abc123' });
    const release = await database.db.selectFrom('releases').selectAll().where('id', '=', stored.releaseId).executeTakeFirstOrThrow();
    expect(release).toMatchObject({ version: '1.4.0', semverMajor: 1, semverMinor: 4, semverPatch: 0 });
    const cases = await database.db.selectFrom('testCases').selectAll().where('projectId', '=', projectId).orderBy('key').execute();
    expect(cases.map((testCase) => testCase.key).sort()).toEqual(['TC-1', 'TC-2', 'TC-3', 'TC-4', 'TC-42', 'TC-5']);
    expect(cases.every((testCase) => testCase.kind === 'automated')).toBe(true);
    expect(cases.find((testCase) => testCase.key === 'TC-42')).toMatchObject({ identity: 'id:TC-42', title: 'checkout', requirements: ['SHOP-7', 'SHOP-8'] });
    const results = await database.db.selectFrom('testResults').selectAll().where('testRunId', '=', summary.runId).execute();
    expect(results).toHaveLength(6);
    expect(results.filter((result) => result.isFlaky)).toHaveLength(1);
  });

  it('puts several files into one run and reuses catalog entries on the next run', async () => {
    const projectId = await newProject();
    const first = await importTestRun(database.db, { projectId, release: '2.0.0' }, [file('vitest.xml'), file('gotestsum.xml')]);
    expect(first).toMatchObject({ cases: 9, newCases: 9 });
    const second = await importTestRun(database.db, { projectId, release: '2.0.1' }, [file('vitest.xml')]);
    expect(second).toMatchObject({ cases: 4, newCases: 0 });
    expect(Number((await database.db.selectFrom('testCases').select((eb) => eb.fn.countAll<string>().as('count')).where('projectId', '=', projectId).executeTakeFirstOrThrow()).count)).toBe(9);
  });

  it('matches a [TC-n] tag to the existing catalog entry with that key, even a manual one', async () => {
    const projectId = await newProject();
    const manual = await database.db
      .insertInto('testCases')
      .values({ projectId, key: 'TC-7', title: 'Coupon applies', kind: 'manual' })
      .returningAll()
      .executeTakeFirstOrThrow();
    const summary = await importTestRun(database.db, { projectId }, [file('vitest.xml')]);
    expect(summary.newCases).toBe(3);
    const result = await database.db.selectFrom('testResults').selectAll().where('testRunId', '=', summary.runId).where('testCaseId', '=', manual.id).executeTakeFirstOrThrow();
    expect(result.status).toBe('failed');
    const updated = await database.db.selectFrom('testCases').selectAll().where('id', '=', manual.id).executeTakeFirstOrThrow();
    expect(updated.identity).toBe('id:TC-7');
  });

  it('leaves nothing behind when a report turns out malformed', async () => {
    const projectId = await newProject();
    const broken = readFileSync(path.join(fixtures, 'hostile/truncated.xml'), 'utf8');
    await expect(run(projectId, broken)).rejects.toMatchObject({ code: 'invalid_xml' });
    expect(await database.db.selectFrom('testRuns').select('id').where('projectId', '=', projectId).execute()).toEqual([]);
    expect(await database.db.selectFrom('testCases').select('id').where('projectId', '=', projectId).execute()).toEqual([]);
  });

  it('refuses a report without test cases', async () => {
    const projectId = await newProject();
    await expect(run(projectId, '<testsuites/>')).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it('adds requirement references a later report names, with a revision', async () => {
    const projectId = await newProject();
    await run(projectId, report([['adds', 'passed']]));
    await run(projectId, '<testsuite name="s"><testcase classname="shop.Cart" name="adds [REQ:SHOP-3]"/></testsuite>');
    const testCase = await database.db.selectFrom('testCases').selectAll().where('projectId', '=', projectId).executeTakeFirstOrThrow();
    expect(testCase.requirements).toEqual(['SHOP-3']);
    const revisions = await database.db.selectFrom('testCaseRevisions').selectAll().where('testCaseId', '=', testCase.id).execute();
    expect(revisions.map((revision) => revision.changes)).toEqual([{ requirements: { from: [], to: ['SHOP-3'] }, via: 'junit' }]);
  });
});

describe('CI defects', () => {
  it('creates a ci defect for a failing test, linked failed_in to the result', async () => {
    const projectId = await newProject();
    const summary = await run(projectId, report([['adds', 'passed'], ['pays', 'failed', 'card declined']]));
    expect(summary.newDefects).toBe(1);
    const defect = await database.db.selectFrom('defects').selectAll().where('projectId', '=', projectId).executeTakeFirstOrThrow();
    expect(defect).toMatchObject({ origin: 'ci', title: 'pays fails: card declined', status: 'new' });
    expect(defect.errorSignature).toMatch(/^ci:[0-9a-f]{32}$/);
    expect(defect.foundInReleaseId).toBe(summary.releaseId);
    const link = await database.db.selectFrom('defectTestLinks').selectAll().where('defectId', '=', defect.id).executeTakeFirstOrThrow();
    const result = await database.db.selectFrom('testResults').selectAll().where('id', '=', link.testResultId).executeTakeFirstOrThrow();
    expect(link.kind).toBe('failed_in');
    expect(result).toMatchObject({ status: 'failed', message: 'card declined', testRunId: summary.runId });
    const events = await database.db.selectFrom('defectEvents').select('kind').where('defectId', '=', defect.id).execute();
    expect(events.map((event) => event.kind)).toEqual(['created']);
  });

  it('updates the same defect when the same test fails the same way again, and moves the link to the new result', async () => {
    const projectId = await newProject();
    await run(projectId, report([['pays', 'failed', 'card declined after 1200 ms']]));
    const second = await run(projectId, report([['pays', 'failed', 'card declined after 3400 ms']]));
    expect(second).toMatchObject({ newDefects: 0, updatedDefects: 1 });
    const defects = await database.db.selectFrom('defects').selectAll().where('projectId', '=', projectId).execute();
    expect(defects).toHaveLength(1);
    const events = await database.db.selectFrom('defectEvents').select('kind').where('defectId', '=', defects[0].id).orderBy('id').execute();
    expect(events.map((event) => event.kind)).toEqual(['created', 'test_failed']);
    const link = await database.db.selectFrom('defectTestLinks').innerJoin('testResults', 'testResults.id', 'defectTestLinks.testResultId').select('testResults.testRunId').where('defectId', '=', defects[0].id).executeTakeFirstOrThrow();
    expect(link.testRunId).toBe(second.runId);
  });

  it('opens a separate defect when the same test fails in a different way', async () => {
    const projectId = await newProject();
    await run(projectId, report([['pays', 'failed', 'card declined']]));
    const second = await run(projectId, report([['pays', 'failed', 'gateway unreachable']]));
    expect(second.newDefects).toBe(1);
    expect(await database.db.selectFrom('defects').select('id').where('projectId', '=', projectId).execute()).toHaveLength(2);
  });

  it('reopens a resolved ci defect when its failure comes back', async () => {
    const projectId = await newProject();
    await run(projectId, report([['pays', 'failed', 'card declined']]));
    await database.db.updateTable('defects').set({ status: 'resolved', resolvedAt: new Date() }).where('projectId', '=', projectId).execute();
    await run(projectId, report([['pays', 'passed']]));
    await run(projectId, report([['pays', 'passed']]));
    await run(projectId, report([['pays', 'failed', 'card declined']]));
    const defect = await database.db.selectFrom('defects').selectAll().where('projectId', '=', projectId).executeTakeFirstOrThrow();
    expect(defect).toMatchObject({ status: 'reopened', reopenCount: 1 });
  });
});

describe('flaky detection', () => {
  it('marks a test that passes and fails on the same commit flaky, on both results, without a defect', async () => {
    const projectId = await newProject();
    const first = await run(projectId, report([['pays', 'passed']]), { commit: 'c0ffee' });
    const second = await run(projectId, report([['pays', 'failed', 'timeout']]), { commit: 'c0ffee' });
    expect(second).toMatchObject({ flaky: 1, newDefects: 0 });
    const results = await database.db.selectFrom('testResults').select(['testRunId', 'isFlaky']).where('testRunId', 'in', [first.runId, second.runId]).execute();
    expect(results.every((result) => result.isFlaky)).toBe(true);
  });

  it('marks a test retried within one report (failed, then passed) flaky', async () => {
    const projectId = await newProject();
    const summary = await run(projectId, report([['pays', 'failed'], ['pays', 'passed']]));
    expect(summary).toMatchObject({ flaky: 1, newDefects: 0 });
  });

  it('marks a test whose results flip (failed, passed, failed) flaky instead of raising another defect', async () => {
    const projectId = await newProject();
    await run(projectId, report([['pays', 'failed', 'timeout']]));
    await run(projectId, report([['pays', 'passed']]));
    const third = await run(projectId, report([['pays', 'failed', 'timeout']]));
    expect(third).toMatchObject({ flaky: 1, newDefects: 0, updatedDefects: 0 });
    const result = await database.db.selectFrom('testResults').select('isFlaky').where('testRunId', '=', third.runId).executeTakeFirstOrThrow();
    expect(result.isFlaky).toBe(true);
  });

  it('treats a fresh regression (passed, passed, failed) as a real failure', async () => {
    const projectId = await newProject();
    await run(projectId, report([['pays', 'passed']]));
    await run(projectId, report([['pays', 'passed']]));
    const third = await run(projectId, report([['pays', 'failed']]));
    expect(third).toMatchObject({ flaky: 0, newDefects: 1 });
  });

  it('keeps Surefire reruns that passed (flakyFailure) as passed and flaky', async () => {
    const projectId = await newProject();
    const summary = await importTestRun(database.db, { projectId }, [file('surefire.xml')]);
    const result = await database.db
      .selectFrom('testResults')
      .innerJoin('testCases', 'testCases.id', 'testResults.testCaseId')
      .select(['testResults.status', 'testResults.isFlaky'])
      .where('testRunId', '=', summary.runId)
      .where('testCases.title', '=', 'recalculatesTax')
      .executeTakeFirstOrThrow();
    expect(result).toEqual({ status: 'passed', isFlaky: true });
  });
});
