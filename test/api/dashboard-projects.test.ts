import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../server/auth/api-token-service';
import type { ProjectRole } from '../../server/db/schema';
import { createProject } from '../../server/projects/project-service';
import { signedInHeaders } from '../support/auth';
import { startTestApp, type TestApp } from '../support/test-server';

let app: TestApp;
let projectId: string;
let otherProjectId: string;
const as: Record<ProjectRole | 'outsider', Record<string, string>> = {} as never;
const userIds: Record<string, string> = {};

beforeAll(async () => {
  app = await startTestApp();
  projectId = (await createProject(app.database.db, { name: 'Web shop', keyPrefix: 'WEB', allowedOrigins: ['https://shop.example.com'] })).id;
  otherProjectId = (await createProject(app.database.db, { name: 'Other', keyPrefix: 'OTH' })).id;
  for (const role of ['admin', 'triager', 'viewer'] as const) {
    const signed = await signedInHeaders(app.database.db, { projectId, role });
    as[role] = signed.headers;
    userIds[role] = signed.userId;
  }
  as.outsider = (await signedInHeaders(app.database.db, { projectId: otherProjectId, role: 'admin' })).headers;
});
afterAll(() => app.close());

function call(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  return app.request(`/api/v1/projects${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe('GET /api/v1/projects', () => {
  it('lists only the projects the caller belongs to', async () => {
    const body = await (await call('GET', '', as.viewer)).json();
    expect(body.projects.map((project: { id: string }) => project.id)).toEqual([projectId]);
  });

  it('lists every project for an instance admin', async () => {
    const { headers } = await signedInHeaders(app.database.db, { isInstanceAdmin: true });
    const body = await (await call('GET', '', headers)).json();
    expect(body.projects.map((project: { id: string }) => project.id).sort()).toEqual([projectId, otherProjectId].sort());
  });
});

describe('GET /api/v1/projects/:projectId', () => {
  it('shows a member the project with their role', async () => {
    const response = await call('GET', `/${projectId}`, as.viewer);
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({ role: 'viewer', project: { name: 'Web shop', allowedOrigins: ['https://shop.example.com'] } });
    expect(body.project.publicKey).toMatch(/^pk_/);
  });

  it('answers 404 to someone outside the project, and to a malformed id', async () => {
    expect((await call('GET', `/${projectId}`, as.outsider)).status).toBe(404);
    expect((await call('GET', '/not-a-uuid', as.viewer)).status).toBe(404);
  });
});

describe('PATCH /api/v1/projects/:projectId', () => {
  it('lets an admin change name, allowed origins and settings', async () => {
    const response = await call('PATCH', `/${projectId}`, as.admin, {
      name: 'Web shop EU',
      allowedOrigins: ['https://eu.shop.example.com/', 'https://eu.shop.example.com'],
      settings: { widgetColor: '#0a7' },
    });
    expect(response.status).toBe(200);
    const { project } = await response.json();
    expect(project).toMatchObject({ name: 'Web shop EU', allowedOrigins: ['https://eu.shop.example.com'], settings: { widgetColor: '#0a7' } });
  });

  it('rejects an origin with a path with 400 on allowedOrigins', async () => {
    const response = await call('PATCH', `/${projectId}`, as.admin, { allowedOrigins: ['https://x.example.com/app'] });
    expect(response.status).toBe(400);
    expect((await response.json()).error.field).toBe('allowedOrigins');
  });

  it('refuses triagers and viewers with 403', async () => {
    for (const role of ['triager', 'viewer'] as const) {
      const response = await call('PATCH', `/${projectId}`, as[role], { name: 'Hijacked' });
      expect(response.status).toBe(403);
      expect((await response.json()).error.code).toBe('forbidden');
    }
  });

  it('refuses an admin session without the CSRF token', async () => {
    const { 'x-csrf-token': _csrf, ...withoutCsrf } = as.admin;
    const response = await call('PATCH', `/${projectId}`, withoutCsrf, { name: 'No token' });
    expect(response.status).toBe(403);
    expect((await response.json()).error.code).toBe('csrf_failed');
  });
});

describe('component rules', () => {
  it('are created, listed, changed and deleted by an admin', async () => {
    const created = await call('POST', `/${projectId}/component-rules`, as.admin, { pattern: '/checkout/**', component: 'Checkout' });
    expect(created.status).toBe(201);
    const { rule } = await created.json();
    expect(rule).toMatchObject({ pattern: '/checkout/**', patternKind: 'glob', component: 'Checkout', position: 0 });
    const patched = await call('PATCH', `/${projectId}/component-rules/${rule.id}`, as.admin, { component: 'Payments' });
    expect((await patched.json()).rule.component).toBe('Payments');
    const listed = await (await call('GET', `/${projectId}/component-rules`, as.viewer)).json();
    expect(listed.rules.map((entry: { component: string }) => entry.component)).toEqual(['Payments']);
    expect((await call('DELETE', `/${projectId}/component-rules/${rule.id}`, as.admin)).status).toBe(204);
    expect((await (await call('GET', `/${projectId}/component-rules`, as.viewer)).json()).rules).toEqual([]);
  });

  it('reject an invalid regular expression with 400 on pattern', async () => {
    const response = await call('POST', `/${projectId}/component-rules`, as.admin, { pattern: '([', patternKind: 'regex', component: 'X' });
    expect(response.status).toBe(400);
    expect((await response.json()).error.field).toBe('pattern');
  });

  it('cannot be created by a triager', async () => {
    expect((await call('POST', `/${projectId}/component-rules`, as.triager, { pattern: '/a', component: 'A' })).status).toBe(403);
  });
});

describe('members and roles', () => {
  it('an admin adds a new person with a first password, who can then sign in', async () => {
    const response = await call('POST', `/${projectId}/members`, as.admin, { email: 'newcomer@example.com', role: 'viewer', password: 'first password 1' });
    expect(response.status).toBe(201);
    const signIn = await app.request('/api/v1/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'newcomer@example.com', password: 'first password 1' }),
    });
    expect(signIn.status).toBe(200);
  });

  it('adding an unknown email without a password is a 400 on password', async () => {
    const response = await call('POST', `/${projectId}/members`, as.admin, { email: 'ghost@example.com', role: 'viewer' });
    expect(response.status).toBe(400);
    expect((await response.json()).error.field).toBe('password');
  });

  it('an admin changes a role and removes a member', async () => {
    const { userId } = await signedInHeaders(app.database.db, { projectId, role: 'viewer' });
    const changed = await call('PATCH', `/${projectId}/members/${userId}`, as.admin, { role: 'triager' });
    expect(changed.status).toBe(200);
    expect((await changed.json()).members.find((member: { userId: string }) => member.userId === userId).role).toBe('triager');
    expect((await call('DELETE', `/${projectId}/members/${userId}`, as.admin)).status).toBe(204);
    const role = await app.database.db.selectFrom('projectMembers').select('role').where('userId', '=', userId).executeTakeFirst();
    expect(role).toBeUndefined();
  });

  it('keeps the last admin of a project with 409', async () => {
    const solo = (await createProject(app.database.db, { name: 'Solo', keyPrefix: 'SOLO' })).id;
    const { headers, userId } = await signedInHeaders(app.database.db, { projectId: solo, role: 'admin' });
    const response = await call('PATCH', `/${solo}/members/${userId}`, headers, { role: 'viewer' });
    expect(response.status).toBe(409);
  });

  it('members are visible to viewers but changed only by admins', async () => {
    expect((await call('GET', `/${projectId}/members`, as.viewer)).status).toBe(200);
    expect((await call('POST', `/${projectId}/members`, as.triager, { email: 'x@example.com', role: 'admin', password: 'password123' })).status).toBe(403);
    expect((await call('DELETE', `/${projectId}/members/${userIds.viewer}`, as.triager)).status).toBe(403);
  });
});

describe('API tokens', () => {
  it('are shown once at creation, listed by prefix, and stop working when revoked', async () => {
    const created = await call('POST', `/${projectId}/api-tokens`, as.admin, { name: 'CI', scopes: ['defects:read'] });
    expect(created.status).toBe(201);
    const { token, secret } = await created.json();
    expect(secret).toMatch(/^blt_/);
    const listed = await (await call('GET', `/${projectId}/api-tokens`, as.admin)).json();
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(listed.tokens[0]).toMatchObject({ id: token.id, tokenPrefix: secret.slice(0, 10), revokedAt: null });
    const bearer = { authorization: `Bearer ${secret}` };
    expect((await app.request(`/api/v1/projects/${projectId}/defects`, { headers: bearer })).status).toBe(200);
    expect((await call('DELETE', `/${projectId}/api-tokens/${token.id}`, as.admin)).status).toBe(204);
    expect((await app.request(`/api/v1/projects/${projectId}/defects`, { headers: bearer })).status).toBe(401);
  });

  it('reject unknown scopes with 400', async () => {
    const response = await call('POST', `/${projectId}/api-tokens`, as.admin, { name: 'Bad', scopes: ['root'] });
    expect(response.status).toBe(400);
    expect((await response.json()).error.field).toBe('scopes');
  });

  it('cannot be listed or created by a triager, nor by a token', async () => {
    expect((await call('GET', `/${projectId}/api-tokens`, as.triager)).status).toBe(403);
    const { token } = await createApiToken(app.database.db, { projectId, name: 'script', scopes: ['defects:write', 'defects:read'] });
    const response = await call('POST', `/${projectId}/api-tokens`, { authorization: `Bearer ${token}` }, { name: 'escalate', scopes: ['defects:read'] });
    expect(response.status).toBe(403);
  });

  it('writes token creation to the audit log', async () => {
    await call('POST', `/${projectId}/api-tokens`, as.admin, { name: 'Audited', scopes: ['metrics:read'] });
    const entries = await app.database.db.selectFrom('auditLog').select(['action', 'actorUserId']).where('action', '=', 'api_token.created').execute();
    expect(entries.some((entry) => entry.actorUserId === userIds.admin)).toBe(true);
  });
});

describe('saved views', () => {
  it('a triager saves a view that everyone in the project sees, and deletes it', async () => {
    const created = await call('POST', `/${projectId}/views`, as.triager, { name: 'Checkout blockers', query: { component: 'Checkout', severity: 'blocker' } });
    expect(created.status).toBe(201);
    const { view } = await created.json();
    const listed = await (await call('GET', `/${projectId}/views`, as.viewer)).json();
    expect(listed.views).toEqual([expect.objectContaining({ id: view.id, name: 'Checkout blockers', query: { component: 'Checkout', severity: 'blocker' } })]);
    expect((await call('DELETE', `/${projectId}/views/${view.id}`, as.triager)).status).toBe(204);
    expect((await (await call('GET', `/${projectId}/views`, as.viewer)).json()).views).toEqual([]);
  });

  it('a viewer cannot save a view', async () => {
    expect((await call('POST', `/${projectId}/views`, as.viewer, { name: 'Mine', query: {} })).status).toBe(403);
  });
});

describe('GET /api/v1/projects/:projectId/releases', () => {
  it('lists releases newest first in release order: a pre-release below its release, a nightly after the version before it', async () => {
    const release = (version: string, semver: [number, number, number, string | null] | null, firstSeenAt: string) =>
      app.database.db
        .insertInto('releases')
        .values({ projectId, version, semverMajor: semver?.[0] ?? null, semverMinor: semver?.[1] ?? null, semverPatch: semver?.[2] ?? null, semverPrerelease: semver?.[3] ?? null, firstSeenAt: new Date(firstSeenAt) })
        .execute();
    await release('1.2.0', [1, 2, 0, null], '2026-10-01T00:00:00Z');
    await release('1.10.0', [1, 10, 0, null], '2026-11-20T00:00:00Z');
    await release('1.10.0-rc.1', [1, 10, 0, 'rc.1'], '2026-11-10T00:00:00Z');
    await release('nightly-1105', null, '2026-11-05T00:00:00Z');
    await release('1.9.3', [1, 9, 3, null], '2026-11-01T00:00:00Z');
    const body = await (await call('GET', `/${projectId}/releases`, as.viewer)).json();
    expect(body.releases.map((entry: { version: string }) => entry.version)).toEqual(['1.10.0', '1.10.0-rc.1', 'nightly-1105', '1.9.3', '1.2.0']);
  });
});
