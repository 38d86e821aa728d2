import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { createDefect, updateDefect } from '../../server/defects/defect-service';
import { createProject } from '../../server/projects/project-service';
import { releaseRanks } from '../../server/releases/release-order';
import { findOrCreateRelease } from '../../server/releases/release-service';
import {
  coverageGaps,
  ineffectiveTests,
  linkDefectToTestCase,
  listDefectTestLinks,
  suggestTestCases,
  unlinkDefectTestCase,
  verifiedByTest,
} from '../../server/test-management/coverage-service';
import { importTestCasesCsv } from '../../server/test-management/test-case-csv';
import { createTestCase, listTestCaseRevisions, listTestCases, setTestCaseArchived, updateTestCase } from '../../server/test-management/test-case-service';
import { importTestRun } from '../../server/test-management/test-run-import';
import { traceabilityCsv, traceabilityView, upsertRequirements } from '../../server/test-management/traceability';
import { createTestDatabase } from '../support/test-database';

let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

const user = { kind: 'user' as const };
const newProject = async () => (await createProject(database.db, { name: `Coverage ${crypto.randomUUID().slice(0, 8)}` })).id;
const fieldDefect = (projectId: string, title: string, extra: { component?: string; route?: string; foundIn?: string | null } = {}) =>
  database.db.transaction().execute((trx) =>
    createDefect(trx, { projectId, title, origin: 'field', component: extra.component, route: extra.route, foundInReleaseId: extra.foundIn ?? null }),
  );
const manualCase = (projectId: string, title: string, extra: Record<string, unknown> = {}) => createTestCase(database.db, projectId, { title, ...extra }, null);
const xml = (cases: Array<[string, 'passed' | 'failed']>) =>
  `<testsuite name="s">${cases.map(([name, status]) => (status === 'passed' ? `<testcase classname="shop" name="${name}"/>` : `<testcase classname="shop" name="${name}"><failure message="x"/></testcase>`)).join('')}</testsuite>`;
const runOn = (projectId: string, release: string, cases: Array<[string, 'passed' | 'failed']>) =>
  importTestRun(database.db, { projectId, release }, [(async function* () { yield xml(cases); })()]);
const caseByTitle = (projectId: string, title: string) => database.db.selectFrom('testCases').selectAll().where('projectId', '=', projectId).where('title', '=', title).executeTakeFirstOrThrow();

describe('test case catalog', () => {
  it('numbers keys TC-1, TC-2 and keeps an edit history with old and new values', async () => {
    const projectId = await newProject();
    const first = await manualCase(projectId, 'Pay with card', { steps: [{ action: 'Open cart' }], tags: ['smoke'] });
    const second = await manualCase(projectId, 'Refund');
    expect([first.key, second.key]).toEqual(['TC-1', 'TC-2']);
    await updateTestCase(database.db, projectId, first.id, { title: 'Pay with a card', tags: ['smoke'], priority: 'high' }, null);
    const revisions = await listTestCaseRevisions(database.db, first.id);
    expect(revisions.map((revision) => revision.changes)).toEqual([
      { created: expect.objectContaining({ title: 'Pay with card', tags: ['smoke'] }) },
      { title: { from: 'Pay with card', to: 'Pay with a card' }, priority: { from: null, to: 'high' } },
    ]);
  });

  it('lists with filters and hides archived cases unless asked', async () => {
    const projectId = await newProject();
    const pay = await manualCase(projectId, 'Pay with card', { component: 'checkout', tags: ['smoke'], requirements: ['SHOP-1'] });
    await manualCase(projectId, 'Search products', { component: 'search' });
    expect((await listTestCases(database.db, projectId, { component: 'checkout' })).items.map((item) => item.title)).toEqual(['Pay with card']);
    expect((await listTestCases(database.db, projectId, { tag: 'smoke' })).total).toBe(1);
    expect((await listTestCases(database.db, projectId, { requirement: 'SHOP-1' })).total).toBe(1);
    expect((await listTestCases(database.db, projectId, { q: 'search' })).items.map((item) => item.title)).toEqual(['Search products']);
    await setTestCaseArchived(database.db, projectId, pay.id, true, null);
    expect((await listTestCases(database.db, projectId, {})).total).toBe(1);
    expect((await listTestCases(database.db, projectId, { includeArchived: true })).total).toBe(2);
  });

  it('CSV import creates, then updates by key with a revision, and writes nothing when a row is bad', async () => {
    const projectId = await newProject();
    const csv = 'ID,Title,Section,References\nC1,Pay,Checkout,SHOP-1\nC2,Refund,Orders,\n';
    expect(await importTestCasesCsv(database.db, projectId, csv, { actorUserId: null })).toMatchObject({ preset: 'testrail', created: 2, updated: 0 });
    const again = await importTestCasesCsv(database.db, projectId, 'ID,Title,Section,References\nC1,Pay by card,Checkout,SHOP-1\nC2,Refund,Orders,\n', { actorUserId: null });
    expect(again).toMatchObject({ created: 0, updated: 1, unchanged: 1 });
    const pay = await database.db.selectFrom('testCases').selectAll().where('projectId', '=', projectId).where('key', '=', 'C1').executeTakeFirstOrThrow();
    expect(pay).toMatchObject({ title: 'Pay by card', suite: 'Checkout', requirements: ['SHOP-1'] });
    await expect(importTestCasesCsv(database.db, projectId, 'ID,Title\nC9,New one\nC10,\n', { actorUserId: null })).rejects.toThrow(/CSV line 3/);
    expect(await database.db.selectFrom('testCases').select('key').where('projectId', '=', projectId).where('key', '=', 'C9').execute()).toEqual([]);
  });
});

