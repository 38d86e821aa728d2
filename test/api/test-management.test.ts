import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../server/auth/api-token-service';
import { createDefect } from '../../server/defects/defect-service';
import { createProject } from '../../server/projects/project-service';
import { signedInHeaders } from '../support/auth';
import { startTestApp, type TestApp } from '../support/test-server';

const fixtures = path.resolve('test/fixtures/junit');
const fixture = (name: string) => readFileSync(path.join(fixtures, name));
let app: TestApp;
let projectId: string;
let ciToken: string;

beforeAll(async () => {
  app = await startTestApp();
  projectId = (await createProject(app.database.db, { name: 'Shop', keyPrefix: 'SHOP' })).id;
  ciToken = (await createApiToken(app.database.db, { projectId, name: 'CI', scopes: ['test-runs:write'] })).token;
});
afterAll(() => app.close());

const postRun = (body: BodyInit, query = 'release=1.4.0&build=77&commit=abc', headers: Record<string, string> = {}) =>
  app.request(`/api/v1/test-runs?${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ciToken}`, 'content-type': 'application/xml', ...headers },
    body,
  });

async function expectError(response: Response, status: number, code: string): Promise<string> {
  const body = await response.json();
  expect({ status: response.status, code: body.error?.code }).toEqual({ status, code });
  return body.error.message as string;
}

describe('POST /api/v1/test-runs', () => {
  it('imports a JUnit report with a CI token and answers the summary', async () => {
    const response = await postRun(fixture('playwright.xml'));
    expect(response.status).toBe(201);
    const summary = await response.json();
    expect(summary).toMatchObject({ cases: 5, passed: 3, failed: 1, errors: 0, skipped: 1, newCases: 5, newDefects: 1 });
    expect(response.headers.get('location')).toBe(`/api/v1/projects/${projectId}/test-runs/${summary.runId}`);
    const run = await app.database.db.selectFrom('testRuns').innerJoin('releases', 'releases.id', 'testRuns.releaseId').select(['releases.version', 'testRuns.build', 'testRuns.commitSha', 'testRuns.source']).where('testRuns.id', '=', summary.runId).executeTakeFirstOrThrow();
    expect(run).toEqual({ version: '1.4.0', build: '77', commitSha: 'abc', source: 'api' });
  });

  it('takes run details from X-Bugloop-* headers and a gzip body', async () => {
    const response = await postRun(gzipSync(fixture('gotestsum.xml')), '', { 'content-encoding': 'gzip', 'x-bugloop-release': '1.5.0', 'x-bugloop-environment': 'staging' });
    expect(response.status).toBe(201);
    const summary = await response.json();
    expect(summary).toMatchObject({ cases: 5, failed: 1, skipped: 1 });
    const run = await app.database.db.selectFrom('testRuns').selectAll().where('id', '=', summary.runId).executeTakeFirstOrThrow();
    expect(run.environment).toBe('staging');
  });

  it('answers 400 invalid_xml for external entities (XXE) and stores nothing', async () => {
    const before = await app.database.db.selectFrom('testRuns').select('id').execute();
    const message = await expectError(await postRun(fixture('hostile/xxe.xml')), 400, 'invalid_xml');
    expect(message).toMatch(/DOCTYPE or ENTITY/);
    expect(await app.database.db.selectFrom('testRuns').select('id').execute()).toHaveLength(before.length);
  });

  it('answers 400 invalid_xml for entity expansion (billion laughs)', async () => {
    await expectError(await postRun(fixture('hostile/billion-laughs.xml')), 400, 'invalid_xml');
  });

  it('answers 400 invalid_xml with the position for a truncated report', async () => {
    const message = await expectError(await postRun(fixture('hostile/truncated.xml')), 400, 'invalid_xml');
    expect(message).toMatch(/not well-formed XML/);
  });

  it('answers 400 invalid_xml for a huge attribute', async () => {
    const huge = `<testsuite name="s"><testcase classname="c" name="${'a'.repeat(1_100_000)}"/></testsuite>`;
    const message = await expectError(await postRun(huge), 400, 'invalid_xml');
    expect(message).toMatch(/attribute value is longer/);
  });

  it('answers 400 invalid_xml for HTML (a proxy error page) and for an empty body', async () => {
    await expectError(await postRun(fixture('hostile/not-junit.xml')), 400, 'invalid_xml');
    await expectError(await postRun(''), 400, 'invalid_xml');
  });

  it('answers 415 for a body that is not XML and 400 for a corrupt gzip body', async () => {
    await expectError(await postRun('{}', undefined, { 'content-type': 'application/json' }), 415, 'unsupported_media_type');
    await expectError(await postRun('not gzip', undefined, { 'content-encoding': 'gzip' }), 400, 'invalid_request');
  });

  it('needs a token with test-runs:write', async () => {
    const readOnly = (await createApiToken(app.database.db, { projectId, name: 'RO', scopes: ['test-cases:read'] })).token;
    await expectError(await postRun(fixture('vitest.xml'), undefined, { authorization: `Bearer ${readOnly}` }), 403, 'insufficient_scope');
    await expectError(await app.request('/api/v1/test-runs', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: fixture('vitest.xml') }), 401, 'unauthenticated');
  });

  it('lets a signed-in triager upload to the project route, not a viewer', async () => {
    const triager = await signedInHeaders(app.database.db, { projectId, role: 'triager' });
    const viewer = await signedInHeaders(app.database.db, { projectId, role: 'viewer' });
    const upload = (headers: Record<string, string>) =>
      app.request(`/api/v1/projects/${projectId}/test-runs?release=1.4.1`, { method: 'POST', headers: { ...headers, 'content-type': 'text/xml' }, body: fixture('vitest.xml') });
    expect((await upload(triager.headers)).status).toBe(201);
    await expectError(await upload(viewer.headers), 403, 'forbidden');
    await expectError(await app.request(`/api/v1/projects/not-a-uuid/test-runs`, { method: 'POST', headers: triager.headers, body: '' }), 404, 'not_found');
  });
});

