import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTokenScopes } from '../../shared/scopes';
import type { ProjectRole } from '../../server/db/schema';
import { sessionCookieName } from '../../server/http/authenticate';
import { createUser } from '../../server/users/user-service';
import { buildSecurityProject, type CallerHeaders, type SecurityProject, signIn } from '../support/security-fixtures';
import { databaseFingerprint, fillPath, parameterNames, type RouteAccess, routeAccess, sampleBody, type ServedRoute, servedRoutes } from '../support/route-catalog';
import { startTestApp, type TestApp } from '../support/test-server';

/**
 * Every route × every kind of caller × this project's and another project's ids. The routes
 * come from the routers themselves; each must be classified in `routeAccess`.
 *
 * Phase 1 sends only requests that must be refused (and checks the database did not change);
 * phase 2 sends the allowed ones (and checks they are not refused). Every answer is searched
 * for the other project's ids and marker: no body may carry another project's data.
 */
let app: TestApp;
let a: SecurityProject;
let b: SecurityProject;
let routes: ServedRoute[];
let instanceAdmin: CallerHeaders;
let expiredSession: CallerHeaders;
let disabledSession: CallerHeaders;
const roleRank: Record<ProjectRole, number> = { viewer: 1, triager: 2, admin: 3 };

beforeAll(async () => {
  app = await startTestApp({ RATE_LIMIT_PER_IP_PER_MINUTE: '1000000', RATE_LIMIT_PER_KEY_PER_MINUTE: '1000000' });
  const db = app.database.db;
  [a, b] = [await buildSecurityProject(db, 'A', app.config.secretKey), await buildSecurityProject(db, 'B', app.config.secretKey)];
  routes = servedRoutes(app);
  const root = await createUser(db, { email: `root-${randomUUID()}@example.com`, password: 'a long test password', isInstanceAdmin: true });
  instanceAdmin = await signIn(db, root.id);
  const expired = await createUser(db, { email: `expired-${randomUUID()}@example.com`, password: 'a long test password' });
  expiredSession = await signIn(db, expired.id);
  await db.updateTable('sessions').set({ expiresAt: new Date(Date.now() - 1000) }).where('userId', '=', expired.id).execute();
  const disabled = await createUser(db, { email: `disabled-${randomUUID()}@example.com`, password: 'a long test password', isInstanceAdmin: true });
  disabledSession = await signIn(db, disabled.id);
  await db.updateTable('users').set({ disabledAt: new Date() }).where('id', '=', disabled.id).execute();
}, 120_000);
afterAll(() => app?.close());

interface Answer {
  status: number;
  code?: string;
  text: string;
  /** What the caller sent (path and body): echoing it back is no leak. */
  sent: string;
}

/** What must never appear in an answer to someone who may not see `project`. */
function secretsOf(project: SecurityProject): string[] {
  return [project.marker, ...project.allIds, project.viewer.userId, project.triager.userId, project.admin.userId, project.viewer.email, project.admin.email];
}

async function call(method: string, path: string, caller: CallerHeaders, body: { body?: string | Uint8Array; contentType?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...caller };
  if (body.contentType) headers['content-type'] = body.contentType;
  const sent = `${path} ${typeof body.body === 'string' ? body.body : ''}`;
  const response = await app.request(path, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : (body.body as BodyInit | undefined) });
  const text = await response.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: response.status, code, text, sent };
}

function expectNoLeak(answer: Answer, hidden: SecurityProject[], what: string): void {
  for (const project of hidden) {
    for (const secret of secretsOf(project)) {
      if (answer.text.includes(secret) && !answer.sent.includes(secret)) throw new Error(`${what}: the answer carries "${secret}" of another project: ${answer.text.slice(0, 300)}`);
    }
  }
}

/** One refused request: its expected status and code. */
interface DeniedCase {
  label: string;
  caller: CallerHeaders;
  status: number;
  code: string;
}

