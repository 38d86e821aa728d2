import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inboxAgeBuckets, noComponent } from '../../shared/dashboard-api';
import type { CsvPreviewResponse, TestCaseDetailResponse, TestCaseFacets, TestCaseListResponse, TestRun, TestRunDetailResponse } from '../../shared/quality-api';
import { ageBuckets } from '../../server/metrics/metric-math';
import { createApiToken } from '../../server/auth/api-token-service';
import { createDefect, updateDefect } from '../../server/defects/defect-service';
import type { ProjectRole } from '../../server/db/schema';
import { createProject } from '../../server/projects/project-service';
import { signedInHeaders } from '../support/auth';
import { type SeededHistory, seedMetricsHistory } from '../support/metrics-history';
import { startTestApp, type TestApp } from '../support/test-server';

// The inbox filters the metrics, readiness and test pages link with, and the catalog and run
// additions of the dashboard's test pages: every role, tokens, and malformed input.

let app: TestApp;
let history: SeededHistory;
const as = {} as Record<ProjectRole | 'outsider', Record<string, string>>;
const day = 86_400_000;

beforeAll(async () => {
  app = await startTestApp();
  history = await seedMetricsHistory(app.database.db, 'DRL');
  for (const role of ['admin', 'triager', 'viewer'] as const) as[role] = (await signedInHeaders(app.database.db, { projectId: history.projectId, role })).headers;
  const other = await createProject(app.database.db, { name: 'Other', keyPrefix: 'OTD' });
  as.outsider = (await signedInHeaders(app.database.db, { projectId: other.id, role: 'admin' })).headers;
});
afterAll(() => app.close());

const inbox = async (query: string, headers = as.viewer, projectId = history.projectId) => {
  const response = await app.request(`/api/v1/projects/${projectId}/defects?${query}`, { headers });
  return { status: response.status, body: await response.json() };
};
const keys = async (query: string, projectId = history.projectId) => {
  const { status, body } = await inbox(query, as.viewer, projectId);
  expect(status, JSON.stringify(body)).toBe(200);
  return (body.defects as { key: string }[]).map((row) => row.key).sort();
};
const key = (name: keyof SeededHistory['defects']) => history.defects[name].key;

