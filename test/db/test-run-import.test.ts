import { createReadStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { DatabaseHandle } from '../../server/db/database';
import { updateDefect } from '../../server/defects/defect-service';
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

const run = (projectId: string, xml: string, extra: Partial<TestRunInput> = {}) => importTestRun(database.db, { projectId, release: '1.4.0', soleSession: database.soleSession, ...extra }, text(xml));

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

describe('the bulk inserts without row triggers on a sole session', () => {
  it('skip nothing but foreign-key checks: test_cases and test_results have no trigger of their own', async () => {
    // Replica mode turns off every trigger of these tables, not only the foreign-key checks;
    // a trigger added to them later must make the import's shortcut be thought over.
    const { rows } = await sql<{ name: string }>`
      select tgname as name from pg_trigger
      where tgrelid in ('test_cases'::regclass, 'test_results'::regclass) and not tgisinternal
    `.execute(database.db);
    expect(rows).toEqual([]);
  });

  it('writes the same catalog entries and results as with the checks', async () => {
    const xml = report([['adds', 'passed'], ['removes', 'failed', 'expected 1'], ['empties', 'skipped']]);
    const counts = async (projectId: string) => {
      const { rows } = await sql<{ cases: number; results: number }>`
        select (select count(*)::int from test_cases where project_id = ${projectId}) as cases,
               (select count(*)::int from test_results r join test_cases c on c.id = r.test_case_id where c.project_id = ${projectId}) as results
      `.execute(database.db);
      return rows[0];
    };
    const [withChecks, withoutChecks] = [await newProject(), await newProject()];
    const checked = await run(withChecks, xml, { soleSession: false });
    const skipped = await run(withoutChecks, xml, { soleSession: true });
    expect(await counts(withoutChecks)).toEqual({ cases: 3, results: 3 });
    expect(await counts(withChecks)).toEqual(await counts(withoutChecks));
    expect({ ...skipped, runId: '', releaseId: '' }).toEqual({ ...checked, runId: '', releaseId: '' });
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

describe('a run larger than one write batch (2,500 cases)', () => {
  /** Yields the report one test case at a time, so the parser hands over several batches. */
  const streamed = (cases: string[]) => [
    (async function* () {
      yield '<testsuites><testsuite name="big.Suite">';
      for (const testCase of cases) yield testCase;
      yield '</testsuite></testsuites>';
    })(),
  ];
  const passed = (name: string) => `<testcase classname="big.Suite" name="${name}" time="0.01"/>`;
  const failed = (name: string, message = 'expected 1 but was 2') =>
    `<testcase classname="big.Suite" name="${name}"><failure message="${message}">at big.Suite.${name}(Suite.java:10)</failure></testcase>`;

  it('numbers new cases without gaps, reuses entries of earlier batches for repeats, and counts every result', async () => {
    const projectId = await newProject();
    const cases: string[] = [];
    for (let index = 0; index < 6000; index += 1) cases.push(index % 1000 === 7 ? failed(`case ${index}`) : passed(`case ${index}`));
    // Repeats inside the file, batches after their first appearance: a second failure of the same
    // kind (one defect, linked to the first result), a pass after a failure (flaky), a plain repeat.
    cases.push(failed('case 7'), passed('case 1007'), passed('case 3'));
    const summary = await importTestRun(database.db, { projectId, release: '3.0.0' }, streamed(cases));
    expect(summary).toMatchObject({ cases: 6003, passed: 5996, failed: 7, newCases: 6000, flaky: 1, newDefects: 5, updatedDefects: 0 });

    const keys = await database.db.selectFrom('testCases').select('key').where('projectId', '=', projectId).execute();
    const numbers = keys.map((row) => Number(row.key.slice(3))).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 6000 }, (_, index) => index + 1));
    const repeats = await database.db
      .selectFrom('testResults')
      .innerJoin('testCases', 'testCases.id', 'testResults.testCaseId')
      .select(['testCases.title', 'testResults.status', 'testResults.isFlaky', 'testResults.id'])
      .where('testResults.testRunId', '=', summary.runId)
      .where('testCases.title', 'in', ['case 7', 'case 1007', 'case 3'])
      .orderBy('testResults.id')
      .execute();
    expect(repeats.map((row) => [row.title, row.status, row.isFlaky])).toEqual([
      ['case 3', 'passed', false],
      ['case 7', 'failed', false],
      ['case 1007', 'failed', true],
      ['case 7', 'failed', false],
      ['case 1007', 'passed', true],
      ['case 3', 'passed', false],
    ]);

    const defects = await database.db.selectFrom('defects').select(['id', 'key', 'title', 'origin', 'status']).where('projectId', '=', projectId).orderBy('number').execute();
    // case 7, 2007, 3007, 4007, 5007 (case 1007 is flaky): consecutive keys in report order
    expect(defects.map((defect) => [defect.key, defect.title.split(' fails')[0]])).toEqual([
      [expect.stringMatching(/-1$/), 'case 7'],
      [expect.stringMatching(/-2$/), 'case 2007'],
      [expect.stringMatching(/-3$/), 'case 3007'],
      [expect.stringMatching(/-4$/), 'case 4007'],
      [expect.stringMatching(/-5$/), 'case 5007'],
    ]);
    const created = await database.db.selectFrom('defectEvents').select(['defectId', 'kind']).where('projectId', '=', projectId).execute();
    expect(created.filter((event) => event.kind === 'created')).toHaveLength(5);
    const states = await database.db.selectFrom('defectStates').select(['defectId', 'status', 'origin']).where('projectId', '=', projectId).execute();
    expect(states).toHaveLength(5);
    expect(states.every((state) => state.status === 'new' && state.origin === 'ci')).toBe(true);
    const firstCase7 = repeats.find((row) => row.title === 'case 7')!;
    const link = await database.db.selectFrom('defectTestLinks').select(['testResultId', 'kind']).where('defectId', '=', defects[0].id).execute();
    expect(link).toEqual([{ testResultId: firstCase7.id, kind: 'failed_in' }]);
  });

  it('updates, reopens and newly raises defects of a later large run in one go', async () => {
    const projectId = await newProject();
    const names = Array.from({ length: 5200 }, (_, index) => `case ${index}`);
    const first = await importTestRun(database.db, { projectId, release: '3.0.0' }, streamed(names.map((name, index) => (index % 1300 === 0 ? failed(name) : passed(name)))));
    expect(first).toMatchObject({ cases: 5200, newCases: 5200, newDefects: 4 });
    const defects = await database.db.selectFrom('defects').select(['id', 'title']).where('projectId', '=', projectId).orderBy('number').execute();
    // the defect of case 1300 was fixed meanwhile; the others are still open
    await database.db.transaction().execute((trx) => updateDefect(trx, defects[1].id, { status: 'resolved' }, { kind: 'user' }));

    const second = await importTestRun(
      database.db,
      { projectId, release: '3.0.1' },
      streamed(names.map((name, index) => (index % 1300 === 0 || index === 5100 ? failed(name) : passed(name)))),
    );
    expect(second).toMatchObject({ cases: 5200, newCases: 0, newDefects: 1, updatedDefects: 4, flaky: 0 });
    const after = await database.db.selectFrom('defects').select(['id', 'status', 'title', 'lastSeenAt']).where('projectId', '=', projectId).orderBy('number').execute();
    expect(after.map((defect) => defect.status)).toEqual(['new', 'reopened', 'new', 'new', 'new']);
    const failedEvents = await database.db.selectFrom('defectEvents').select(['defectId', 'newValue']).where('projectId', '=', projectId).where('kind', '=', 'test_failed').execute();
    expect(failedEvents.map((event) => event.defectId).sort()).toEqual(defects.map((defect) => defect.id).sort());
    expect(failedEvents.every((event) => (event.newValue as { runId: string }).runId === second.runId)).toBe(true);
    const reopened = await database.db.selectFrom('defectStates').select(['status', 'reopenCount']).where('defectId', '=', defects[1].id).where(sql<boolean>`valid_to = 'infinity'`).execute();
    expect(reopened).toEqual([{ status: 'reopened', reopenCount: 1 }]);
  });
});