/** The callers a project route must refuse, with what they must get. */
function deniedCallers(access: Extract<RouteAccess, { kind: 'project' }>): DeniedCase[] {
  const cases: DeniedCase[] = [
    { label: 'anonymous', caller: {}, status: 401, code: 'unauthenticated' },
    { label: 'garbage session cookie', caller: { cookie: `${sessionCookieName}=forged` }, status: 401, code: 'unauthenticated' },
    { label: 'expired session', caller: expiredSession, status: 401, code: 'unauthenticated' },
    { label: 'disabled user', caller: disabledSession, status: 401, code: 'unauthenticated' },
    { label: 'revoked token', caller: a.revokedToken, status: 401, code: 'invalid_token' },
    { label: 'malformed bearer', caller: { authorization: 'Bearer not-a-token' }, status: 401, code: 'invalid_token' },
    { label: 'admin of another project', caller: b.admin.headers, status: 404, code: 'not_found' },
    { label: 'token of another project', caller: b.tokenAll, status: 404, code: 'not_found' },
  ];
  for (const [role, member] of [['viewer', a.viewer], ['triager', a.triager]] as const) {
    if (roleRank[role] < roleRank[access.role]) cases.push({ label: role, caller: member.headers, status: 403, code: 'forbidden' });
  }
  if (access.scope === null) cases.push({ label: 'token with every scope (people-only route)', caller: a.tokenAll, status: 403, code: 'forbidden' });
  else cases.push({ label: `token without ${access.scope}`, caller: a.tokenWithout[access.scope], status: 403, code: 'insufficient_scope' });
  return cases;
}

/** Callers a project route must let through. */
function allowedCallers(access: Extract<RouteAccess, { kind: 'project' }>): { label: string; caller: CallerHeaders }[] {
  const callers = [
    { label: 'viewer', caller: a.viewer.headers, rank: 1 },
    { label: 'triager', caller: a.triager.headers, rank: 2 },
    { label: 'admin', caller: a.admin.headers, rank: 3 },
  ].filter((entry) => entry.rank >= roleRank[access.role]);
  const result: { label: string; caller: CallerHeaders }[] = [...callers, { label: 'instance admin', caller: instanceAdmin }];
  if (access.scope) result.push({ label: 'token with every scope', caller: a.tokenAll });
  return result;
}

const projectRoutes = () => routes.filter((route) => routeAccess[route.key]?.kind === 'project') as ServedRoute[];
const accessOf = (route: ServedRoute) => routeAccess[route.key] as Extract<RouteAccess, { kind: 'project' }>;
const methodOrder = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

describe('the route catalog', () => {
  it('classifies every route the app serves, and names no route that is gone', () => {
    const served = new Set(routes.map((route) => route.key));
    const unclassified = [...served].filter((key) => !routeAccess[key]);
    const stale = Object.keys(routeAccess).filter((key) => !served.has(key));
    expect(unclassified, 'add these routes to routeAccess in test/support/route-catalog.ts').toEqual([]);
    expect(stale, 'these classified routes are no longer served').toEqual([]);
    expect(routes.length).toBeGreaterThan(80);
  });
});