describe('inbox drill-down filters', () => {
  it('keeps its age buckets equal to the metrics’ buckets', () => {
    expect(inboxAgeBuckets.map(({ label, minDays, maxDays }) => ({ label, minDays, maxDays }))).toEqual(ageBuckets.map(({ label, minDays, maxDays }) => ({ label, minDays, maxDays })));
  });

  it('filters by creation window, days inclusive, in the given time zone', async () => {
    // ISO week 2026-W45: D1 (11-02 10:00), D2 (11-02 12:00), D3 (11-04); D4 is merged and never listed.
    expect(await keys('status=all&createdFrom=2026-11-02&createdTo=2026-11-08')).toEqual([key('d1'), key('d2'), key('d3')].sort());
    // D5 was created 11-15 23:30 UTC: Sunday in UTC, Monday 00:30 in Berlin.
    expect(await keys('status=all&createdFrom=2026-11-16&createdTo=2026-11-22')).toEqual([key('d6'), key('d7')].sort());
    expect(await keys('status=all&createdFrom=2026-11-16&createdTo=2026-11-22&tz=Europe/Berlin')).toEqual([key('d5'), key('d6'), key('d7')].sort());
    expect(await keys('status=all&createdFrom=2026-11-20T10:59:00Z&createdTo=2026-11-20T11:00:00Z')).toEqual([key('d7')]);
  });

  it('filters by the last resolution, so a defect reopened since is not listed', async () => {
    // D1 resolved 11-03 10:00; D2 closed for good 11-04 12:00; D3 resolved 11-05 but reopened.
    expect(await keys('status=all&resolvedFrom=2026-11-03&resolvedTo=2026-11-04')).toEqual([key('d1'), key('d2')].sort());
    expect(await keys('status=all&resolvedFrom=2026-11-05&resolvedTo=2026-11-30')).toEqual([]);
    expect(await keys('status=resolved,verified,closed&severity=critical&resolvedTo=2026-11-30')).toEqual([key('d2')]);
  });

  it('filters by several origins and by reopened at least once', async () => {
    expect(await keys('status=all&origin=qa,ci')).toEqual([key('d2'), key('d6'), key('d7'), key('d8')].sort());
    expect(await keys('status=all&reopened=true')).toEqual([key('d2'), key('d3')].sort());
    expect(await keys('status=all&reopened=false')).toEqual([key('d1'), key('d5'), key('d6'), key('d7'), key('d8'), key('d9')].sort());
  });

  it('lists open defects by age bucket with the metrics’ edges, and defects without a component', async () => {
    const project = await createProject(app.database.db, { name: 'Ages', keyPrefix: 'AGE' });
    const viewer = (await signedInHeaders(app.database.db, { projectId: project.id, role: 'viewer' })).headers;
    const now = Date.now();
    const made: Record<string, string> = {};
    for (const [name, ageDays, component] of [['fresh', 0.5, 'cart'], ['week', 3, 'cart'], ['month', 10, null], ['old', 100, 'cart'], ['exactlySeven', 7.01, 'cart']] as const) {
      const defect = await app.database.db.transaction().execute((trx) =>
        createDefect(trx, { projectId: project.id, title: name, origin: 'field', component, firstSeenAt: new Date(now - ageDays * day) }),
      );
      made[name] = defect.key;
    }
    const done = await app.database.db.transaction().execute((trx) => createDefect(trx, { projectId: project.id, title: 'done', origin: 'field', firstSeenAt: new Date(now - 2 * day) }));
    await app.database.db.transaction().execute((trx) => updateDefect(trx, done.id, { status: 'resolved' }, { kind: 'user' }));
    const ages = async (bucket: string) => {
      const response = await app.request(`/api/v1/projects/${project.id}/defects?age=${bucket}`, { headers: viewer });
      expect(response.status).toBe(200);
      return ((await response.json()).defects as { key: string }[]).map((row) => row.key).sort();
    };
    expect(await ages('0-1')).toEqual([made.fresh]);
    expect(await ages('1-7')).toEqual([made.week]);
    expect(await ages('7-30')).toEqual([made.month, made.exactlySeven].sort());
    expect(await ages('30-90')).toEqual([]);
    expect(await ages('90-')).toEqual([made.old]);
    const none = await app.request(`/api/v1/projects/${project.id}/defects?status=all&component=${encodeURIComponent(noComponent)}`, { headers: viewer });
    expect(((await none.json()).defects as { key: string }[]).map((row) => row.key).sort()).toEqual([made.month, done.key].sort());
  });

  it.each([
    ['age=2-5', 'age'],
    ['createdFrom=yesterday', 'createdFrom'],
    ['resolvedTo=2026-11-01T10:00', 'resolvedTo'],
    ['tz=Mars/Olympus&createdFrom=2026-11-01', 'tz'],
    ['origin=field,moon', 'origin'],
    ['reopened=maybe', 'reopened'],
  ])('answers %s with 400 invalid_request naming the field', async (query, field) => {
    const { status, body } = await inbox(query);
    expect({ status, code: body.error.code, field: body.error.field ?? body.error.message }).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(JSON.stringify(body.error)).toContain(field);
  });

  it('answers every project role and a defects:read token, refuses other scopes, strangers and anonymous callers', async () => {
    for (const role of ['admin', 'triager', 'viewer'] as const) expect((await inbox('age=90-&origin=qa,ci', as[role])).status, role).toBe(200);
    const reader = await createApiToken(app.database.db, { projectId: history.projectId, name: 'reader', scopes: ['defects:read'] });
    expect((await inbox('createdFrom=2026-11-01', { authorization: `Bearer ${reader.token}` })).status).toBe(200);
    const writer = await createApiToken(app.database.db, { projectId: history.projectId, name: 'reports', scopes: ['reports:write'] });
    expect((await inbox('createdFrom=2026-11-01', { authorization: `Bearer ${writer.token}` })).status).toBe(403);
    expect((await inbox('age=90-', as.outsider)).status).toBe(404);
    expect((await inbox('age=90-', {})).status).toBe(401);
  });
});

