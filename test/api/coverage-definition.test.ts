import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject } from '../../server/projects/project-service';
import { findOrCreateRelease } from '../../server/releases/release-service';
import { setTestCaseArchived } from '../../server/test-management/test-case-service';
import { importTestRun } from '../../server/test-management/test-run-import';
import { signedInHeaders } from '../support/auth';
import { startTestApp, type TestApp } from '../support/test-server';
import { seedDefect } from './defect-fixtures';

/**
 * One definition of coverage (server/test-management/coverage-definition.ts, docs/metrics.md):
 * a field defect is covered by a linked test case of any link kind that is not archived. Four
 * field defects of release 1.0.0: linked only by `failed_in`, linked by `covers`, not linked,
 * linked by `covers` to a test case archived since. Every place that speaks of coverage (inbox
 * flag and filter, defect page, coverage gaps, metrics, readiness of the next release) must
 * agree on which two are gaps.
 */
describe('coverage means the same everywhere', () => {
  let app: TestApp;
  let projectId: string;
  let headers: Record<string, string>;
  const keys = { failedIn: '', covers: '', unlinked: '', archived: '' };
  const get = async <T>(path: string): Promise<T> => {
    const response = await app.request(`/api/v1/projects/${projectId}${path}`, { headers: { ...headers, 'cache-control': 'no-cache' } });
    expect(response.status, `${path}: ${await response.clone().text()}`).toBe(200);
    return response.json() as Promise<T>;
  };

  beforeAll(async () => {
    app = await startTestApp();
    const { db } = app.database;
    projectId = (await createProject(db, { name: 'Coverage shop', keyPrefix: 'COV', allowedOrigins: [] })).id;
    headers = (await signedInHeaders(db, { projectId, role: 'admin' })).headers;
    await db.transaction().execute((trx) => findOrCreateRelease(trx, projectId, '2.0.0'));
    const defect = async (title: string) => (await seedDefect(db, projectId, { title, component: 'checkout', release: '1.0.0', reports: [{ description: title }] })).defect;
    const [failedIn, covers, unlinked, archived] = [await defect('Coupon rejected'), await defect('Card declined'), await defect('Cart emptied'), await defect('Address lost')];
    Object.assign(keys, { failedIn: failedIn.key, covers: covers.key, unlinked: unlinked.key, archived: archived.key });
    const post = async (path: string, body: unknown) => {
      const response = await app.request(`/api/v1/projects/${projectId}${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(response.status, await response.clone().text()).toBe(201);
      return response.json();
    };
    const coupons = await post('/test-cases', { title: 'Applies a coupon', component: 'checkout' });
    const cards = await post('/test-cases', { title: 'Pays by card', component: 'checkout' });
    const addresses = await post('/test-cases', { title: 'Keeps the address', component: 'checkout' });
    // A failed_in link names the result it failed in: a CI run of 2.0.0 where the coupon test failed
    // (that also makes a ci defect, which is never a gap).
    await importTestRun(db, { projectId, release: '2.0.0' }, [
      (async function* () {
        yield `<testsuite name="checkout"><testcase classname="checkout" name="Applies a coupon [${coupons.key}]"><failure message="expected 90 to be 81"/></testcase></testsuite>`;
      })(),
    ]);
    const result = await db.selectFrom('testResults').select('id').where('testCaseId', '=', coupons.id).executeTakeFirstOrThrow();
    await post(`/defects/${failedIn.key}/test-links`, { testCaseId: coupons.id, kind: 'failed_in', testResultId: String(result.id) });
    await post(`/defects/${covers.key}/test-links`, { testCaseId: cards.id, kind: 'covers' });
    await post(`/defects/${archived.key}/test-links`, { testCaseId: addresses.id, kind: 'covers' });
    await setTestCaseArchived(db, projectId, addresses.id, true, null);
  });
  afterAll(() => app?.close());

  const gaps = () => [keys.unlinked, keys.archived].sort();
  const covered = () => [keys.failedIn, keys.covers].sort();

  it('the inbox filter and its rows flag the same gaps', async () => {
    const withGap = await get<{ defects: { key: string; coverageGap: boolean }[] }>('/defects?status=all&origin=field&coverageGap=true');
    expect(withGap.defects.map((row) => row.key).sort()).toEqual(gaps());
    const withoutGap = await get<{ defects: { key: string; coverageGap: boolean }[] }>('/defects?status=all&origin=field&coverageGap=false');
    expect(withoutGap.defects.map((row) => row.key).sort()).toEqual(covered());
    const all = await get<{ defects: { key: string; origin: string; coverageGap: boolean }[] }>('/defects?status=all');
    expect(all.defects.find((row) => row.origin === 'ci')).toMatchObject({ coverageGap: false });
    expect(all.defects.filter((row) => row.coverageGap).map((row) => row.key).sort()).toEqual(gaps());
  });

  it('the defect page says "coverage gap" for the same defects', async () => {
    for (const key of [...gaps(), ...covered()]) {
      const detail = await get<{ defect: { coverageGap: boolean } }>(`/defects/${key}`);
      expect(detail.defect.coverageGap, key).toBe(gaps().includes(key));
    }
  });

  it('GET coverage/gaps lists the same defects (a failed_in link closes a gap)', async () => {
    const answer = await get<{ items: { key: string }[] }>('/coverage/gaps');
    expect(answer.items.map((gap) => gap.key).sort()).toEqual(gaps());
  });

  it('the metrics count the same escaped defects without coverage', async () => {
    const { metrics } = await get<{ metrics: { escapedWithoutCoverage: { numerator: number; denominator: number }; escapedByComponent: { component: string | null; escaped: number; withoutCoverage: { numerator: number; denominator: number } }[] } }>(
      '/metrics?release=1.0.0',
    );
    expect(metrics.escapedWithoutCoverage).toMatchObject({ numerator: 2, denominator: 4 });
    expect(metrics.escapedByComponent).toEqual([{ component: 'checkout', escaped: 4, withoutCoverage: { value: 0.5, numerator: 2, denominator: 4 } }]);
  });

  it('the next release’s readiness says the same escapes have tests', async () => {
    const releases = await get<{ releases: { id: string; version: string }[] }>('/releases');
    const next = releases.releases.find((release) => release.version === '2.0.0')!;
    const readiness = await get<{ previousReleaseEscapes: { total: number; withTests: number; defects: { key: string; hasTest: boolean; testCaseKeys: string[] }[] } }>(`/releases/${next.id}/readiness`);
    expect(readiness.previousReleaseEscapes).toMatchObject({ total: 4, withTests: 2 });
    const escapes = readiness.previousReleaseEscapes.defects;
    expect(escapes.filter((escape) => escape.hasTest).map((escape) => escape.key).sort()).toEqual(covered());
    // The keys listed as evidence are the covering tests: none for the archived-only defect.
    expect(escapes.filter((escape) => escape.testCaseKeys.length > 0).map((escape) => escape.key).sort()).toEqual(covered());
  });
});
