import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/schema';
import { makePng } from '../support/images';
import { buildSecurityProject, type CallerHeaders, type SecurityProject } from '../support/security-fixtures';
import { fillPath, parameterNames, routeAccess, sampleBody, type ServedRoute, servedRoutes } from '../support/route-catalog';
import { startTestApp, type TestApp } from '../support/test-server';

/**
 * Property-based fuzzing of every route the app serves (enumerated from the routers), public
 * and authenticated, as a caller who may use it: hostile path ids, query strings, headers and
 * bodies. Every answer must be a 4xx with the error body (or a success), never a 5xx, and a
 * refused request must leave every table's row count as it was. A fixed seed (FUZZ_SEED to
 * change it) makes a failure reproducible; fast-check prints the seed and the failing input.
 */
const seed = Number(process.env.FUZZ_SEED ?? 20261201);
const runsPerRoute = Number(process.env.FUZZ_RUNS_PER_ROUTE ?? 12);

let app: TestApp;
let project: SecurityProject;
let routes: ServedRoute[];
let tables: string[];
const statuses = new Map<number, number>();

beforeAll(async () => {
  app = await startTestApp({ RATE_LIMIT_PER_IP_PER_MINUTE: '100000000', RATE_LIMIT_PER_KEY_PER_MINUTE: '100000000' });
  project = await buildSecurityProject(app.database.db, 'F', app.config.secretKey);
  routes = servedRoutes(app).filter((route) => !['excluded'].includes(routeAccess[route.key]?.kind ?? 'excluded'));
  tables = (
    await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' and table_name not like 'kysely_%' order by 1`.execute(
      app.database.db,
    )
  ).rows.map((row) => row.name);
  console.log(`[endpoint fuzz] seed ${seed}, ${runsPerRoute} runs per route, ${routes.length} routes`);
}, 60_000);
afterAll(() => app?.close());

/** Row counts of every table in one round trip. */
async function rowCounts(db: Kysely<Database>): Promise<Record<string, number>> {
  const columns = sql.join(tables.map((name) => sql`${name}::text, (select count(*) from ${sql.table(name)})`));
  const result = await sql<{ counts: Record<string, number> }>`select json_build_object(${columns}) as counts`.execute(db);
  return result.rows[0].counts;
}

/** A caller that may use the route (so the fuzzed input, not the authorization, decides). */
function callerFor(route: ServedRoute): CallerHeaders {
  const access = routeAccess[route.key];
  // Signing out must not end the session every other route is fuzzed with.
  if (route.key === 'DELETE /api/v1/session' || route.key === 'POST /api/v1/sessions/revoke-all') return project.viewer.headers;
  if (access.kind === 'token') return project.tokenAll;
  if (access.kind === 'project' || access.kind === 'person' || access.kind === 'any-caller' || access.kind === 'instance-admin') return project.admin.headers;
  if (access.kind === 'ingest' || access.kind === 'reporter') return { 'x-bugloop-key': project.publicKey, origin: 'https://f.example.com' };
  return {};
}

interface FuzzRequest {
  path: string;
  query: [string, string][];
  headers: Record<string, string>;
  body?: Uint8Array | string;
}

/** Sends one request and checks the answer; returns the status. */
async function send(route: ServedRoute, request: FuzzRequest): Promise<number> {
  const before = await rowCounts(app.database.db);
  const search = new URLSearchParams(request.query).toString();
  const method = route.method === 'ALL' ? 'POST' : route.method;
  let response: Response;
  try {
    response = await app.request(`${request.path}${search ? `?${search}` : ''}`, {
      method,
      headers: { ...callerFor(route), ...request.headers },
      body: method === 'GET' || method === 'HEAD' ? undefined : (request.body as BodyInit | undefined),
    });
  } catch (error) {
    throw new Error(`${route.key}: the connection failed (${(error as Error).message}) for ${JSON.stringify(request).slice(0, 400)}`);
  }
  const text = await response.text();
  statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
  const shown = () => `${route.key} → ${response.status} ${text.slice(0, 200)} for ${JSON.stringify(request).slice(0, 400)}`;
  if (response.status >= 500) throw new Error(`5xx: ${shown()}`);
  if (response.status >= 400) {
    // Node's own parser answers 431 for giant headers before the app sees them (no body).
    if (response.status !== 431) {
      const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
      if (typeof code !== 'string') throw new Error(`4xx without an error code: ${shown()}`);
    }
    const after = await rowCounts(app.database.db);
    const changed = Object.keys(after).filter((table) => after[table] !== before[table]);
    if (changed.length > 0) throw new Error(`refused but wrote to ${changed.join(', ')}: ${shown()}`);
  }
  return response.status;
}

