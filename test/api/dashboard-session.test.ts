import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInLimits } from '../../server/auth/auth-routes';
import { createProject } from '../../server/projects/project-service';
import { createUser, setProjectRole } from '../../server/users/user-service';
import { startTestApp, type TestApp } from '../support/test-server';

let app: TestApp;
let projectId: string;
const password = 'correct horse battery';

beforeAll(async () => {
  app = await startTestApp();
  projectId = (await createProject(app.database.db, { name: 'Session shop', keyPrefix: 'SES' })).id;
  const user = await createUser(app.database.db, { email: 'pm@example.com', password });
  await setProjectRole(app.database.db, projectId, user.id, 'triager');
});
afterAll(() => app.close());

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

async function signIn(email = 'pm@example.com', secret = password, target = app) {
  const response = await target.request('/api/v1/session', { method: 'POST', ...json({ email, password: secret }) });
  const setCookie = response.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0];
  const body = await response.json();
  return { response, setCookie, cookie, body };
}

describe('POST /api/v1/session', () => {
  it('signs in with email and password and sets an httpOnly SameSite=Lax cookie', async () => {
    const { response, setCookie, body } = await signIn('PM@example.com');
    expect(response.status).toBe(200);
    expect(setCookie).toMatch(/^bugloop_session=[A-Za-z0-9_-]{40,};/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Lax');
    expect(setCookie).not.toContain('Secure');
    expect(body.user.email).toBe('pm@example.com');
    expect(body.csrfToken).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  });

  it('stores only the hash of the session cookie', async () => {
    const { cookie } = await signIn();
    const value = cookie.split('=')[1];
    const sessions = await app.database.db.selectFrom('sessions').select('tokenHash').execute();
    expect(sessions.some((session) => session.tokenHash === value)).toBe(false);
    expect(sessions.length).toBeGreaterThan(0);
  });

  it('answers a wrong password and an unknown email alike with 401 invalid_credentials', async () => {
    const wrong = await signIn('pm@example.com', 'not the password');
    const unknown = await signIn('nobody@example.com', 'whatever password');
    expect([wrong.response.status, unknown.response.status]).toEqual([401, 401]);
    expect(wrong.body.error.code).toBe('invalid_credentials');
    expect(unknown.body.error.message).toBe(wrong.body.error.message);
    expect(wrong.setCookie).toBe('');
  });

  it('rejects a body without a password with 400 naming the field', async () => {
    const response = await app.request('/api/v1/session', { method: 'POST', ...json({ email: 'pm@example.com' }) });
    expect(response.status).toBe(400);
    expect((await response.json()).error).toMatchObject({ code: 'invalid_request', field: 'password' });
  });

  it('refuses a disabled account', async () => {
    const user = await createUser(app.database.db, { email: 'gone@example.com', password });
    await app.database.db.updateTable('users').set({ disabledAt: new Date() }).where('id', '=', user.id).execute();
    expect((await signIn('gone@example.com')).response.status).toBe(401);
  });

  it('limits sign-in attempts per account with 429 and Retry-After', async () => {
    await createUser(app.database.db, { email: 'target@example.com', password });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < signInLimits.perEmail + 1; attempt += 1) {
      statuses.push((await signIn('target@example.com', 'guess number ' + attempt)).response.status);
    }
    expect(statuses.slice(0, signInLimits.perEmail).every((status) => status === 401)).toBe(true);
    const limited = await signIn('target@example.com', password);
    expect(limited.response.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.response.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('marks the cookie Secure when the public URL is https', async () => {
    const secureApp = await startTestApp({ PUBLIC_URL: 'https://bugloop.example.com' }, { database: app.database });
    try {
      const { setCookie } = await signIn('pm@example.com', password, secureApp);
      expect(setCookie).toContain('Secure');
    } finally {
      await secureApp.close();
    }
  });
});

describe('GET /api/v1/me', () => {
  it('returns the user, their projects with roles and the CSRF token', async () => {
    const { cookie, body: signedIn } = await signIn();
    const response = await app.request('/api/v1/me', { headers: { cookie } });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.user.email).toBe('pm@example.com');
    expect(body.projects).toEqual([{ id: projectId, name: 'Session shop', keyPrefix: 'SES', role: 'triager' }]);
    expect(body.csrfToken).toBe(signedIn.csrfToken);
  });

  it('answers 401 unauthenticated without a session', async () => {
    const response = await app.request('/api/v1/me');
    expect(response.status).toBe(401);
    expect((await response.json()).error.code).toBe('unauthenticated');
  });
});

describe('signing out', () => {
  it('DELETE /api/v1/session ends this session and clears the cookie', async () => {
    const { cookie, body } = await signIn();
    const response = await app.request('/api/v1/session', { method: 'DELETE', headers: { cookie, 'x-csrf-token': body.csrfToken } });
    expect(response.status).toBe(204);
    expect(response.headers.get('set-cookie')).toMatch(/^bugloop_session=;.*Expires=Thu, 01 Jan 1970/);
    expect((await app.request('/api/v1/me', { headers: { cookie } })).status).toBe(401);
  });

  it('needs the CSRF token to sign out', async () => {
    const { cookie } = await signIn();
    const response = await app.request('/api/v1/session', { method: 'DELETE', headers: { cookie } });
    expect(response.status).toBe(403);
    expect((await response.json()).error.code).toBe('csrf_failed');
    expect((await app.request('/api/v1/me', { headers: { cookie } })).status).toBe(200);
  });

  it('POST /api/v1/sessions/revoke-all ends every session of the user', async () => {
    const first = await signIn();
    const second = await signIn();
    const response = await app.request('/api/v1/sessions/revoke-all', { method: 'POST', headers: { cookie: first.cookie, 'x-csrf-token': first.body.csrfToken } });
    expect(response.status).toBe(200);
    expect((await response.json()).ended).toBeGreaterThanOrEqual(2);
    expect((await app.request('/api/v1/me', { headers: { cookie: first.cookie } })).status).toBe(401);
    expect((await app.request('/api/v1/me', { headers: { cookie: second.cookie } })).status).toBe(401);
  });
});
