import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../server/auth/api-token-service';
import { createProject } from '../../server/projects/project-service';
import { makePng } from '../support/images';
import { startTestApp, type TestApp } from '../support/test-server';

const origin = 'https://shop.example.com';
let app: TestApp;
let publicKey: string;
let projectId: string;

beforeAll(async () => {
  app = await startTestApp({ RATE_LIMIT_PER_IP_PER_MINUTE: '100000' });
  const project = await createProject(app.database.db, { name: 'Shop', keyPrefix: 'SHOP', allowedOrigins: [origin] });
  publicKey = project.publicKey;
  projectId = project.id;
});
afterAll(() => app.close());

const minimal = (extra: Record<string, unknown> = {}) => ({ id: randomUUID(), description: 'The checkout button does nothing', ...extra });

function sendJson(body: unknown, headers: Record<string, string> = {}) {
  return app.request('/api/v1/reports', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-bugloop-key': publicKey, origin, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function sendMultipart(report: unknown, image?: Buffer, options: { key?: string; imageType?: string } = {}) {
  const form = new FormData();
  form.set('report', JSON.stringify(report));
  if (options.key) form.set('key', options.key);
  if (image) form.set('screenshot', new Blob([new Uint8Array(image)], { type: options.imageType ?? 'image/png' }), 'screenshot.png');
  return app.request('/api/v1/reports', { method: 'POST', headers: options.key ? { origin } : { 'x-bugloop-key': publicKey, origin }, body: form });
}

async function expectError(response: Response, status: number, code: string, field?: string) {
  expect(response.status).toBe(status);
  const body = await response.json();
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  if (field) expect(body.error.field).toBe(field);
  return body;
}

const countReports = async () => Number((await app.database.db.selectFrom('reports').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

describe('accepting reports', () => {
  it('stores the smallest valid report and answers 202 with a reference', async () => {
    const report = minimal();
    const response = await sendJson(report);
    expect(response.status).toBe(202);
    const body = await response.json();
    expect(body).toMatchObject({ status: 'accepted', clientId: report.id, duplicate: false });
    expect(body.reference).toMatch(/^R-[0-9A-F]{8}$/);
    expect(response.headers.get('access-control-allow-origin')).toBe(origin);
    const stored = await app.database.db.selectFrom('reports').selectAll().where('id', '=', body.id).executeTakeFirstOrThrow();
    expect(stored).toMatchObject({ projectId, clientId: report.id, state: 'received', origin: 'field', description: report.description });
    const job = await app.database.db.selectFrom('jobs').selectAll().where('idempotencyKey', '=', `report.process:${body.id}`).executeTakeFirst();
    expect(job?.state).toBe('pending');
  });

  it('answers a retry with the same id with the same 202 and stores nothing twice', async () => {
    const report = minimal();
    const first = await (await sendJson(report)).json();
    const before = await countReports();
    const retry = await sendJson({ ...report, description: 'a changed text must not create a second report' });
    expect(retry.status).toBe(202);
    const second = await retry.json();
    expect(second).toMatchObject({ id: first.id, reference: first.reference, duplicate: true });
    expect(await countReports()).toBe(before);
  });

  it('accepts multipart with a screenshot and stores identical images once', async () => {
    const image = makePng(120, 80);
    const first = await sendMultipart(minimal(), image);
    expect(first.status).toBe(202);
    const second = await sendMultipart(minimal(), image);
    expect(second.status).toBe(202);
    const attachments = await app.database.db
      .selectFrom('reportAttachments')
      .innerJoin('attachmentBlobs', 'attachmentBlobs.sha256', 'reportAttachments.sha256')
      .select(['reportAttachments.reportId', 'attachmentBlobs.sha256', 'width', 'height', 'contentType', 'byteSize', 'data'])
      .where('reportId', 'in', [(await first.json()).id, (await second.json()).id])
      .execute();
    expect(attachments).toHaveLength(2);
    expect(new Set(attachments.map((row) => row.sha256)).size).toBe(1);
    expect(attachments[0]).toMatchObject({ width: 120, height: 80, contentType: 'image/png', byteSize: image.length });
    expect(Buffer.compare(attachments[0].data, image)).toBe(0);
  });

  it('takes the public key from a form field, so a browser can send without a preflight', async () => {
    const response = await sendMultipart(minimal(), undefined, { key: publicKey });
    expect(response.status).toBe(202);
  });

  it('scrubs private data from captured context but keeps the user’s own words', async () => {
    const report = minimal({
      description: 'My email is jane@example.com and checkout fails',
      url: 'https://shop.example.com/checkout?token=s3cr3t&step=2',
      console: [{ level: 'error', message: 'auth failed for jane@example.com with Bearer abcdefghijklmnop', time: 1 }],
      network: [{ method: 'POST', url: 'https://api.example.com/pay?card=4242424242424242', status: 500, durationMs: 120, time: 2 }],
    });
    const { id } = await (await sendJson(report)).json();
    const stored = await app.database.db.selectFrom('reports').select(['payload', 'url', 'description']).where('id', '=', id).executeTakeFirstOrThrow();
    const text = JSON.stringify(stored.payload);
    expect(stored.description).toContain('jane@example.com');
    expect(stored.url).not.toContain('s3cr3t');
    expect(text).not.toContain('abcdefghijklmnop');
    expect(text).not.toContain('4242424242424242');
    expect((stored.payload as { console: { message: string }[] }).console[0].message).toBe('auth failed for [email] with Bearer [token]');
  });
});

describe('rejecting bad input with a clear code', () => {
  it('400 invalid_report names the missing description', async () => {
    await expectError(await sendJson({ id: randomUUID() }), 400, 'invalid_report', 'description');
  });

  it('400 invalid_report names a non-UUID id', async () => {
    await expectError(await sendJson({ id: 'abc', description: 'x' }), 400, 'invalid_report', 'id');
  });

  it('400 invalid_report names a nested field by its path', async () => {
    const body = await expectError(await sendJson(minimal({ console: [{ level: 'fatal', message: 'x', time: 1 }] })), 400, 'invalid_report', 'console.0.level');
    expect(body.error.message).toContain('console.0.level');
  });

  it('400 invalid_json for a body that is not JSON, and for invalid UTF-8', async () => {
    await expectError(await sendJson('{"id": '), 400, 'invalid_json');
    const invalidUtf8 = Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('","description":"x"}')]);
    const response = await app.request('/api/v1/reports', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-bugloop-key': publicKey },
      body: invalidUtf8,
    });
    await expectError(response, 400, 'invalid_json');
  });

  // Regression: found by the fuzz test; PostgreSQL refused these strings and the server answered 500.
  it('400 invalid_report for a NUL character or a lone surrogate, naming the field', async () => {
    await expectError(await sendJson(`{"id":"${randomUUID()}","description":"a\\u0000b"}`), 400, 'invalid_report', 'description');
    await expectError(await sendJson(`{"id":"${randomUUID()}","description":"x","metadata":{"k":"\\ud800"}}`), 400, 'invalid_report', 'metadata.k');
  });

  it('401 invalid_project_key without a key or with an unknown one', async () => {
    await expectError(await sendJson(minimal(), { 'x-bugloop-key': '' }), 401, 'invalid_project_key');
    await expectError(await sendJson(minimal(), { 'x-bugloop-key': 'pk_doesnotexist000000' }), 401, 'invalid_project_key');
  });

  it('403 origin_not_allowed for an origin the project does not list', async () => {
    await expectError(await sendJson(minimal(), { origin: 'https://evil.example.net' }), 403, 'origin_not_allowed');
  });

  it('413 payload_too_large for JSON over 256 KB', async () => {
    const before = await countReports();
    await expectError(await sendJson(minimal({ description: 'x'.repeat(300 * 1024) })), 413, 'payload_too_large');
    expect(await countReports()).toBe(before);
  });

  it('413 payload_too_large for an image over 5 MB', async () => {
    const huge = Buffer.concat([makePng(10, 10), Buffer.alloc(5 * 1024 * 1024 + 10)]);
    await expectError(await sendMultipart(minimal(), huge), 413, 'payload_too_large');
  });

  it('415 unsupported_media_type for other body types', async () => {
    const response = await app.request('/api/v1/reports', {
      method: 'POST',
      headers: { 'content-type': 'application/xml', 'x-bugloop-key': publicKey },
      body: '<report/>',
    });
    await expectError(response, 415, 'unsupported_media_type');
  });

  it('415 for an image whose bytes are not PNG, JPEG or WebP, whatever its declared type', async () => {
    const before = await countReports();
    const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
    await expectError(await sendMultipart(minimal(), gif, { imageType: 'image/png' }), 415, 'unsupported_media_type');
    const fakePng = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('not really a png at all')]);
    await expectError(await sendMultipart(minimal(), fakePng), 415, 'unsupported_media_type');
    expect(await countReports()).toBe(before);
  });

  it('415 for a truncated image', async () => {
    const image = makePng(50, 50);
    await expectError(await sendMultipart(minimal(), image.subarray(0, image.length - 20)), 415, 'unsupported_media_type');
  });

  it('422 image_too_large for declared dimensions over 8000 × 16000 (an image bomb)', async () => {
    await expectError(await sendMultipart(minimal(), makePng(4, 4, { declaredWidth: 9000 })), 422, 'image_too_large');
    await expectError(await sendMultipart(minimal(), makePng(4, 4, { declaredWidth: 100, declaredHeight: 20_000 })), 422, 'image_too_large');
  });

  it('400 invalid_multipart without a report field', async () => {
    const form = new FormData();
    form.set('screenshot', new Blob([new Uint8Array(makePng(4, 4))]), 'a.png');
    const response = await app.request('/api/v1/reports', { method: 'POST', headers: { 'x-bugloop-key': publicKey }, body: form });
    await expectError(response, 400, 'invalid_multipart', 'report');
  });
});

