import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject } from '../../server/projects/project-service';
import { signedInHeaders } from '../support/auth';
import { startTestApp, type TestApp } from '../support/test-server';

/**
 * Every administrative action writes one audit row in its own transaction (who, what, target,
 * before/after without secrets, request id, time); admins read them newest first in pages.
 */
let app: TestApp;
let projectId: string;
let adminId: string;
let admin: Record<string, string>;
let triager: Record<string, string>;
let otherAdmin: Record<string, string>;

beforeAll(async () => {
  app = await startTestApp();
  const db = app.database.db;
  projectId = (await createProject(db, { name: 'Audited' })).id;
  const signedIn = await signedInHeaders(db, { projectId, role: 'admin' });
  adminId = signedIn.userId;
  admin = { ...signedIn.headers, 'content-type': 'application/json' };
  triager = (await signedInHeaders(db, { projectId, role: 'triager' })).headers;
  const otherProject = (await createProject(db, { name: 'Elsewhere' })).id;
  otherAdmin = (await signedInHeaders(db, { projectId: otherProject, role: 'admin' })).headers;
});
afterAll(() => app.close());

async function send(method: string, path: string, body?: unknown) {
  const response = await app.request(`/api/v1/projects/${projectId}${path}`, { method, headers: { ...admin, 'x-request-id': `audit-${method}-${path.replace(/\W+/g, '-')}`.slice(0, 120) }, body: body === undefined ? undefined : JSON.stringify(body) });
  expect(response.status, `${method} ${path}: ${response.status}`).toBeLessThan(300);
  return response.status === 204 ? undefined : ((await response.json()) as Record<string, any>);
}

async function entries(action: string) {
  return app.database.db.selectFrom('auditLog').selectAll().where('projectId', '=', projectId).where('action', '=', action).orderBy('id').execute();
}

