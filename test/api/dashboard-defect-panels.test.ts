import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DefectIntegrationsResponse, DefectTestLinksResponse } from '../../shared/dashboard-api';
import { createApiToken } from '../../server/auth/api-token-service';
import { linkDefectToTestCase } from '../../server/test-management/coverage-service';
import { createTestCase } from '../../server/test-management/test-case-service';
import { importTestRun } from '../../server/test-management/test-run-import';
import { signedInHeaders } from '../support/auth';
import { addDestination, seedDefect, testSecretKey } from '../support/integrations';
import { startTestApp, type TestApp } from '../support/test-server';

/**
 * The two answers the defect page's side panels read, for every kind of caller: the defect's
 * integrations (tickets per tracker plus the destinations it can be sent to) and its test links
 * (with the coverage status: verified by test, ineffective tests).
 */
let app: TestApp;
let projectId: string;
let defectId: string;
let defectKey: string;
const callers: Record<string, Record<string, string>> = {};

beforeAll(async () => {
  app = await startTestApp({ PUBLIC_URL: 'https://bugloop.test', SECRET_KEY: testSecretKey });
  ({ projectId, defectId, defectKey } = await seedDefect(app.database.db, { component: 'checkout' }));
  for (const role of ['viewer', 'triager', 'admin'] as const) callers[role] = (await signedInHeaders(app.database.db, { projectId, role })).headers;
  const other = await seedDefect(app.database.db);
  callers.outsider = (await signedInHeaders(app.database.db, { projectId: other.projectId, role: 'admin' })).headers;
  callers.token = { authorization: `Bearer ${(await createApiToken(app.database.db, { projectId, name: 'read', scopes: ['defects:read', 'test-cases:read'] })).token}` };
  callers.anonymous = {};
  await addDestination(app.database.db, projectId, { kind: 'jira', name: 'Jira WEB', config: { baseUrl: 'https://acme.atlassian.net', projectKey: 'WEB', email: 'bot@acme.example' }, secrets: { apiToken: 'ATATT-secret' } });
  await addDestination(app.database.db, projectId, { kind: 'slack', name: 'Slack bugs', config: { channel: 'C0123BUGS' }, secrets: { botToken: 'xoxb-secret' }, enabled: false });
  await addDestination(app.database.db, projectId, { kind: 'webhook', name: 'Hook', config: { url: 'https://hooks.example/bugloop' } });
});
afterAll(() => app.close());

const expectedStatus: Record<string, number> = { viewer: 200, triager: 200, admin: 200, token: 200, outsider: 404, anonymous: 401 };