describe('defect ↔ test links', () => {
  it('links with a kind, records history, refuses failed_in without a result, and unlinks', async () => {
    const projectId = await newProject();
    const defect = await fieldDefect(projectId, 'Checkout crashes');
    const testCase = await manualCase(projectId, 'Checkout works');
    const link = await linkDefectToTestCase(database.db, projectId, defect.id, { testCaseId: testCase.id, kind: 'covers' }, user);
    expect(link).toMatchObject({ kind: 'covers', testCaseKey: 'TC-1' });
    await expect(linkDefectToTestCase(database.db, projectId, defect.id, { testCaseId: testCase.id, kind: 'failed_in' }, user)).rejects.toMatchObject({ code: 'invalid_request' });
    expect(await listDefectTestLinks(database.db, projectId, defect.key)).toHaveLength(1);
    await unlinkDefectTestCase(database.db, projectId, defect.id, link.id, user);
    expect(await listDefectTestLinks(database.db, projectId, defect.id)).toHaveLength(0);
    const events = await database.db.selectFrom('defectEvents').select('kind').where('defectId', '=', defect.id).orderBy('id').execute();
    expect(events.map((event) => event.kind)).toEqual(['created', 'test_linked', 'test_unlinked']);
  });

  it('refuses a test case of another project', async () => {
    const projectId = await newProject();
    const other = await newProject();
    const defect = await fieldDefect(projectId, 'Bug');
    const foreign = await manualCase(other, 'Elsewhere');
    await expect(linkDefectToTestCase(database.db, projectId, defect.id, { testCaseId: foreign.id, kind: 'covers' }, user)).rejects.toMatchObject({ code: 'invalid_request' });
  });
});