describe('the audit log', () => {
  it('records every kind of admin action with actor, target, request id and before/after', async () => {
    await send('PATCH', '', { name: 'Audited shop', allowedOrigins: ['https://shop.example.com'], settings: { theme: 'dark' } });
    const rule = (await send('POST', '/component-rules', { pattern: '/cart/**', component: 'cart' }))!.rule;
    await send('PATCH', `/component-rules/${rule.id}`, { component: 'basket' });
    await send('DELETE', `/component-rules/${rule.id}`);
    const member = (await send('POST', '/members', { email: 'new.person@example.com', role: 'viewer', password: 'a first password!' }))!.member;
    await send('PATCH', `/members/${member.userId}`, { role: 'triager' });
    await send('DELETE', `/members/${member.userId}`);
    const token = (await send('POST', '/api-tokens', { name: 'CI', scopes: ['test-runs:write'] }))!;
    await send('DELETE', `/api-tokens/${token.token.id}`);
    const destination = (await send('POST', '/destinations', { kind: 'webhook', name: 'ops', config: { url: 'https://hooks.example.com/a' }, secrets: { signingSecret: 'whsec-super-secret-value' } }))!.destination;
    await send('PATCH', `/destinations/${destination.id}`, { config: { url: 'https://hooks.example.com/b' }, secrets: { signingSecret: 'whsec-another-secret-value' } });
    const routing = (await send('POST', '/routing-rules', { name: 'Hook', triggers: ['manual'], actions: [{ type: 'call_webhook', destinationId: destination.id }] }))!.rule;
    await send('PATCH', `/routing-rules/${routing.id}`, { name: 'Hook all' });
    await send('PUT', '/routing-rules/order', { ids: [routing.id] });
    await send('DELETE', `/routing-rules/${routing.id}`);
    await send('DELETE', `/destinations/${destination.id}`);

    const project = await entries('project.updated');
    expect(project).toHaveLength(1);
    expect(project[0]).toMatchObject({ actorUserId: adminId, actorKind: 'user', target: projectId, requestId: 'audit-PATCH-' });
    expect(project[0].before).toEqual({ name: 'Audited', allowedOrigins: [], settings: { theme: null } });
    expect(project[0].after).toEqual({ name: 'Audited shop', allowedOrigins: ['https://shop.example.com'], settings: { theme: 'dark' } });

    expect((await entries('component_rule.updated'))[0]).toMatchObject({ target: rule.id, before: { component: 'cart' }, after: { component: 'basket' } });
    expect(await entries('user.created')).toEqual([expect.objectContaining({ target: member.userId, after: { email: 'new.person@example.com', name: null } })]);
    expect((await entries('member.role_changed'))[0]).toMatchObject({ target: member.userId, before: { role: 'viewer' }, after: { role: 'triager' } });
    expect((await entries('member.removed'))[0]).toMatchObject({ before: { role: 'triager' } });
    expect((await entries('api_token.revoked'))[0]).toMatchObject({ target: token.token.id, before: { name: 'CI', scopes: ['test-runs:write'] } });
    const changed = (await entries('destination.updated'))[0];
    expect(changed).toMatchObject({ target: destination.id, before: { config: { url: 'https://hooks.example.com/a' }, secretsSet: ['signingSecret'] }, after: { config: { url: 'https://hooks.example.com/b' } }, detail: { secretsChanged: ['signingSecret'] } });
    expect((await entries('routing_rule.reordered'))[0]).toMatchObject({ after: { order: [routing.id] } });

    const actions = (await app.database.db.selectFrom('auditLog').select('action').where('projectId', '=', projectId).execute()).map((row) => row.action).sort();
    expect(actions).toEqual(
      [
        'api_token.created', 'api_token.revoked', 'component_rule.created', 'component_rule.deleted', 'component_rule.updated', 'destination.created', 'destination.deleted',
        'destination.updated', 'member.added', 'member.removed', 'member.role_changed', 'project.updated', 'routing_rule.created', 'routing_rule.deleted',
        'routing_rule.reordered', 'routing_rule.updated', 'user.created',
      ].sort(),
    );
    // No secret value, token or password anywhere in the log.
    const raw = JSON.stringify(await app.database.db.selectFrom('auditLog').selectAll().execute());
    for (const secret of ['whsec-super-secret-value', 'whsec-another-secret-value', token.secret, 'a first password!']) expect(raw).not.toContain(secret);
  });

  it('is written in the transaction of the action: a refused change leaves no audit row', async () => {
    const before = await app.database.db.selectFrom('auditLog').select('id').execute();
    const refused = await app.request(`/api/v1/projects/${projectId}/destinations`, { method: 'POST', headers: admin, body: JSON.stringify({ kind: 'webhook', name: 'x', config: { url: 'not a url' } }) });
    expect(refused.status).toBe(400);
    const lastAdmin = await app.request(`/api/v1/projects/${projectId}/members/${adminId}`, { method: 'PATCH', headers: admin, body: JSON.stringify({ role: 'viewer' }) });
    expect(lastAdmin.status).toBe(409);
    expect(await app.database.db.selectFrom('auditLog').select('id').execute()).toEqual(before);
  });

  it('is listed newest first in pages to the project admin only', async () => {
    const first = await app.request(`/api/v1/projects/${projectId}/audit-log?limit=5`, { headers: admin });
    expect(first.status).toBe(200);
    const page = (await first.json()) as { entries: { id: string; action: string; actorEmail: string | null }[]; nextCursor: string | null };
    expect(page.entries).toHaveLength(5);
    expect(page.entries[0].action).toBe('destination.deleted');
    expect(page.entries[0].actorEmail).toMatch(/@example\.com$/);
    expect(page.nextCursor).toBe(page.entries[4].id);
    const ids = page.entries.map((entry) => Number(entry.id));
    expect([...ids].sort((x, y) => y - x)).toEqual(ids);

    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const response = await app.request(`/api/v1/projects/${projectId}/audit-log?limit=4${cursor ? `&before=${cursor}` : ''}`, { headers: admin });
      const next = (await response.json()) as typeof page;
      all.push(...next.entries.map((entry) => entry.id));
      cursor = next.nextCursor;
    } while (cursor);
    expect(all).toHaveLength(17);
    expect(new Set(all).size).toBe(17);

    expect((await app.request(`/api/v1/projects/${projectId}/audit-log`, { headers: triager })).status).toBe(403);
    expect((await app.request(`/api/v1/projects/${projectId}/audit-log`, { headers: otherAdmin })).status).toBe(404);
    expect((await app.request(`/api/v1/projects/${projectId}/audit-log`)).status).toBe(401);
    expect((await app.request(`/api/v1/projects/${projectId}/audit-log?before=abc`, { headers: admin })).status).toBe(400);
  });
});