describe('spam guards', () => {
  it('reject a filled honeypot field and store nothing', async () => {
    const before = await countReports();
    await expectError(await sendJson(minimal({ website: 'http://buy-now.example' })), 422, 'spam_suspected');
    expect(await countReports()).toBe(before);
  });

  it('reject a form sent faster than a person could type it', async () => {
    const now = Date.now();
    await expectError(await sendJson(minimal({ client: { openedAt: now - 200, sentAt: now } })), 422, 'spam_suspected');
    expect((await sendJson(minimal({ client: { openedAt: now - 8000, sentAt: now } }))).status).toBe(202);
  });

  it('cut a flood of identical text with 429 and Retry-After', async () => {
    const description = `Flood ${randomUUID()}`;
    const statuses: number[] = [];
    for (let index = 0; index < 22; index += 1) statuses.push((await sendJson(minimal({ description }))).status);
    expect(statuses.slice(0, 20).every((status) => status === 202)).toBe(true);
    const limited = await sendJson(minimal({ description }));
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    await expectError(limited, 429, 'rate_limited');
  });
});

describe('CORS', () => {
  it('answers a preflight from an allowed origin', async () => {
    const response = await app.request(`/api/v1/reports?key=${publicKey}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-bugloop-key' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(origin);
    expect(response.headers.get('access-control-allow-headers')).toContain('X-Bugloop-Key');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('refuses a preflight from an origin no project allows', async () => {
    const response = await app.request('/api/v1/reports', { method: 'OPTIONS', headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'POST' } });
    await expectError(response, 403, 'origin_not_allowed');
  });
});

describe('authenticated reports (API token)', () => {
  it('accept a QA report with origin qa and no browser origin check', async () => {
    const { token } = await createApiToken(app.database.db, { projectId, name: 'qa', scopes: ['reports:write'] });
    const response = await app.request('/api/v1/reports', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(minimal({ origin: 'qa' })),
    });
    expect(response.status).toBe(202);
    const { id } = await response.json();
    const stored = await app.database.db.selectFrom('reports').select(['origin', 'projectId']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(stored).toEqual({ origin: 'qa', projectId });
  });

  it('403 insufficient_scope for a token without reports:write, 401 for an unknown token', async () => {
    const { token } = await createApiToken(app.database.db, { projectId, name: 'read only', scopes: ['defects:read'] });
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    await expectError(await app.request('/api/v1/reports', { method: 'POST', headers, body: JSON.stringify(minimal()) }), 403, 'insufficient_scope');
    const unknown = { ...headers, authorization: 'Bearer blt_unknown' };
    await expectError(await app.request('/api/v1/reports', { method: 'POST', headers: unknown, body: JSON.stringify(minimal()) }), 401, 'invalid_token');
  });
});

describe('rate limits', () => {
  it('answer 429 with Retry-After when a project key exceeds its budget', async () => {
    const limited = await startTestApp({ RATE_LIMIT_PER_KEY_PER_MINUTE: '3', RATE_LIMIT_PER_IP_PER_MINUTE: '1000' });
    try {
      const project = await createProject(limited.database.db, { name: 'Limited', allowedOrigins: [origin] });
      const send = () =>
        limited.request('/api/v1/reports', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-bugloop-key': project.publicKey },
          body: JSON.stringify(minimal()),
        });
      expect([(await send()).status, (await send()).status, (await send()).status]).toEqual([202, 202, 202]);
      const response = await send();
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      await expectError(response, 429, 'rate_limited');
    } finally {
      await limited.close();
    }
  });

  it('answer 429 when one address sends too much, across projects', async () => {
    const limited = await startTestApp({ RATE_LIMIT_PER_IP_PER_MINUTE: '2' });
    try {
      const project = await createProject(limited.database.db, { name: 'Per IP', allowedOrigins: [origin] });
      const send = () =>
        limited.request('/api/v1/reports', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-bugloop-key': project.publicKey },
          body: JSON.stringify(minimal()),
        });
      await send();
      await send();
      await expectError(await send(), 429, 'rate_limited');
    } finally {
      await limited.close();
    }
  });
});