describe('catalog, links and reports over HTTP', () => {
  let headers: Record<string, string>;
  beforeAll(async () => {
    headers = { ...(await signedInHeaders(app.database.db, { projectId, role: 'triager' })).headers, 'content-type': 'application/json' };
  });
  const api = (pathname: string, init: RequestInit = {}) => app.request(`/api/v1/projects/${projectId}${pathname}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });

  it('creates, edits, archives and lists test cases, validating input', async () => {
    const created = await api('/test-cases', { method: 'POST', body: JSON.stringify({ title: 'Pay with gift card', component: 'checkout', steps: [{ action: 'Pay', expected: 'Paid' }], requirements: ['SHOP-77'] }) });
    expect(created.status).toBe(201);
    const testCase = await created.json();
    expect(testCase).toMatchObject({ kind: 'manual', requirements: ['SHOP-77'] });
    const patched = await api(`/test-cases/${testCase.key}`, { method: 'PATCH', body: JSON.stringify({ priority: 'high' }) });
    expect((await patched.json()).priority).toBe('high');
    const detail = await (await api(`/test-cases/${testCase.id}`)).json();
    expect(detail.revisions).toHaveLength(2);
    expect((await (await api('/test-cases?requirement=SHOP-77')).json()).total).toBe(1);
    expect((await api(`/test-cases/${testCase.id}/archive`, { method: 'POST' })).status).toBe(200);
    expect((await (await api('/test-cases?requirement=SHOP-77')).json()).total).toBe(0);
    await expectError(await api('/test-cases', { method: 'POST', body: JSON.stringify({ title: '' }) }), 400, 'invalid_request');
    await expectError(await api('/test-cases', { method: 'POST', body: '{' }), 400, 'invalid_json');
    await expectError(await api('/test-cases/TC-99999'), 404, 'not_found');
  });

  it('imports a CSV with a column mapping given as query parameters', async () => {
    const response = await api('/test-cases/import?preset=kiwi&map.requirements=Jira', {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: 'ID,Summary,Category,Jira\n501,Search by price,Search,SHOP-5\n',
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ preset: 'kiwi', created: 1, keys: ['KIWI-501'] });
    await expectError(await api('/test-cases/import?map.title=Nope', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'Title\nx\n' }), 400, 'invalid_request');
  });

  it('links a defect to a test case, shows coverage gaps and suggestions, and exports traceability as CSV', async () => {
    const defect = await app.database.db.transaction().execute((trx) => createDefect(trx, { projectId, title: 'Gift card payment fails', origin: 'field', component: 'checkout' }));
    const gaps = await (await api('/coverage/gaps')).json();
    expect(gaps.items.map((gap: { key: string }) => gap.key)).toContain(defect.key);
    const testCase = await (await api('/test-cases', { method: 'POST', body: JSON.stringify({ title: 'Gift card payment', component: 'checkout', requirements: ['SHOP-88'] }) })).json();
    const suggestions = await (await api(`/defects/${defect.key}/test-suggestions`)).json();
    expect(suggestions.items[0]).toMatchObject({ testCase: { key: testCase.key }, reasons: expect.arrayContaining(['same component (checkout)']) });
    const linked = await api(`/defects/${defect.key}/test-links`, { method: 'POST', body: JSON.stringify({ testCaseId: testCase.id, kind: 'covers' }) });
    expect(linked.status).toBe(201);
    await expectError(await api(`/defects/${defect.key}/test-links`, { method: 'POST', body: JSON.stringify({ testCaseId: testCase.id, kind: 'fixes' }) }), 400, 'invalid_request');
    const links = await (await api(`/defects/${defect.id}/test-links`)).json();
    expect(links).toMatchObject({ items: [{ kind: 'covers', testCaseKey: testCase.key }], verifiedByTest: false });
    const after = await (await api('/coverage/gaps')).json();
    expect(after.items.map((gap: { key: string }) => gap.key)).not.toContain(defect.key);

    const csv = await api('/traceability?release=1.4.0&format=csv');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="traceability-1.4.0.csv"');
    const lines = (await csv.text()).split('\r\n');
    expect(lines[0]).toBe('requirement,title,status,release,tests,latest results,defects');
    expect(lines).toContainEqual(expect.stringMatching(/^SHOP-88,,not_run,1\.4\.0,TC-\d+,TC-\d+: not run,"SHOP-\d+ \(field, new\)"$/));
    const json = await (await api('/traceability?release=1.4.0')).json();
    expect(json.release.version).toBe('1.4.0');
    await expectError(await api('/traceability?release=0.0.0'), 404, 'not_found');
  });

  it('lists releases in semantic order and runs with their results', async () => {
    const releases = await (await api('/test-releases')).json();
    expect(releases.items.map((release: { version: string }) => release.version)).toEqual(['1.4.0', '1.4.1', '1.5.0']);
    const runs = await (await api('/test-runs')).json();
    const detail = await (await api(`/test-runs/${runs.items[0].id}?status=failed`)).json();
    expect(detail.results.every((result: { status: string }) => result.status === 'failed')).toBe(true);
  });
});