describe('test catalog additions', () => {
  const api = (pathname: string, headers: Record<string, string> = as.viewer, init: RequestInit = {}) =>
    app.request(`/api/v1/projects/${history.projectId}${pathname}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });

  it('filters the catalog by priority (any case) and lists archived cases alone', async () => {
    const urgent = (await (await api('/test-cases?priority=URGENT')).json()) as TestCaseListResponse;
    expect(urgent.items.map((testCase) => testCase.key)).toEqual(['CART-2']);
    const archived = (await (await api('/test-cases?archived=only')).json()) as TestCaseListResponse;
    expect(archived.items.map((testCase) => testCase.key)).toEqual(['SRCH-1']);
    const both = (await (await api('/test-cases?archived=true')).json()) as TestCaseListResponse;
    expect(both.total).toBe(5);
    const live = (await (await api('/test-cases')).json()) as TestCaseListResponse;
    expect(live.total).toBe(4);
    expect((await api('/test-cases?archived=maybe')).status).toBe(400);
  });

  it('answers the filter-bar facets to viewers and test-cases:read tokens only', async () => {
    const response = await api('/test-case-facets');
    expect(response.status).toBe(200);
    expect((await response.json()) as TestCaseFacets).toEqual({ suites: [], components: ['cart', 'checkout', 'profile', 'search'], tags: [], priorities: ['high', 'low', 'medium', 'urgent'] });
    const reader = await createApiToken(app.database.db, { projectId: history.projectId, name: 'tests', scopes: ['test-cases:read'] });
    expect((await api('/test-case-facets', { authorization: `Bearer ${reader.token}` })).status).toBe(200);
    const metricsOnly = await createApiToken(app.database.db, { projectId: history.projectId, name: 'metrics', scopes: ['metrics:read'] });
    expect((await api('/test-case-facets', { authorization: `Bearer ${metricsOnly.token}` })).status).toBe(403);
    expect((await api('/test-case-facets', as.outsider)).status).toBe(404);
    expect((await api('/test-case-facets', {})).status).toBe(401);
  });

  it('gives a case its latest result per release (skips only when nothing else ran) and editors’ emails in the history', async () => {
    const cart2 = ((await (await api('/test-cases?q=CART-2')).json()) as TestCaseListResponse).items[0];
    const checkout = ((await (await api('/test-cases?q=CHK-1')).json()) as TestCaseListResponse).items[0];
    const detail = (await (await api(`/test-cases/${cart2.id}`)).json()) as TestCaseDetailResponse;
    expect(detail.latestByRelease.map(({ release, status, build }) => ({ release, status, build }))).toEqual([{ release: '1.10.0', status: 'failed', build: '1.10.0+2' }]);
    // CHK-1: skipped on 1.10.0+1, passed on 1.10.0+2.
    const chk = (await (await api(`/test-cases/${checkout.id}`)).json()) as TestCaseDetailResponse;
    expect(chk.latestByRelease.map(({ release, status }) => ({ release, status }))).toEqual([{ release: '1.10.0', status: 'passed' }]);
    const editor = await signedInHeaders(app.database.db, { projectId: history.projectId, role: 'triager', email: 'editor@example.com' });
    const patched = await api(`/test-cases/${cart2.id}`, editor.headers, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ priority: 'high' }) });
    expect(patched.status).toBe(200);
    const revisions = ((await (await api(`/test-cases/${cart2.id}`)).json()) as TestCaseDetailResponse).revisions;
    expect(revisions.at(-1)).toMatchObject({ actorEmail: 'editor@example.com', changes: { priority: { from: 'urgent', to: 'high' } } });
    await api(`/test-cases/${cart2.id}`, editor.headers, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ priority: 'urgent' }) });
  });

  it('previews a CSV import (dryRun) with the resolved columns and writes nothing; viewers are refused', async () => {
    const csv = 'ID,Title,Section,References\n7,Refund,Orders,SHOP-1\n8,Reorder,Orders,SHOP-2\n';
    const before = ((await (await api('/test-cases?archived=true')).json()) as TestCaseListResponse).total;
    const preview = await api('/test-cases/import?dryRun=true&map.suite=Title', as.triager, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
    expect(preview.status).toBe(200);
    const body = (await preview.json()) as CsvPreviewResponse;
    expect(body).toMatchObject({ preset: 'testrail', headers: ['ID', 'Title', 'Section', 'References'], total: 2 });
    expect(body.columns).toMatchObject({ key: 'ID', title: 'Title', suite: 'Title', requirements: 'References' });
    expect(body.cases.map((testCase) => [testCase.key, testCase.suite, testCase.requirements])).toEqual([
      ['C7', 'Refund', ['SHOP-1']],
      ['C8', 'Reorder', ['SHOP-2']],
    ]);
    expect(((await (await api('/test-cases?archived=true')).json()) as TestCaseListResponse).total).toBe(before);
    const bad = await api('/test-cases/import?dryRun=true&map.title=Nope', as.triager, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toContain('no column "Nope"');
    const viewer = await api('/test-cases/import?dryRun=true', as.viewer, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
    expect(viewer.status).toBe(403);
    const writer = await createApiToken(app.database.db, { projectId: history.projectId, name: 'csv', scopes: ['test-cases:write'] });
    expect((await api('/test-cases/import?dryRun=true', { authorization: `Bearer ${writer.token}` }, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv })).status).toBe(200);
  });

  it('lists runs with flaky counts, narrows them by release, and filters a run’s results by status list and flakiness', async () => {
    const runs = ((await (await api('/test-runs')).json()) as { items: TestRun[] }).items;
    expect(runs.map((run) => [run.build, run.flaky])).toEqual([
      ['1.10.0+2', 0],
      ['1.10.0+1', 0],
      ['1.9.0+1', 0],
    ]);
    const ofRelease = ((await (await api('/test-runs?release=1.10.0')).json()) as { items: TestRun[] }).items;
    expect(ofRelease.map((run) => run.build)).toEqual(['1.10.0+2', '1.10.0+1']);
    const first = ofRelease[1];
    await app.database.db.updateTable('testResults').set({ isFlaky: true }).where('testRunId', '=', first.id).where('status', '=', 'passed').execute();
    const problems = (await (await api(`/test-runs/${first.id}?status=failed,error&flaky=true`)).json()) as TestRunDetailResponse;
    expect(problems.run.flaky).toBe(1);
    expect(problems.results.map((result) => [result.key, result.status, result.isFlaky]).sort()).toEqual([
      ['CART-1', 'passed', true],
      ['CART-2', 'failed', false],
    ]);
    const skipped = (await (await api(`/test-runs/${first.id}?status=skipped`)).json()) as TestRunDetailResponse;
    expect(skipped.results.map((result) => result.key)).toEqual(['CHK-1']);
    const steady = (await (await api(`/test-runs/${first.id}?flaky=false`)).json()) as TestRunDetailResponse;
    expect(steady.results.map((result) => result.key).sort()).toEqual(['CART-2', 'CHK-1']);
    expect((await api(`/test-runs/${first.id}?status=broken`)).status).toBe(400);
    expect((await api(`/test-runs/${first.id}?flaky=often`)).status).toBe(400);
    expect((await api(`/test-runs/${first.id}`, as.outsider)).status).toBe(404);
    expect((await api(`/test-runs/${first.id}`, {})).status).toBe(401);
    await app.database.db.updateTable('testResults').set({ isFlaky: false }).where('testRunId', '=', first.id).execute();
  });
});
