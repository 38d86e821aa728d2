import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csrfHeaderName, sessionCookieName } from '../../server/http/authenticate';
import { createUser } from '../../server/users/user-service';
import { buildSecurityProject, type SecurityProject, signIn } from '../support/security-fixtures';
import { databaseFingerprint, fillPath, routeAccess, sampleBody, servedRoutes } from '../support/route-catalog';
import { startTestApp, type TestApp } from '../support/test-server';

/** Security headers, CORS of the public endpoints, session fixation and CSRF. */
let app: TestApp;
let project: SecurityProject;

beforeAll(async () => {
  app = await startTestApp({ RATE_LIMIT_PER_IP_PER_MINUTE: '100000' });
  project = await buildSecurityProject(app.database.db, 'W', app.config.secretKey);
}, 60_000);
afterAll(() => app?.close());

describe('security headers', () => {
  it('the dashboard gets a strict CSP, no framing, nosniff, a referrer policy and same-origin isolation; no HSTS over http', async () => {
    const response = await app.request('/', { headers: { accept: 'text/html' } });
    const csp = response.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'self'", "frame-ancestors 'none'", "form-action 'self'"]) expect(csp).toContain(directive);
    expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    expect(csp).not.toMatch(/script-src[^;]*'unsafe-eval'/);
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
    expect(response.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(response.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    expect(response.headers.get('strict-transport-security')).toBeNull();
    expect(response.headers.get('x-powered-by')).toBeNull();
  });

  it('API answers, errors included, carry the same headers', async () => {
    for (const path of ['/api/v1/me', `/api/v1/projects/${project.projectId}/defects`, '/api/v1/nothing-here']) {
      const response = await app.request(path, { headers: project.viewer.headers });
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(response.headers.get('content-security-policy'), path).toContain("frame-ancestors 'none'");
      expect(response.headers.get('x-frame-options'), path).toBe('DENY');
    }
  });

  it('sends HSTS when Bugloop is served over https', async () => {
    const secure = await startTestApp({ PUBLIC_URL: 'https://bugloop.example.com' }, { database: app.database });
    try {
      const response = await secure.request('/healthz');
      expect(response.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
      expect((await secure.request('/', { headers: { accept: 'text/html' } })).headers.get('content-security-policy')).toContain('upgrade-insecure-requests');
    } finally {
      await secure.close();
    }
  });

  it('lets other sites load the widget and its chunks (CORP cross-origin) without opener isolation', async () => {
    const widget = await app.request('/widget.js');
    expect(widget.status).toBe(200);
    expect(widget.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(widget.headers.get('access-control-allow-origin')).toBe('*');
    expect(widget.headers.get('cross-origin-opener-policy')).toBeNull();
    expect(widget.headers.get('x-content-type-options')).toBe('nosniff');
    const report = await app.request('/api/v1/reports', { method: 'POST', headers: { origin: 'https://w.example.com', 'x-bugloop-key': project.publicKey, 'content-type': 'application/json' }, body: JSON.stringify({ id: randomUUID(), description: 'headers' }) });
    expect(report.status).toBe(202);
    expect(report.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
  });

  it('keeps the demo page working: no dashboard CSP on it, the other headers still', async () => {
    const demo = await app.request('/demo');
    expect(demo.status).toBe(200);
    expect(demo.headers.get('content-security-policy')).toBeNull();
    expect(demo.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('serves screenshots sandboxed, as inert images', async () => {
    const response = await app.request(`/api/v1/projects/${project.projectId}/attachments/${project.ids.attachmentId}`, { headers: project.viewer.headers });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('content-security-policy')).toContain('sandbox');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('CORS on the public endpoints', () => {
  const report = () => JSON.stringify({ id: randomUUID(), description: 'cors' });

  it('lets an allowed origin send and read the answer, never with credentials', async () => {
    const response = await app.request('/api/v1/reports', { method: 'POST', headers: { origin: 'https://w.example.com', 'x-bugloop-key': project.publicKey, 'content-type': 'application/json' }, body: report() });
    expect(response.status).toBe(202);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://w.example.com');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    expect(response.headers.get('vary')).toMatch(/origin/i);
  });

  it('stores nothing from another origin; it may read only the refusal, so its widget stops retrying', async () => {
    const before = await app.database.db.selectFrom('reports').select('id').execute();
    const response = await app.request('/api/v1/reports', { method: 'POST', headers: { origin: 'https://evil.example.com', 'x-bugloop-key': project.publicKey, 'content-type': 'application/json' }, body: report() });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('origin_not_allowed');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    expect(await app.database.db.selectFrom('reports').select('id').execute()).toHaveLength(before.length);
  });

  it('answers preflights only for origins the named project allows', async () => {
    const preflight = (origin: string, key = project.publicKey) =>
      app.request(`/api/v1/reports?key=${key}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    const allowed = await preflight('https://w.example.com');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS');
    for (const refused of [await preflight('https://evil.example.com'), await preflight('null'), await preflight('https://w.example.com.evil.example')]) {
      expect(refused.status).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('never answers the dashboard API cross-origin', async () => {
    const response = await app.request(`/api/v1/projects/${project.projectId}/defects`, { headers: { ...project.viewer.headers, origin: 'https://w.example.com' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await app.request(`/api/v1/projects/${project.projectId}/defects/bulk`, { method: 'OPTIONS', headers: { origin: 'https://w.example.com', 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('session fixation', () => {
  async function signInWith(cookie: string | undefined, email: string) {
    return app.request('/api/v1/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(cookie ? { cookie: `${sessionCookieName}=${cookie}` } : {}) },
      body: JSON.stringify({ email, password: 'a long test password' }),
    });
  }
  const cookieOf = (response: Response) => /bugloop_session=([^;]*)/.exec(response.headers.get('set-cookie') ?? '')?.[1];

  it('never adopts a session id chosen before sign-in', async () => {
    const planted = 'attacker-chosen-session-id-0123456789';
    const response = await signInWith(planted, project.triager.email);
    expect(response.status).toBe(200);
    const issued = cookieOf(response);
    expect(issued).toBeTruthy();
    expect(issued).not.toBe(planted);
    expect((await app.request('/api/v1/me', { headers: { cookie: `${sessionCookieName}=${planted}` } })).status).toBe(401);
    expect((await app.request('/api/v1/me', { headers: { cookie: `${sessionCookieName}=${issued}` } })).status).toBe(200);
  });

  it('ends a valid session planted in the browser (someone else’s) when the person signs in', async () => {
    const attacker = await createUser(app.database.db, { email: `attacker-${randomUUID()}@example.com`, password: 'a long test password' });
    const plantedHeaders = await signIn(app.database.db, attacker.id);
    const planted = plantedHeaders.cookie.split('=')[1];
    const response = await signInWith(planted, project.viewer.email);
    expect(response.status).toBe(200);
    expect(cookieOf(response)).not.toBe(planted);
    expect((await app.request('/api/v1/me', { headers: { cookie: `${sessionCookieName}=${planted}` } })).status).toBe(401);
  });

  it('issues a fresh CSRF token with every session', async () => {
    const first = (await (await signInWith(undefined, project.admin.email)).json()) as { csrfToken: string };
    const second = (await (await signInWith(undefined, project.admin.email)).json()) as { csrfToken: string };
    expect(first.csrfToken).not.toBe(second.csrfToken);
  });
});

describe('CSRF', () => {
  it('refuses every cookie-authenticated mutation without the CSRF token, or with a wrong one, and writes nothing', async () => {
    const routes = servedRoutes(app).filter((route) => !['GET', 'OPTIONS', 'ALL'].includes(route.method));
    const cookieRoutes = routes.filter((route) => ['project', 'person', 'instance-admin'].includes(routeAccess[route.key]?.kind ?? ''));
    expect(cookieRoutes.length).toBeGreaterThan(35);
    const otherSession = await signIn(app.database.db, project.triager.userId);
    const before = await databaseFingerprint(app.database.db);
    const failures: string[] = [];
    for (const route of cookieRoutes) {
      const body = await sampleBody(app.database.db, route.key, project);
      const variants: [string, Record<string, string>][] = [
        ['no token', { cookie: project.admin.headers.cookie }],
        ['wrong token', { cookie: project.admin.headers.cookie, [csrfHeaderName]: 'forged-token' }],
        ['another session’s token', { cookie: project.admin.headers.cookie, [csrfHeaderName]: otherSession[csrfHeaderName] }],
        ['token in the query string', { cookie: project.admin.headers.cookie }],
      ];
      for (const [label, headers] of variants) {
        const path = fillPath(route.path, project) + (label === 'token in the query string' ? `?csrf=${project.admin.headers[csrfHeaderName]}` : '');
        const response = await app.request(path, { method: route.method, headers: { ...headers, ...(body.contentType ? { 'content-type': body.contentType } : {}) }, body: body.body as BodyInit | undefined });
        const code = response.status === 403 ? ((await response.json()) as { error: { code: string } }).error.code : await response.text();
        if (response.status !== 403 || code !== 'csrf_failed') failures.push(`${route.key} (${label}): ${response.status} ${String(code).slice(0, 100)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await databaseFingerprint(app.database.db)).toEqual(before);
  }, 120_000);

  it('sign-in takes only JSON, which a cross-site form cannot send', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain']) {
      const response = await app.request('/api/v1/session', { method: 'POST', headers: { 'content-type': type }, body: `email=${project.admin.email}&password=x` });
      expect(response.status, type).toBe(415);
    }
  });
});
