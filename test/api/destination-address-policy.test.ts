import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject } from '../../server/projects/project-service';
import { signedInHeaders } from '../support/auth';
import { startTestApp, type TestApp } from '../support/test-server';

/**
 * The save-time half of the SSRF defence, with the default configuration (the test server
 * otherwise allows private addresses for the local fakes): a destination whose URL or host is,
 * or resolves to, a private, loopback, link-local, metadata or unique-local address is refused
 * with 400 destination_address_not_allowed naming the field, and nothing is stored.
 */
let app: TestApp;
let projectId: string;
let admin: Record<string, string>;

beforeAll(async () => {
  app = await startTestApp({ ALLOW_PRIVATE_DESTINATION_ADDRESSES: 'false' });
  projectId = (await createProject(app.database.db, { name: 'Policy' })).id;
  admin = { ...(await signedInHeaders(app.database.db, { projectId, role: 'admin' })).headers, 'content-type': 'application/json' };
});
afterAll(() => app.close());

const webhook = (url: string) => ({ kind: 'webhook', name: `hook ${randomUUID().slice(0, 6)}`, config: { url }, secrets: { signingSecret: '0123456789abcdef0' } });

async function create(body: unknown) {
  const response = await app.request(`/api/v1/projects/${projectId}/destinations`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as { error?: { code: string; field?: string; message: string }; destination?: { id: string } } };
}

describe('with the default configuration', () => {
  it.each([
    ['loopback', 'http://127.0.0.1:8080/hook'],
    ['loopback, another form', 'http://127.1/hook'],
    ['private 10.x', 'https://10.0.0.5/hook'],
    ['private 192.168.x', 'http://192.168.1.20/hook'],
    ['IPv6 loopback', 'http://[::1]:3000/hook'],
    ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/hook'],
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/'],
    ['unique-local IPv6', 'http://[fd00::1]/hook'],
    ['localhost by name', 'http://localhost:5432/'],
  ])('refuses a webhook to %s with 400 destination_address_not_allowed', async (_label, url) => {
    const answer = await create(webhook(url));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'destination_address_not_allowed', field: 'config.url' });
  });

  it('refuses private Jira, Linear and Slack base URLs and SMTP hosts, naming the field', async () => {
    const cases = [
      [{ kind: 'jira', name: 'j', config: { baseUrl: 'http://10.20.30.40:8080', projectKey: 'WEB', email: 'a@example.com' } }, 'config.baseUrl'],
      [{ kind: 'linear', name: 'l', config: { teamId: 't', apiUrl: 'http://localhost:4000/graphql' } }, 'config.apiUrl'],
      [{ kind: 'slack', name: 's', config: { channel: 'C0123', apiUrl: 'http://169.254.169.254/api/' } }, 'config.apiUrl'],
      [{ kind: 'email', name: 'e', config: { host: '127.0.0.1', port: 25, from: 'bugs@example.com' } }, 'config.host'],
    ] as const;
    for (const [body, field] of cases) {
      const answer = await create(body);
      expect([answer.status, answer.body.error?.code, answer.body.error?.field], body.kind).toEqual([400, 'destination_address_not_allowed', field]);
    }
  });

  it('stores nothing when refused, and refuses the same change through PATCH', async () => {
    const before = await app.database.db.selectFrom('destinations').select('id').where('projectId', '=', projectId).execute();
    expect((await create(webhook('http://127.0.0.1/x'))).status).toBe(400);
    expect(await app.database.db.selectFrom('destinations').select('id').where('projectId', '=', projectId).execute()).toEqual(before);

    // Public literal addresses are accepted (DNS is not consulted for them, nothing is sent).
    const created = await create(webhook('https://93.184.216.34/hook'));
    expect(created.status).toBe(201);
    const id = created.body.destination!.id;
    const patched = await app.request(`/api/v1/projects/${projectId}/destinations/${id}`, { method: 'PATCH', headers: admin, body: JSON.stringify({ config: { url: 'http://[::1]/hook' } }) });
    expect(patched.status).toBe(400);
    expect(((await patched.json()) as { error: { code: string } }).error.code).toBe('destination_address_not_allowed');
    const stored = await app.database.db.selectFrom('destinations').select('config').where('id', '=', id).executeTakeFirstOrThrow();
    expect(stored.config).toEqual({ url: 'https://93.184.216.34/hook' });
  });
});

describe('with ALLOW_PRIVATE_DESTINATION_ADDRESSES=true', () => {
  it('accepts a loopback webhook, for self-hosted set-ups', async () => {
    const open = await startTestApp({ ALLOW_PRIVATE_DESTINATION_ADDRESSES: 'true' }, { database: app.database });
    try {
      const response = await open.request(`/api/v1/projects/${projectId}/destinations`, { method: 'POST', headers: admin, body: JSON.stringify(webhook('http://127.0.0.1:8080/hook')) });
      expect(response.status).toBe(201);
    } finally {
      await open.close();
    }
  });
});