// Hostile building blocks.
const hostileText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
    "'; drop table defects; --",
    '../../../../etc/passwd',
    '%00',
    '\u0000',
    '\ud800',
    '\u202e',
    '__proto__',
    'constructor',
    'prototype',
    '${7*7}',
    '{{7*7}}',
    'NaN',
    '-1',
    '1e309',
    '00000000-0000-0000-0000-000000000000',
    'WEB-999999999999999999999',
    '9'.repeat(40),
  ),
  fc.integer({ min: 500, max: 20_000 }).map((length) => 'x'.repeat(length)),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileText,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, -0, 1e308),
  fc.array(hostileText, { maxLength: 3 }),
  fc.object({ maxDepth: 2 }),
);
const prototypeKeys = fc.constantFrom('__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf');

/** A JSON text: a valid sample with fields replaced, random JSON, or a pollution attempt. */
function jsonBodies(sample: unknown): fc.Arbitrary<string> {
  const base = sample && typeof sample === 'object' && !Array.isArray(sample) ? (sample as Record<string, unknown>) : {};
  const fields = Object.keys(base);
  const mutated = fc
    .record({
      replaced: fields.length > 0 ? fc.dictionary(fc.constantFrom(...fields), hostileValue, { maxKeys: 3 }) : fc.constant({}),
      extra: fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), prototypeKeys), hostileValue, { maxKeys: 2 }),
    })
    .map(({ replaced, extra }) => JSON.stringify({ ...base, ...extra, ...replaced }));
  const pollution = fc.tuple(prototypeKeys, hostileValue).map(([key, value]) => {
    const text = JSON.stringify(base).slice(1, -1);
    return `{${text}${text ? ',' : ''}"${key}":{"isAdmin":true,"polluted":${JSON.stringify(value ?? null)}}}`;
  });
  const nested = fc.integer({ min: 50, max: 20_000 }).map((depth) => `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`);
  return fc.oneof({ weight: 4, arbitrary: mutated }, { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) }, { weight: 1, arbitrary: pollution }, { weight: 1, arbitrary: nested });
}

/** encodeURIComponent, but a lone surrogate goes out as its (invalid) UTF-8 bytes instead of throwing. */
function percentEncode(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return value.replace(/[\ud800-\udfff]/g, '%ED%A0%80').split('%ED%A0%80').map((part) => encodeURIComponent(part)).join('%ED%A0%80');
  }
}

function requests(route: ServedRoute, sample: { body?: string | Uint8Array; contentType?: string }): fc.Arbitrary<FuzzRequest> {
  const names = parameterNames(route.path);
  const pathArbitrary = fc
    .record({ replace: fc.subarray(names, { maxLength: names.length }), values: fc.array(hostileText, { minLength: names.length, maxLength: names.length }) })
    .map(({ replace, values }) => {
      let index = 0;
      return route.path.replace(/:([A-Za-z]+)/g, (whole, name: string) => {
        const value = values[index++];
        return replace.includes(name) ? percentEncode(value).slice(0, 3000) || '%20' : fillPath(whole, project);
      });
    });
  const queryArbitrary = fc.array(fc.tuple(fc.oneof(fc.constantFrom('limit', 'offset', 'status', 'q', 'release', 'format', 'key', 'asOf', 'tz', 'before', 'download', 'assignee', 'map.title', 'preset'), prototypeKeys, fc.string({ maxLength: 6 })), hostileText.map((value) => value.slice(0, 2000))), { maxLength: 4 });
  const sampleJson = sample.contentType === 'application/json' && typeof sample.body === 'string' ? JSON.parse(sample.body) : undefined;
  const bodyArbitrary: fc.Arbitrary<{ body?: string | Uint8Array; contentType?: string }> = fc.oneof(
    { weight: 5, arbitrary: jsonBodies(sampleJson).map((body) => ({ body, contentType: 'application/json' })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('application/json', 'text/plain', 'application/xml', 'text/csv', 'multipart/form-data; boundary=x'))
        .map(([body, contentType]) => ({ body, contentType })),
    },
    { weight: 1, arbitrary: fc.constant({ body: Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0xfe, 0x22, 0x7d]), contentType: 'application/json' }) },
    { weight: 1, arbitrary: fc.constant(sample) },
  );
  const headerArbitrary: fc.Arbitrary<Record<string, string>> = fc.oneof(
    { weight: 6, arbitrary: fc.constant({}) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Record<string, string>>({ 'x-request-id': 'x'.repeat(5000) }, { 'x-bugloop-release': '<script>'.repeat(100) }, { accept: 'text/csv' }, { 'content-encoding': 'br' }, { 'cache-control': 'no-cache' }),
    },
  );
  return fc.record({ path: pathArbitrary, query: queryArbitrary, body: bodyArbitrary, headers: headerArbitrary }).map(({ path, query, body, headers }) => ({
    path,
    query,
    body: body.body,
    headers: { ...headers, ...(body.contentType ? { 'content-type': body.contentType } : {}) },
  }));
}