describe('GET …/defects/:defectId/integrations', () => {
  for (const [caller, status] of Object.entries(expectedStatus)) {
    it(`answers ${status} to ${caller === 'token' ? 'an API token with defects:read' : `a${caller === 'admin' || caller === 'outsider' || caller === 'anonymous' ? 'n' : ''} ${caller}`}`, async () => {
      const response = await app.request(`/api/v1/projects/${projectId}/defects/${defectId}/integrations`, { headers: callers[caller] });
      expect(response.status).toBe(status);
      if (status !== 200) expect((await response.json()).error.code).toBe(status === 404 ? 'not_found' : 'unauthenticated');
    });
  }

  it('lists every destination as a send target with its role, enabled and configured flags, and no config or secrets', async () => {
    const response = await app.request(`/api/v1/projects/${projectId}/defects/${defectId}/integrations`, { headers: callers.viewer });
    const text = await response.text();
    expect(text).not.toContain('ATATT-secret');
    expect(text).not.toContain('xoxb-secret');
    expect(text).not.toContain('acme.atlassian.net');
    const body = JSON.parse(text) as DefectIntegrationsResponse;
    expect(body.sendTargets).toEqual([
      { destinationId: expect.any(String), kind: 'jira', name: 'Jira WEB', role: 'tracker', enabled: true, configured: true, lastSend: null },
      { destinationId: expect.any(String), kind: 'slack', name: 'Slack bugs', role: 'notifier', enabled: false, configured: false, lastSend: null },
      // A webhook without its signing secret is not ready to send.
      { destinationId: expect.any(String), kind: 'webhook', name: 'Hook', role: 'notifier', enabled: true, configured: false, lastSend: null },
    ]);
    expect(body.trackers).toEqual([expect.objectContaining({ kind: 'jira', name: 'Jira WEB', delivery: 'not_sent', ticket: null, createIssueUrl: null })]);
  });

  it('tells the state of the newest "Send to…" per notifier: queued, failed with its error and dead letter, queued again', async () => {
    // A receiver that refuses every delivery (500), and one attempt only: dead after the first.
    const http = await import('node:http');
    const receiver = http.createServer((_request, response) => response.writeHead(500).end('receiver down'));
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as import('node:net').AddressInfo;
    try {
      const hook = await addDestination(app.database.db, projectId, { kind: 'webhook', name: 'Refusing hook', config: { url: `http://127.0.0.1:${port}/hook` }, secrets: { signingSecret: 'hook-signing-secret-0123' }, maxAttempts: 1 });
      const lastSend = async () => {
        const body = (await (await app.request(`/api/v1/projects/${projectId}/defects/${defectId}/integrations`, { headers: callers.viewer })).json()) as DefectIntegrationsResponse;
        return body.sendTargets.find((target) => target.destinationId === hook.id)!.lastSend;
      };
      const send = () => app.request(`/api/v1/projects/${projectId}/defects/${defectId}/send`, { method: 'POST', headers: { ...callers.triager, 'content-type': 'application/json' }, body: JSON.stringify({ destinationId: hook.id }) });
      expect(await lastSend()).toBeNull();
      expect((await send()).status).toBe(202);
      expect(await lastSend()).toMatchObject({ state: 'queued', sentAt: null, error: null, deadLetterId: null });
      await app.jobs.drain();
      const failed = await lastSend();
      expect(failed).toMatchObject({ state: 'failed', sentAt: null, deadLetterId: expect.any(String) });
      expect(failed?.error).toMatch(/500/);
      expect((await send()).status).toBe(202);
      expect(await lastSend()).toMatchObject({ state: 'queued', error: null });
      // Another defect's sends are not this one's.
      const other = await seedDefect(app.database.db, { projectId });
      const body = (await (await app.request(`/api/v1/projects/${projectId}/defects/${other.defectId}/integrations`, { headers: callers.viewer })).json()) as DefectIntegrationsResponse;
      expect(body.sendTargets.find((target) => target.destinationId === hook.id)?.lastSend).toBeNull();
    } finally {
      receiver.close();
    }
  });
});

describe('GET …/defects/:defectId/test-links', () => {
  it('answers every role and a token with test-cases:read; 404 outside the project, 401 without a session', async () => {
    for (const [caller, status] of Object.entries(expectedStatus)) {
      const response = await app.request(`/api/v1/projects/${projectId}/defects/${defectKey}/test-links`, { headers: callers[caller] });
      expect({ caller, status: response.status }).toEqual({ caller, status });
    }
  });

  it('names the covering tests that passed on the release the defect escaped in (ineffective)', async () => {
    const covering = await createTestCase(app.database.db, projectId, { title: 'Checkout pays', component: 'checkout' }, null);
    const ask = async () => (await (await app.request(`/api/v1/projects/${projectId}/defects/${defectId}/test-links`, { headers: callers.viewer })).json()) as DefectTestLinksResponse;
    await linkDefectToTestCase(app.database.db, projectId, defectId, { testCaseId: covering.id, kind: 'covers' }, { kind: 'api' });
    expect((await ask()).ineffective).toEqual([]);
    // seedDefect's report came from release 1.4.1; the defect was found there.
    const release = await app.database.db.selectFrom('releases').select('id').where('projectId', '=', projectId).where('version', '=', '1.4.1').executeTakeFirstOrThrow();
    await app.database.db.updateTable('defects').set({ foundInReleaseId: release.id }).where('id', '=', defectId).execute();
    await importTestRun(app.database.db, { projectId, release: '1.4.1' }, [
      (async function* () {
        yield `<testsuite name="checkout"><testcase classname="checkout" name="Checkout pays [${covering.key}]"/></testsuite>`;
      })(),
    ]);
    const body = await ask();
    expect(body.ineffective).toEqual([expect.objectContaining({ testCaseKey: covering.key, foundInRelease: '1.4.1' })]);
    expect(body.items).toEqual([expect.objectContaining({ testCaseKey: covering.key, kind: 'covers', latestStatus: 'passed' })]);
    expect(body.verifiedByTest).toBe(false);
  });
});