describe('coverage', () => {
  it('a field defect with no covering test is a gap; a covers or regression link closes it; ci defects never count', async () => {
    const projectId = await newProject();
    const release = await database.db.transaction().execute((trx) => findOrCreateRelease(trx, projectId, '1.4.0'));
    const uncovered = await fieldDefect(projectId, 'Uncovered', { foundIn: release.id });
    const covered = await fieldDefect(projectId, 'Covered', { foundIn: release.id });
    const regression = await fieldDefect(projectId, 'Regression test added');
    await runOn(projectId, '1.4.0', [['pays', 'failed']]); // a ci defect
    const testCase = await manualCase(projectId, 'Pays');
    await linkDefectToTestCase(database.db, projectId, covered.id, { testCaseId: testCase.id, kind: 'covers' }, user);
    await linkDefectToTestCase(database.db, projectId, regression.id, { testCaseId: testCase.id, kind: 'regression_test_added' }, user);
    expect((await coverageGaps(database.db, projectId)).map((gap) => gap.key)).toEqual([uncovered.key]);
    expect((await coverageGaps(database.db, projectId, { release: '1.4.0' })).map((gap) => gap.foundInRelease)).toEqual(['1.4.0']);
    expect(await coverageGaps(database.db, projectId, { release: '9.9.9' })).toEqual([]);
  });

  it('an archived covering test no longer closes the gap', async () => {
    const projectId = await newProject();
    const defect = await fieldDefect(projectId, 'Bug');
    const testCase = await manualCase(projectId, 'Old test');
    await linkDefectToTestCase(database.db, projectId, defect.id, { testCaseId: testCase.id, kind: 'covers' }, user);
    await setTestCaseArchived(database.db, projectId, testCase.id, true, null);
    expect((await coverageGaps(database.db, projectId)).map((gap) => gap.id)).toEqual([defect.id]);
  });

  it('a covering test that passed in the last run of the release the defect escaped from is ineffective', async () => {
    const projectId = await newProject();
    await runOn(projectId, '1.4.0', [['pays with card', 'failed'], ['searches', 'passed']]);
    const last = await runOn(projectId, '1.4.0', [['pays with card', 'passed'], ['searches', 'failed']]);
    const release = await database.db.selectFrom('releases').select('id').where('projectId', '=', projectId).executeTakeFirstOrThrow();
    const escaped = await fieldDefect(projectId, 'Card payment broken', { foundIn: release.id });
    const caught = await fieldDefect(projectId, 'Search broken', { foundIn: release.id });
    await linkDefectToTestCase(database.db, projectId, escaped.id, { testCaseId: (await caseByTitle(projectId, 'pays with card')).id, kind: 'covers' }, user);
    await linkDefectToTestCase(database.db, projectId, caught.id, { testCaseId: (await caseByTitle(projectId, 'searches')).id, kind: 'covers' }, user);
    const ineffective = await ineffectiveTests(database.db, projectId);
    expect(ineffective).toEqual([expect.objectContaining({ defectKey: escaped.key, testCaseKey: 'TC-1', foundInRelease: '1.4.0', testRunId: last.runId })]);
  });

  it('verified by test: the regression test passed on a release at or after fixed-in, by semver order', async () => {
    const projectId = await newProject();
    // 1.10.0 is seen before 1.9.0: only semantic order makes 1.10.0 "after".
    await runOn(projectId, '1.10.0', [['refund', 'passed']]);
    await runOn(projectId, '1.9.0', [['other', 'passed']]);
    const fixedIn = await database.db.selectFrom('releases').select('id').where('projectId', '=', projectId).where('version', '=', '1.9.0').executeTakeFirstOrThrow();
    const defect = await fieldDefect(projectId, 'Refund fails');
    await database.db.transaction().execute((trx) => updateDefect(trx, defect.id, { status: 'resolved', fixedInReleaseId: fixedIn.id }, user));
    const refund = await caseByTitle(projectId, 'refund');
    expect(await verifiedByTest(database.db, projectId)).toEqual([]);
    await linkDefectToTestCase(database.db, projectId, defect.id, { testCaseId: refund.id, kind: 'regression_test_added' }, user);
    expect(await verifiedByTest(database.db, projectId)).toEqual([
      expect.objectContaining({ defectKey: defect.key, verified: true, fixedInRelease: '1.9.0', release: '1.10.0', testCaseKey: refund.key }),
    ]);
  });

  it('not verified while the regression test only passed on releases before the fix', async () => {
    const projectId = await newProject();
    await runOn(projectId, '2.0.0', [['refund', 'passed']]);
    await runOn(projectId, '2.1.0', [['refund', 'failed']]);
    const fixedIn = await database.db.selectFrom('releases').select('id').where('projectId', '=', projectId).where('version', '=', '2.1.0').executeTakeFirstOrThrow();
    const defect = await fieldDefect(projectId, 'Refund fails');
    await database.db.transaction().execute((trx) => updateDefect(trx, defect.id, { fixedInReleaseId: fixedIn.id }, user));
    await linkDefectToTestCase(database.db, projectId, defect.id, { testCaseId: (await caseByTitle(projectId, 'refund')).id, kind: 'regression_test_added' }, user);
    expect(await verifiedByTest(database.db, projectId)).toEqual([expect.objectContaining({ defectKey: defect.key, verified: false, release: null })]);
  });

  it('orders a project’s releases by semver, then by first seen for versions that do not parse', async () => {
    const projectId = await newProject();
    for (const version of ['1.10.0', 'nightly', '1.9.0', '1.10.0-rc.1']) await database.db.transaction().execute((trx) => findOrCreateRelease(trx, projectId, version));
    const { ordered } = await releaseRanks(database.db, projectId);
    expect(ordered.map((release) => release.version)).toEqual(['1.9.0', '1.10.0-rc.1', '1.10.0', 'nightly']);
  });
});