describe('fuzzing every endpoint', () => {
  it('answers hostile paths, queries, headers and bodies on every route with 4xx or success, never 5xx, and writes nothing when refusing', async () => {
    for (const [index, route] of routes.entries()) {
      const sample = await sampleBody(app.database.db, route.key, project);
      await fc.assert(
        fc.asyncProperty(requests(route, sample), async (request) => void (await send(route, request))),
        { numRuns: runsPerRoute, seed: seed + index, endOnFailure: true },
      );
    }
    expect([...statuses.keys()].every((status) => status < 500)).toBe(true);
  }, 600_000);

  it('leaves Object.prototype unpolluted after every __proto__ / constructor payload', () => {
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });
});

describe('hostile payloads aimed at one weakness each', () => {
  const base = () => `/api/v1/projects/${project.projectId}`;

  it('giant headers get 431 from the HTTP parser and nothing runs', async () => {
    const route = routes.find((candidate) => candidate.key === 'POST /api/v1/reports')!;
    expect(await send(route, { path: '/api/v1/reports', query: [], headers: { 'x-filler': 'x'.repeat(70_000), 'content-type': 'application/json' }, body: JSON.stringify({ id: randomUUID(), description: 'big' }) })).toBe(431);
  });

  it('deeply nested JSON in settings, destination config and rule conditions is refused, not a stack overflow', async () => {
    const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const cases: [string, string, (nested: string) => string][] = [
      ['PATCH /api/v1/projects/:projectId', base(), (nested) => `{"settings":{"theme":${nested}}}`],
      ['POST /api/v1/projects/:projectId/destinations', `${base()}/destinations`, (nested) => `{"kind":"webhook","name":"x","config":{"url":"https://h.example.com","extra":${nested}}}`],
      ['POST /api/v1/projects/:projectId/routing-rules', `${base()}/routing-rules`, (nested) => `{"name":"x","triggers":["manual"],"actions":[{"type":"stop"}],"conditions":${nested}}`],
      ['POST /api/v1/projects/:projectId/views', `${base()}/views`, (nested) => `{"name":"x","query":${nested}}`],
      ['POST /api/v1/integrations/:destinationId/webhook', `/api/v1/integrations/${project.ids.trackerDestinationId}/webhook`, (nested) => `{"webhookEvent":"jira:issue_updated","x":${nested}}`],
    ];
    for (const [key, path, body] of cases) {
      const route = routes.find((candidate) => candidate.key === key)!;
      for (const depth of [1_000, 10_000, 30_000]) {
        const status = await send(route, { path, query: [], headers: { 'content-type': 'application/json' }, body: body(deep(depth)) });
        expect(status, `${key} at depth ${depth}`).toBeGreaterThanOrEqual(400);
      }
    }
  });

  it('XML bombs, XXE, truncated XML, huge attributes and gzip bombs in JUnit are 4xx and store nothing', async () => {
    const route = routes.find((candidate) => candidate.key === 'POST /api/v1/test-runs')!;
    const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><testsuite name="&lol3;"><testcase name="x"/></testsuite>`;
    const xxe = `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><testsuite name="s"><testcase name="&xxe;"/></testsuite>`;
    const parameterEntity = `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY % remote SYSTEM "http://169.254.169.254/">%remote;]><testsuite/>`;
    const truncated = `<?xml version="1.0"?><testsuites><testsuite name="s"><testcase name="a"><failure message="boom`;
    const hugeAttribute = `<testsuite name="${'a'.repeat(1_100_000)}"><testcase name="x"/></testsuite>`;
    const notJunit = `<html><body>hello</body></html>`;
    const gzipBomb = gzipSync(Buffer.alloc(40 * 1024 * 1024, 0x20), { level: 9 });
    for (const [label, body, headers] of [
      ['billion laughs', laughs, {}],
      ['XXE', xxe, {}],
      ['parameter entity', parameterEntity, {}],
      ['truncated', truncated, {}],
      ['huge attribute', hugeAttribute, {}],
      ['not JUnit', notJunit, {}],
      ['gzip of 40 MB of spaces', gzipBomb, { 'content-encoding': 'gzip' }],
      ['corrupt gzip', Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' }],
    ] as const) {
      const status = await send(route, { path: '/api/v1/test-runs', query: [['release', '9.9.9']], headers: { 'content-type': 'application/xml', ...headers }, body: typeof body === 'string' ? body : new Uint8Array(body) });
      expect(status, label).toBeGreaterThanOrEqual(400);
      expect(status, label).toBeLessThan(500);
    }
    expect(await app.database.db.selectFrom('releases').select('id').where('version', '=', '9.9.9').execute()).toEqual([]);
  }, 120_000);

  it('image bombs, truncated images and disguised files in ingest are 4xx and store nothing', async () => {
    const route = routes.find((candidate) => candidate.key === 'POST /api/v1/reports')!;
    const png = makePng(16, 16);
    const jpegBomb = Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xff, 0xff, 0xff, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xd9]);
    const webpBomb = Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x1e, 0, 0, 0]), Buffer.from('WEBPVP8X'), Buffer.from([0x0a, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(8)]);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>');
    const html = Buffer.from('<html><script>alert(document.cookie)</script></html>');
    for (const [label, image] of [
      ['PNG declaring 100000 × 100000', makePng(4, 4, { declaredWidth: 100_000, declaredHeight: 100_000 })],
      ['PNG declaring 2^31 wide', makePng(4, 4, { declaredWidth: 2 ** 31 - 1, declaredHeight: 1 })],
      ['JPEG declaring 65535 × 65535', jpegBomb],
      ['WebP declaring 16M × 16M', webpBomb],
      ['truncated PNG', png.subarray(0, png.length - 20)],
      ['PNG header only', png.subarray(0, 24)],
      ['SVG with script', svg],
      ['HTML named .png', html],
      ['empty file', Buffer.alloc(0)],
    ] as const) {
      const form = new FormData();
      form.set('report', JSON.stringify({ id: randomUUID(), description: `image ${label}` }));
      form.set('screenshot', new Blob([new Uint8Array(image)], { type: 'image/png' }), 'shot.png');
      const encoded = new Request('http://x/', { method: 'POST', body: form });
      const status = await send(route, { path: '/api/v1/reports', query: [], headers: { 'content-type': encoded.headers.get('content-type')! }, body: new Uint8Array(await encoded.arrayBuffer()) });
      expect(status, label).toBeGreaterThanOrEqual(400);
    }
  });

  it('CSV imports with hostile content are refused or stored as inert text, never 5xx', async () => {
    const route = routes.find((candidate) => candidate.key === 'POST /api/v1/projects/:projectId/test-cases/import')!;
    for (const body of [
      `title\n${'"'.repeat(10_001)}\n`,
      `${Array.from({ length: 5000 }, (_, index) => `c${index}`).join(',')}\n1\n`,
      `title,steps\n=HYPERLINK("http://evil.example"),"@SUM(1)"\n`,
      `title\n"unterminated\n`,
      '\ufeff\u0000title\n\ud800\n',
    ]) {
      const status = await send(route, { path: `${base()}/test-cases/import`, query: [], headers: { 'content-type': 'text/csv' }, body });
      expect(status).toBeLessThan(500);
    }
  });
});
