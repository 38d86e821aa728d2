import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../server/auth/api-token-service';
import { createDefect } from '../../server/defects/defect-service';
import { createProject } from '../../server/projects/project-service';
import { signedInHeaders } from '../support/auth';
import { type SeededHistory, seedMetricsHistory, seededAsOf } from '../support/metrics-history';
import { type TestApp, startTestApp } from '../support/test-server';

let app: TestApp;
let history: SeededHistory;
let viewer: Record<string, string>;
beforeAll(async () => {
  app = await startTestApp();
  history = await seedMetricsHistory(app.database.db);
  viewer = (await signedInHeaders(app.database.db, { projectId: history.projectId, role: 'viewer' })).headers;
});
afterAll(() => app.close());

const metricsPath = (query = '') => `/api/v1/projects/${history.projectId}/metrics${query}`;
const readinessPath = (release: string, query = '') => `/api/v1/projects/${history.projectId}/releases/${encodeURIComponent(release)}/readiness${query}`;

describe('GET /api/v1/projects/:projectId/metrics', () => {
  it('answers a viewer with every metric and its numerator and denominator', async () => {
    const response = await app.request(metricsPath(`?asOf=${seededAsOf}&release=1.9.0`), { headers: viewer });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.asOf).toBe('2026-11-20T12:00:00.000Z');
    expect(body.timeZone).toBe('UTC');
    expect(body.filters.release).toMatchObject({ id: history.releases.r1, version: '1.9.0' });
    expect(body.metrics.defectLeakage).toEqual({ value: 0.5, numerator: 1, denominator: 2 });
    expect(body.metrics.defectDetectionPercentage).toEqual({ value: 0.5, numerator: 1, denominator: 2 });
    expect(Object.keys(body.metrics).sort()).toEqual(
      ['defectAge', 'defectDetectionPercentage', 'defectLeakage', 'density', 'duplicateRate', 'escapedByComponent', 'escapedWithoutCoverage', 'ineffectiveTests',
        'leakageByRelease', 'mttr', 'reopenRate', 'reportsPerDefect', 'throughput'].sort(),
    );
  });

  it('accepts an API token with the metrics:read scope', async () => {
    const { token } = await createApiToken(app.database.db, { projectId: history.projectId, name: 'ci', scopes: ['metrics:read'] });
    const response = await app.request(metricsPath(), { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
  });

  it('refuses an API token without the metrics:read scope with 403 insufficient_scope', async () => {
    const { token } = await createApiToken(app.database.db, { projectId: history.projectId, name: 'writer', scopes: ['reports:write'] });
    const response = await app.request(metricsPath(), { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(403);
    expect((await response.json()).error.code).toBe('insufficient_scope');
  });

  it('answers an anonymous caller with 401', async () => {
    const response = await app.request(metricsPath());
    expect(response.status).toBe(401);
    expect((await response.json()).error.code).toBe('unauthenticated');
  });

  it('answers a member of another project with 404, as if the project did not exist', async () => {
    const other = await createProject(app.database.db, { name: 'Other', keyPrefix: 'OTH' });
    const outsider = (await signedInHeaders(app.database.db, { projectId: other.id, role: 'admin' })).headers;
    const response = await app.request(metricsPath(), { headers: outsider });
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('not_found');
  });

  it('answers a project id that is not a uuid with 404, not a database error', async () => {
    const response = await app.request('/api/v1/projects/not-a-uuid/metrics', { headers: viewer });
    expect(response.status).toBe(404);
  });

  it.each([
    ['tz=Mars/Olympus', 'tz'],
    ['from=yesterday', 'from'],
    ['asOf=2026-02-30', 'asOf'],
    ['from=2026-11-10&to=2026-11-01', 'from'],
    ['to=2026-11-22&asOf=2026-11-01', 'to'],
    ['release=9.9.9', 'release'],
    ['release=1.9.0&release=1.10.0', 'release'],
  ])('rejects %s with 400 invalid_request naming the field', async (query, field) => {
    const response = await app.request(metricsPath(`?${query}`), { headers: viewer });
    expect(response.status).toBe(400);
    expect((await response.json()).error).toMatchObject({ code: 'invalid_request', field });
  });

  it('uses the tz parameter for calendar days and weeks', async () => {
    const response = await app.request(metricsPath('?from=2026-11-16&to=2026-11-22&tz=Europe/Berlin'), { headers: viewer });
    const body = await response.json();
    expect(body.filters.from).toBe('2026-11-15T23:00:00.000Z');
    expect(body.metrics.throughput.weeks).toEqual([{ week: '2026-W47', start: '2026-11-16', created: 3, resolved: 0 }]);
  });
});

describe('GET /api/v1/projects/:projectId/releases/:release/readiness', () => {
  it('answers the readiness evidence as JSON by version', async () => {
    const response = await app.request(readinessPath('1.10.0', `?asOf=${seededAsOf}`), { headers: viewer });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toBeNull();
    const body = await response.json();
    expect(body.release).toMatchObject({ id: history.releases.r2, version: '1.10.0' });
    expect(body.tests.executed).toEqual({ value: 0.75, numerator: 3, denominator: 4 });
    expect(body.openDefects.bySeverity[0]).toEqual({ severity: 'blocker', count: 1 });
  });

  it('exports CSV as a download with every figure and its audit trail', async () => {
    const response = await app.request(readinessPath('1.10.0', `?asOf=${seededAsOf}&format=csv`), { headers: viewer });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(response.headers.get('content-disposition')).toContain('readiness-1.10.0.csv');
    const lines = (await response.text()).trimEnd().split('\r\n');
    expect(lines[0]).toBe('section,item,value,numerator,denominator,detail');
    expect(lines).toContain('tests,executed,0.75,3,4,');
    expect(lines).toContain('tests,pass_rate,0.6667,2,3,');
    expect(lines).toContain('failing_by_priority,urgent,1,,,');
    expect(lines).toContain('leakage_trend,1.10.0,0.75,3,4,');
    expect(lines).toContain(`open_blocking_defect,${history.defects.d5.key},blocker,,,checkout blocker`);
    expect(lines).toContain('check,no_open_blockers,fail,,,1 open blocker defect(s) found in this release');
  });

  it('exports JSON as a download with format=json', async () => {
    const response = await app.request(readinessPath(history.releases.r2, `?asOf=${seededAsOf}&format=json`), { headers: viewer });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toContain('readiness-1.10.0.json');
    expect((await response.json()).release.version).toBe('1.10.0');
  });

  it('answers an unknown release with 404', async () => {
    const response = await app.request(readinessPath('7.7.7'), { headers: viewer });
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('not_found');
  });

  it('rejects an unknown format with 400', async () => {
    const response = await app.request(readinessPath('1.10.0', '?format=pdf'), { headers: viewer });
    expect(response.status).toBe(400);
    expect((await response.json()).error).toMatchObject({ code: 'invalid_request', field: 'format' });
  });

  it('answers an anonymous caller with 401', async () => {
    const response = await app.request(readinessPath('1.10.0'));
    expect(response.status).toBe(401);
  });
});

describe('cached answers', () => {
  const get = (pathname: string, extra: Record<string, string> = {}) => app.request(pathname, { headers: { ...viewer, ...extra } });

  it('reuses an answer while the data is unchanged, and says so in X-Metrics-Cache', async () => {
    const first = await get(metricsPath('?asOf=2026-11-21T00:00:00Z'));
    const second = await get(metricsPath('?asOf=2026-11-21T00:00:00Z'));
    expect([first.headers.get('x-metrics-cache'), second.headers.get('x-metrics-cache')]).toEqual(['miss', 'hit']);
    expect(await second.json()).toEqual(await first.json());
  });

  it('computes afresh when the caller sends Cache-Control: no-cache', async () => {
    await get(metricsPath('?asOf=2026-11-21T01:00:00Z'));
    const fresh = await get(metricsPath('?asOf=2026-11-21T01:00:00Z'), { 'cache-control': 'no-cache' });
    expect(fresh.headers.get('x-metrics-cache')).toBe('miss');
  });

  it('recomputes the metrics after a defect is recorded', async () => {
    const before = await (await get(metricsPath('?asOf=2026-12-31&release=1.11.0'))).json();
    expect(before.metrics.defectLeakage).toEqual({ value: 0, numerator: 0, denominator: 2 });
    await app.database.db.transaction().execute((trx) =>
      createDefect(trx, { projectId: history.projectId, title: 'Found by a user', origin: 'field', foundInReleaseId: history.releases.r3, firstSeenAt: new Date('2026-12-01T00:00:00Z') }),
    );
    const after = await get(metricsPath('?asOf=2026-12-31&release=1.11.0'));
    expect(after.headers.get('x-metrics-cache')).toBe('miss');
    expect((await after.json()).metrics.defectLeakage).toEqual({ value: 0.3333, numerator: 1, denominator: 3 });
  });

  it('recomputes readiness after a new test result', async () => {
    const path = readinessPath('1.10.0', '?asOf=2026-12-31');
    expect((await (await get(path)).json()).tests.executed).toEqual({ value: 0.75, numerator: 3, denominator: 4 });
    const { db } = app.database;
    const run = await db.insertInto('testRuns').values({ projectId: history.projectId, releaseId: history.releases.r2, build: '1.10.0+3', createdAt: new Date('2026-12-02T00:00:00Z') }).returning('id').executeTakeFirstOrThrow();
    const profile = await db.selectFrom('testCases').select('id').where('projectId', '=', history.projectId).where('key', '=', 'PROF-1').executeTakeFirstOrThrow();
    await db.insertInto('testResults').values({ testRunId: run.id, testCaseId: profile.id, status: 'passed', createdAt: new Date('2026-12-02T00:00:00Z') }).execute();
    expect((await (await get(path)).json()).tests.executed).toEqual({ value: 1, numerator: 4, denominator: 4 });
  });
});