describe('suggestions', () => {
  it('ranks same-component, same-route, similar tests first, with reasons, and leaves out linked ones', async () => {
    const projectId = await newProject();
    const defect = await fieldDefect(projectId, 'Card payment declined on checkout', { component: 'checkout', route: '/checkout/pay' });
    const best = await manualCase(projectId, 'Pay with card on checkout', { component: 'checkout' });
    await manualCase(projectId, 'Search by name', { component: 'search' });
    const linked = await manualCase(projectId, 'Checkout payment declined card', { component: 'checkout' });
    await linkDefectToTestCase(database.db, projectId, defect.id, { testCaseId: linked.id, kind: 'covers' }, user);
    const suggestions = await suggestTestCases(database.db, projectId, defect.id);
    expect(suggestions.map((suggestion) => suggestion.testCase.key)).toEqual([best.key]);
    expect(suggestions[0].reasons[0]).toBe('same component (checkout)');
  });
});

describe('traceability', () => {
  it('lists requirements without tests first, then failing ones, with latest results on the release and linked defects', async () => {
    const projectId = await newProject();
    await upsertRequirements(database.db, projectId, [{ key: 'SHOP-9', title: 'Gift cards' }, { key: 'SHOP-1', title: 'Card payments' }]);
    await importTestRun(database.db, { projectId, release: '1.4.0' }, [
      (async function* () {
        yield '<testsuite name="s"><testcase classname="shop" name="pays [REQ:SHOP-1]"/><testcase classname="shop" name="refunds [REQ:SHOP-2]"><failure message="refund rejected"/></testcase><testcase classname="shop" name="searches [REQ:SHOP-3]"/></testsuite>';
      })(),
    ]);
    await manualCase(projectId, 'Exports orders', { requirements: ['SHOP-4'] });
    const view = await traceabilityView(database.db, projectId, '1.4.0');
    expect(view.requirements.map((row) => [row.requirement, row.status])).toEqual([
      ['SHOP-9', 'no_tests'],
      ['SHOP-2', 'failing'],
      ['SHOP-4', 'not_run'],
      ['SHOP-1', 'passing'],
      ['SHOP-3', 'passing'],
    ]);
    const failing = view.requirements[1];
    expect(failing.tests).toEqual([expect.objectContaining({ title: 'refunds', latestStatus: 'failed' })]);
    expect(failing.defects).toEqual([expect.objectContaining({ origin: 'ci', linkKind: 'failed_in' })]);
    expect(view.requirements.find((row) => row.requirement === 'SHOP-1')?.title).toBe('Card payments');

    const csv = traceabilityCsv(view).split('\r\n');
    expect(csv[0]).toBe('requirement,title,status,release,tests,latest results,defects');
    expect(csv[1]).toBe('SHOP-9,Gift cards,no_tests,1.4.0,,,');
    expect(csv[2]).toMatch(/^SHOP-2,,failing,1\.4\.0,TC-\d+,TC-\d+: failed,"[A-Z0-9]+-1 \(ci, new\)"$/);
  });

  it('uses the newest release when none is named, and 404s an unknown one', async () => {
    const projectId = await newProject();
    await runOn(projectId, '1.10.0', [['a [REQ:R-1]', 'passed']]);
    await runOn(projectId, '1.9.0', [['a [REQ:R-1]', 'failed']]);
    const view = await traceabilityView(database.db, projectId);
    expect(view.release?.version).toBe('1.10.0');
    expect(view.requirements[0]).toMatchObject({ requirement: 'R-1', status: 'passing' });
    await expect(traceabilityView(database.db, projectId, '0.0.1')).rejects.toMatchObject({ code: 'not_found' });
  });
});