describe('phase 1: every refused request is refused, changes nothing and shows nothing', () => {
  it('refuses each project route to anonymous, expired, revoked, under-privileged and other-project callers', async () => {
    const before = await databaseFingerprint(app.database.db);
    const failures: string[] = [];
    for (const route of projectRoutes()) {
      const access = accessOf(route);
      const body = await sampleBody(app.database.db, route.key, a);
      for (const denied of deniedCallers(access)) {
        const answer = await call(route.method, fillPath(route.path, a), denied.caller, body);
        if (answer.status !== denied.status || answer.code !== denied.code) {
          failures.push(`${route.key} as ${denied.label}: ${answer.status} ${answer.code ?? answer.text.slice(0, 120)} (expected ${denied.status} ${denied.code})`);
        }
        expectNoLeak(answer, [a, b], `${route.key} as ${denied.label}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await databaseFingerprint(app.database.db)).toEqual(before);
  }, 180_000);

  it("answers 404 when any id in the path is another project's, for people and tokens alike", async () => {
    const before = await databaseFingerprint(app.database.db);
    const failures: string[] = [];
    for (const route of projectRoutes()) {
      const access = accessOf(route);
      const foreignable = parameterNames(route.path).filter((name) => name !== 'projectId');
      if (foreignable.length === 0) continue;
      const body = await sampleBody(app.database.db, route.key, a);
      const callers = [{ label: 'admin', caller: a.admin.headers }, { label: 'instance admin', caller: instanceAdmin }];
      if (access.scope) callers.push({ label: 'token', caller: a.tokenAll });
      for (const name of foreignable) {
        for (const { label, caller } of callers) {
          const answer = await call(route.method, fillPath(route.path, a, b, [name]), caller, body);
          if (answer.status !== 404) failures.push(`${route.key} with B's :${name} as ${label}: ${answer.status} ${answer.text.slice(0, 160)}`);
          expectNoLeak(answer, [b], `${route.key} with B's :${name}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(await databaseFingerprint(app.database.db)).toEqual(before);
  }, 180_000);

  it("refuses another project's ids inside request bodies and filters", async () => {
    const before = await databaseFingerprint(app.database.db);
    const base = `/api/v1/projects/${a.projectId}`;
    const cases: { method: string; path: string; body?: unknown; caller?: CallerHeaders; statuses: number[] }[] = [
      { method: 'PATCH', path: `${base}/defects/${a.ids.defectId}`, body: { assigneeId: b.admin.userId }, statuses: [400] },
      { method: 'PATCH', path: `${base}/defects/${a.ids.defectId}`, body: { foundInReleaseId: b.ids.releaseId }, statuses: [400] },
      { method: 'PATCH', path: `${base}/defects/${a.ids.defectId}`, body: { fixedInReleaseId: b.ids.releaseId }, statuses: [400] },
      { method: 'POST', path: `${base}/defects/bulk`, body: { defectIds: [b.ids.defectId], changes: { status: 'triaged' } }, statuses: [400, 404] },
      { method: 'POST', path: `${base}/defects/bulk`, body: { defectIds: [a.ids.defectId, b.ids.defectId], changes: { status: 'triaged' } }, statuses: [400, 404] },
      { method: 'POST', path: `${base}/defects/${a.ids.defectId}/merge`, body: { targetDefectId: b.ids.defectId }, statuses: [400, 404] },
      { method: 'POST', path: `${base}/reports/${a.ids.reportId}/split`, body: { targetDefectId: b.ids.defectId }, statuses: [400, 404] },
      { method: 'POST', path: `${base}/defects/${a.ids.defectId}/not-duplicate`, body: { otherDefectId: b.ids.defectId }, statuses: [400, 404] },
      { method: 'POST', path: `${base}/defects/${a.ids.defectId}/test-links`, body: { testCaseId: b.ids.caseId, kind: 'covers' }, statuses: [400, 404] },
      { method: 'POST', path: `${base}/defects/${a.ids.defectId}/test-links`, body: { testCaseId: a.ids.caseId, kind: 'failed_in', testResultId: b.ids.resultId }, statuses: [400, 404] },
      { method: 'POST', path: `${base}/defects/${a.ids.defectId}/send`, body: { destinationId: b.ids.destinationId }, statuses: [400, 404] },
      { method: 'POST', path: `${base}/routing-rules`, body: { name: 'x', triggers: ['manual'], actions: [{ type: 'call_webhook', destinationId: b.ids.destinationId }] }, statuses: [400, 404] },
      { method: 'PATCH', path: `${base}/routing-rules/${a.ids.routingRuleId}`, body: { actions: [{ type: 'call_webhook', destinationId: b.ids.destinationId }] }, statuses: [400, 404] },
      { method: 'PUT', path: `${base}/routing-rules/order`, body: { ids: [b.ids.routingRuleId] }, statuses: [400, 404] },
      { method: 'PATCH', path: `${base}/members/${b.admin.userId}`, body: { role: 'viewer' }, statuses: [404] },
      { method: 'DELETE', path: `${base}/members/${b.admin.userId}`, statuses: [404] },
    ];
    const failures: string[] = [];
    for (const entry of cases) {
      const answer = await call(entry.method, entry.path, entry.caller ?? a.admin.headers, entry.body === undefined ? {} : { body: JSON.stringify(entry.body), contentType: 'application/json' });
      if (!entry.statuses.includes(answer.status)) failures.push(`${entry.method} ${entry.path} ${JSON.stringify(entry.body)}: ${answer.status} ${answer.text.slice(0, 160)}`);
      expectNoLeak(answer, [b], `${entry.method} ${entry.path}`);
    }
    // Filters naming another project's rows find nothing of it.
    for (const query of [`assignee=${b.admin.userId}`, `release=${b.ids.releaseId}`, `q=${b.marker}`, `component=checkout-${b.marker}`]) {
      const answer = await call('GET', `${base}/defects?status=all&${query}`, a.admin.headers);
      expect(answer.status, query).toBe(200);
      expectNoLeak(answer, [b], `inbox ?${query}`);
    }
    expect(failures).toEqual([]);
    expect(await databaseFingerprint(app.database.db)).toEqual(before);
  }, 120_000);
});

describe('phase 2: allowed callers are let through and see only their project', () => {
  it('answers every project read to every allowed caller, without the other project in it', async () => {
    const failures: string[] = [];
    for (const route of projectRoutes().filter((candidate) => candidate.method === 'GET')) {
      for (const { label, caller } of allowedCallers(accessOf(route))) {
        const answer = await call('GET', fillPath(route.path, a), caller);
        if (answer.status !== 200) failures.push(`${route.key} as ${label}: ${answer.status} ${answer.text.slice(0, 160)}`);
        expectNoLeak(answer, [b], `${route.key} as ${label}`);
      }
    }
    expect(failures).toEqual([]);
  }, 180_000);

  it('lets the least privileged allowed caller (and a scoped token) perform every project mutation', async () => {
    const failures: string[] = [];
    const mutations = projectRoutes()
      .filter((route) => route.method !== 'GET')
      .sort((left, right) => methodOrder.indexOf(left.method) - methodOrder.indexOf(right.method));
    for (const route of mutations) {
      const access = accessOf(route);
      const member = { viewer: a.viewer, triager: a.triager, admin: a.admin }[access.role];
      const callers: { label: string; caller: CallerHeaders }[] = [{ label: access.role, caller: member.headers }];
      if (access.scope && route.method !== 'DELETE') callers.push({ label: 'token', caller: a.tokenAll });
      for (const [index, { label, caller }] of callers.entries()) {
        const answer = await call(route.method, fillPath(route.path, a), caller, await sampleBody(app.database.db, route.key, a));
        // The second caller's merge finds the defect merged and the dead letter revived by the first: past authorization, refused on its merits.
        const consumed = index > 0 && ((route.key.endsWith('/merge') && answer.status === 409) || (route.key.endsWith('/retry') && answer.code === 'not_found'));
        if (answer.status >= 400 && !consumed) failures.push(`${route.key} as ${label}: ${answer.status} ${answer.text.slice(0, 200)}`);
        expectNoLeak(answer, [b], `${route.key} as ${label}`);
      }
    }
    expect(failures).toEqual([]);
  }, 180_000);
});

describe('routes outside projects', () => {
  const routesOf = (kind: RouteAccess['kind']) => routes.filter((route) => routeAccess[route.key]?.kind === kind);

  it('public routes answer anyone and carry no project data', async () => {
    for (const route of routesOf('public')) {
      const answer = await call(route.method, route.path, {});
      expect(answer.status, route.key).toBe(200);
      expectNoLeak(answer, [a, b], route.key);
    }
  });

  it('person routes need a signed-in person: 401 anonymous, 403 for tokens', async () => {
    for (const route of routesOf('person')) {
      expect((await call(route.method, route.path, {})).status, route.key).toBe(401);
      expect((await call(route.method, route.path, expiredSession)).status, route.key).toBe(401);
      const token = await call(route.method, route.path, a.tokenAll);
      expect([token.status, token.code], route.key).toEqual([403, 'forbidden']);
      expectNoLeak(token, [a, b], route.key);
    }
    const me = await call('GET', '/api/v1/me', b.admin.headers);
    expect(me.status).toBe(200);
    expectNoLeak(me, [a], 'GET /me as admin of B');
    const throwaway = await signIn(app.database.db, b.viewer.userId);
    expect((await call('DELETE', '/api/v1/session', throwaway)).status).toBe(204);
    expect((await call('GET', '/api/v1/me', throwaway)).status).toBe(401);
  });

  it('GET /api/v1/projects lists only what the caller may see', async () => {
    expect((await call('GET', '/api/v1/projects', {})).status).toBe(401);
    expect((await call('GET', '/api/v1/projects', a.revokedToken)).status).toBe(401);
    for (const [caller, hidden, visible] of [
      [b.admin.headers, a, b],
      [b.tokenAll, a, b],
      [a.viewer.headers, b, a],
    ] as const) {
      const answer = await call('GET', '/api/v1/projects', caller);
      expect(answer.status).toBe(200);
      expect(answer.text).toContain(visible.projectId);
      expectNoLeak(answer, [hidden], 'GET /api/v1/projects');
    }
  });

  it('instance-admin routes refuse project admins, tokens and anonymous callers', async () => {
    for (const route of routesOf('instance-admin')) {
      expect((await call(route.method, route.path, {})).status, route.key).toBe(401);
      expect((await call(route.method, route.path, a.admin.headers)).status, route.key).toBe(403);
      expect((await call(route.method, route.path, a.tokenAll)).status, route.key).toBe(403);
      expect((await call(route.method, route.path, instanceAdmin)).status, route.key).toBe(200);
    }
  });

  it('the token-only run import refuses people, unscoped and revoked tokens, and files runs under the token’s project', async () => {
    for (const route of routesOf('token')) {
      const access = routeAccess[route.key] as Extract<RouteAccess, { kind: 'token' }>;
      const body = await sampleBody(app.database.db, route.key, a);
      expect((await call(route.method, route.path, {}, body)).status).toBe(401);
      expect((await call(route.method, route.path, a.revokedToken, body)).status).toBe(401);
      expect((await call(route.method, route.path, a.admin.headers, body)).status).toBe(403);
      expect((await call(route.method, route.path, a.tokenWithout[access.scope], body)).code).toBe('insufficient_scope');
      const accepted = await call(route.method, route.path, b.tokenAll, await sampleBody(app.database.db, route.key, b));
      expect(accepted.status).toBe(201);
      const run = JSON.parse(accepted.text) as { runId: string };
      const stored = await app.database.db.selectFrom('testRuns').select('projectId').where('id', '=', run.runId).executeTakeFirstOrThrow();
      expect(stored.projectId).toBe(b.projectId);
    }
  });

  it('ingest takes a public key or a reports:write token; sessions give nothing; a token files under its own project', async () => {
    const report = () => JSON.stringify({ id: randomUUID(), description: 'Ingest matrix report' });
    const post = (headers: Record<string, string>) => call('POST', '/api/v1/reports', headers, { body: report(), contentType: 'application/json' });
    expect((await post({})).code).toBe('invalid_project_key');
    expect((await post({ ...a.admin.headers })).code).toBe('invalid_project_key');
    expect((await post({ 'x-bugloop-key': 'pk_unknownunknown' })).code).toBe('invalid_project_key');
    expect((await post({ 'x-bugloop-key': a.publicKey, origin: 'https://b.example.com' })).code).toBe('origin_not_allowed');
    expect((await post(a.revokedToken)).status).toBe(401);
    expect((await post(a.tokenWithout['reports:write'])).code).toBe('insufficient_scope');
    const viaKey = await post({ 'x-bugloop-key': a.publicKey, origin: 'https://a.example.com' });
    expect(viaKey.status).toBe(202);
    expectNoLeak(viaKey, [b], 'ingest with A key');
    const viaToken = await post(b.tokenAll);
    expect(viaToken.status).toBe(202);
    const newest = await app.database.db.selectFrom('reports').select('projectId').where('description', '=', 'Ingest matrix report').orderBy('receivedAt', 'desc').executeTakeFirstOrThrow();
    expect(newest.projectId).toBe(b.projectId);
  });

  it('reporter status shows only the reports of that reporter token, in that project', async () => {
    const token = `reporter-${randomUUID()}`;
    await app.database.db.updateTable('reports').set({ reporterTokenHash: (await import('../../server/auth/random-tokens')).sha256Hex(token) }).where('id', '=', a.ids.reportId).execute();
    const mine = await call('GET', `/api/v1/reporter/reports?key=${a.publicKey}`, { 'x-bugloop-reporter-token': token, origin: 'https://a.example.com' });
    expect(mine.status).toBe(200);
    expect(JSON.parse(mine.text).reports).toHaveLength(1);
    expectNoLeak(mine, [b], 'reporter status');
    const elsewhere = await call('GET', `/api/v1/reporter/reports?key=${b.publicKey}`, { 'x-bugloop-reporter-token': token });
    expect(JSON.parse(elsewhere.text).reports).toHaveLength(0);
    expect((await call('GET', `/api/v1/reporter/reports?key=${a.publicKey}`, { 'x-bugloop-reporter-token': token, origin: 'https://b.example.com' })).status).toBe(403);
    expect((await call('GET', `/api/v1/reporter/reports?key=${a.publicKey}`, { 'x-bugloop-reporter-token': 'short' })).status).toBe(401);
  });

  it('inbound tracker webhooks need the destination’s signature, whoever sends them', async () => {
    const payload = JSON.stringify({ webhookEvent: 'jira:issue_updated', issue: { key: 'WEB-1' }, changelog: { items: [{ field: 'status' }] } });
    for (const caller of [{}, a.admin.headers, instanceAdmin]) {
      const answer = await call('POST', `/api/v1/integrations/${a.ids.trackerDestinationId}/webhook`, caller, { body: payload, contentType: 'application/json' });
      expect([answer.status, answer.code]).toEqual([401, 'invalid_signature']);
    }
    // A notifier (no inbound webhooks) and an unknown id look the same: nothing here.
    expect((await call('POST', `/api/v1/integrations/${a.ids.destinationId}/webhook`, {}, { body: payload, contentType: 'application/json' })).status).toBe(404);
    expect((await call('POST', `/api/v1/integrations/${randomUUID()}/webhook`, {}, { body: payload, contentType: 'application/json' })).status).toBe(404);
  });

  it('CORS preflights are answered only for allowed origins', async () => {
    for (const route of routesOf('preflight')) {
      const allowed = await app.request(`${route.path}?key=${a.publicKey}`, { method: 'OPTIONS', headers: { origin: 'https://a.example.com', 'access-control-request-method': 'POST' } });
      expect(allowed.status, route.key).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://a.example.com');
      const refused = await app.request(`${route.path}?key=${a.publicKey}`, { method: 'OPTIONS', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' } });
      expect(refused.status, route.key).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect(refused.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('every scope is exercised by at least one route', () => {
    const used = new Set(Object.values(routeAccess).flatMap((access) => ('scope' in access && access.scope ? [access.scope] : [])));
    used.add('reports:write');
    expect([...used].sort()).toEqual([...apiTokenScopes].sort());
  });
});
