import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject } from '../../server/projects/project-service';
import { makePng } from '../support/images';
import { startTestApp, type TestApp } from '../support/test-server';

/**
 * Thousands of malformed and hostile payloads against the public endpoint: the server must
 * answer each with a 4xx (or 202 when the payload happens to be valid), never a 5xx, and never
 * leave a half-stored report.
 */
let app: TestApp;
let publicKey: string;
let accepted = 0;
const statuses = new Map<number, number>();

beforeAll(async () => {
  app = await startTestApp({ RATE_LIMIT_PER_IP_PER_MINUTE: '1000000', RATE_LIMIT_PER_KEY_PER_MINUTE: '1000000' });
  publicKey = (await createProject(app.database.db, { name: 'Fuzz' })).publicKey;
});
afterAll(() => app.close());

async function post(body: BodyInit, contentType?: string): Promise<number> {
  const headers: Record<string, string> = { 'x-bugloop-key': publicKey };
  if (contentType) headers['content-type'] = contentType;
  const response = await app.request('/api/v1/reports', { method: 'POST', headers, body });
  const text = await response.text();
  statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
  if (response.status >= 500) throw new Error(`5xx for payload: ${String(body).slice(0, 300)} → ${text}`);
  if (response.status !== 202) {
    const parsed = JSON.parse(text);
    expect(typeof parsed.error.code).toBe('string');
    expect(response.status).toBeGreaterThanOrEqual(400);
  } else if (!JSON.parse(text).duplicate) accepted += 1;
  return response.status;
}

const hostileString = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.constantFrom('<script>alert(1)</script>', '\u0000\u0001\u0002', '\ud800', '"; drop table reports; --', '${7*7}', '../../etc/passwd', '\u202e'),
  fc.integer({ min: 1000, max: 70_000 }).map((length) => 'x'.repeat(length)),
);
const anyValue = fc.oneof(hostileString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.object({ maxDepth: 2 }));
const fieldNames = ['id', 'description', 'title', 'expected', 'steps', 'email', 'url', 'release', 'environment', 'user', 'metadata', 'browser', 'console', 'network', 'breadcrumbs', 'screenshot', 'client', 'reporterToken', 'website'];

/** A valid report with some fields replaced by wrong types or hostile values. */
const mutatedReport = fc
  .record({
    replaced: fc.dictionary(fc.constantFrom(...fieldNames), anyValue, { maxKeys: 4 }),
    extra: fc.dictionary(fc.string({ maxLength: 10 }), anyValue, { maxKeys: 3 }),
  })
  .map(({ replaced, extra }) => ({ id: randomUUID(), description: `fuzz ${randomUUID()}`, ...extra, ...replaced }));

describe('ingest under hostile input', () => {
  it('answers arbitrary JSON values with 4xx or 202, never 5xx', async () => {
    await fc.assert(fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (value) => void (await post(JSON.stringify(value), 'application/json'))), { numRuns: 400 });
  });

  it('answers mutated reports (wrong types, huge strings, hostile text) with 4xx or 202', async () => {
    await fc.assert(fc.asyncProperty(mutatedReport, async (report) => void (await post(JSON.stringify(report), 'application/json'))), { numRuns: 800 });
  });

  it('answers raw bytes (invalid UTF-8, truncated JSON) with 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.constantFrom('application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/octet-stream'), async (bytes, type) => {
        const status = await post(new Uint8Array(bytes), type);
        expect(status).not.toBe(202);
      }),
      { numRuns: 400 },
    );
  });

  it('answers deeply nested JSON with 4xx', async () => {
    for (const depth of [100, 5_000, 50_000]) {
      const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
      expect(await post(`{"id":"${randomUUID()}","description":"deep","metadata":{"a":${nested}}}`, 'application/json')).toBe(400);
    }
  });

  it('answers truncated multipart bodies and fake image headers with 4xx', async () => {
    const image = makePng(32, 32);
    await fc.assert(
      fc.asyncProperty(fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(), async (cutAt, fakeImage) => {
        const form = new FormData();
        form.set('report', JSON.stringify({ id: randomUUID(), description: 'multipart fuzz' }));
        const bytes = fakeImage ? Buffer.concat([image.subarray(0, 16), Buffer.from('garbage follows the header')]) : image;
        form.set('screenshot', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'x.png');
        const request = new Request('http://x/', { method: 'POST', body: form });
        const full = Buffer.from(await request.arrayBuffer());
        const cut = full.subarray(0, Math.floor(full.length * cutAt));
        const contentType = request.headers.get('content-type')!;
        const status = await post(new Uint8Array(cut), contentType);
        // The CRLF after the closing boundary is optional (RFC 2046); without the boundary itself the form is cut.
        const closingBoundary = Buffer.from(`--${contentType.split('boundary=')[1]}--`);
        if (fakeImage || !cut.includes(closingBoundary)) expect(status).not.toBe(202);
      }),
      { numRuns: 200 },
    );
  });

  it('leaves no half-stored report: every stored report has its job, every attachment its blob', async () => {
    const orphanReports = await sql<{ count: string }>`
      select count(*) as count from reports r where not exists (select 1 from jobs j where j.idempotency_key = 'report.process:' || r.id::text)
    `.execute(app.database.db);
    expect(Number(orphanReports.rows[0].count)).toBe(0);
    const orphanAttachments = await sql<{ count: string }>`
      select count(*) as count from report_attachments a where not exists (select 1 from attachment_blobs b where b.sha256 = a.sha256)
    `.execute(app.database.db);
    expect(Number(orphanAttachments.rows[0].count)).toBe(0);
    const stored = await app.database.db.selectFrom('reports').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(accepted);
    expect([...statuses.keys()].every((status) => status < 500)).toBe(true);
  });
});
