import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../server/auth/api-token-service';
import type { ProjectRole } from '../../server/db/schema';
import { createProject } from '../../server/projects/project-service';
import { signedInHeaders } from '../support/auth';
import { makePng } from '../support/images';
import { startTestApp, type TestApp } from '../support/test-server';
import { richEnrichment, richPayload, seedDefect } from './defect-fixtures';

let app: TestApp;
let projectId: string;
const as: Record<ProjectRole | 'outsider', Record<string, string>> = {} as never;
const userIds: Record<string, string> = {};
const day = 24 * 60 * 60 * 1000;
let checkout: Awaited<ReturnType<typeof seedDefect>>;
let search: Awaited<ReturnType<typeof seedDefect>>;
let old: Awaited<ReturnType<typeof seedDefect>>;
let closed: Awaited<ReturnType<typeof seedDefect>>;
let screenshot: Buffer;

beforeAll(async () => {
  app = await startTestApp();
  const { db } = app.database;
  projectId = (await createProject(db, { name: 'Web shop', keyPrefix: 'WEB' })).id;
  const otherProjectId = (await createProject(db, { name: 'Other', keyPrefix: 'OTH' })).id;
  for (const role of ['admin', 'triager', 'viewer'] as const) {
    const signed = await signedInHeaders(db, { projectId, role });
    as[role] = signed.headers;
    userIds[role] = signed.userId;
  }
  as.outsider = (await signedInHeaders(db, { projectId: otherProjectId, role: 'admin' })).headers;
  screenshot = makePng(64, 40);
  const now = Date.now();
  checkout = await seedDefect(db, projectId, {
    title: 'Pay button does nothing',
    component: 'Checkout',
    severity: 'blocker',
    release: '2.4.1',
    reports: [
      { description: 'I click pay and nothing happens', expected: 'Order placed', reporterEmail: 'a@example.com', receivedAt: new Date(now - 60_000), payload: richPayload(), enrichment: richEnrichment('Chrome', 'Linux'), screenshot },
      { description: 'Payment stuck', reporterEmail: 'b@example.com', receivedAt: new Date(now - 30_000), enrichment: richEnrichment('Firefox', 'Windows') },
      { description: 'Same here', reporterEmail: 'c@example.com', receivedAt: new Date(now - 10_000), enrichment: richEnrichment('Chrome', 'macOS') },
    ],
  });
  search = await seedDefect(db, projectId, { title: 'Avatar upload shows wrong colours', component: 'Profile', severity: 'minor', origin: 'qa', reports: [{ description: 'The avatar preview is purple', receivedAt: new Date(now - 120_000) }] });
  // Many reports, but long ago: recency weighting must put it below the fresh checkout bug.
  old = await seedDefect(db, projectId, {
    title: 'Footer link broken',
    component: 'Marketing',
    reports: Array.from({ length: 6 }, (_, index) => ({ description: `footer ${index}`, reporterEmail: `u${index}@example.com`, receivedAt: new Date(now - 60 * day) })),
  });
  closed = await seedDefect(db, projectId, { title: 'Old crash fixed long ago', status: 'closed', reports: [{ description: 'crash' }] });
  await seedDefect(db, otherProjectId, { title: 'Pay button in another project', reports: [{ description: 'elsewhere' }] });
});
afterAll(() => app.close());

function call(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  return app.request(`/api/v1/projects/${projectId}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
const keys = (body: { defects: { key: string }[] }) => body.defects.map((defect) => defect.key);
const inbox = async (query = '', headers = as.viewer) => {
  const response = await call('GET', `/defects${query}`, headers);
  expect(response.status).toBe(200);
  return response.json();
};

describe('GET /defects (inbox)', () => {
  it('sorts open defects by recency-weighted impact and hides closed ones', async () => {
    const body = await inbox();
    expect(keys(body)).toEqual([checkout.defect.key, search.defect.key, old.defect.key]);
    expect(body.total).toBe(3);
  });

  it('shows key, counts, release, component and the coverage-gap flag on each row', async () => {
    const row = (await inbox()).defects[0];
    expect(row).toMatchObject({ key: checkout.defect.key, reportCount: 3, affectedUsers: 3, release: '2.4.1', component: 'Checkout', severity: 'blocker', coverageGap: true, ticket: null });
  });

  it('sorts by report count when asked', async () => {
    expect(keys(await inbox('?sort=reports'))[0]).toBe(old.defect.key);
  });

  it('filters by status, severity, component, origin and release', async () => {
    expect(keys(await inbox('?status=closed'))).toEqual([closed.defect.key]);
    expect(keys(await inbox('?status=all')).length).toBe(4);
    expect(keys(await inbox('?severity=minor,blocker'))).toEqual([checkout.defect.key, search.defect.key]);
    expect(keys(await inbox('?severity=none'))).toEqual([old.defect.key]);
    expect(keys(await inbox('?component=Profile'))).toEqual([search.defect.key]);
    expect(keys(await inbox('?origin=qa'))).toEqual([search.defect.key]);
    expect(keys(await inbox(`?release=${checkout.defect.foundInReleaseId}`))).toEqual([checkout.defect.key]);
  });

  it('filters by coverage gap: field defects with no linked test', async () => {
    const testCase = await app.database.db.insertInto('testCases').values({ projectId, key: 'TC-1', title: 'Footer links', kind: 'manual' }).returning('id').executeTakeFirstOrThrow();
    await app.database.db.insertInto('defectTestLinks').values({ defectId: old.defect.id, testCaseId: testCase.id, kind: 'covers' }).execute();
    expect(keys(await inbox('?coverageGap=true'))).toEqual([checkout.defect.key]);
    expect(keys(await inbox('?coverageGap=false'))).toEqual([search.defect.key, old.defect.key]);
  });

  it('filters by having an external ticket and shows the ticket on the row', async () => {
    const destination = await app.database.db.insertInto('destinations').values({ projectId, kind: 'jira', name: 'Jira' }).returning('id').executeTakeFirstOrThrow();
    await app.database.db
      .insertInto('externalTickets')
      .values({ defectId: search.defect.id, destinationId: destination.id, destinationKind: 'jira', externalKey: 'SHOP-7', url: 'https://jira.example.com/SHOP-7', state: 'To Do' })
      .execute();
    const body = await inbox('?hasTicket=true');
    expect(keys(body)).toEqual([search.defect.key]);
    expect(body.defects[0].ticket).toEqual({ kind: 'jira', key: 'SHOP-7', url: 'https://jira.example.com/SHOP-7', state: 'To Do' });
    expect(keys(await inbox('?hasTicket=false'))).not.toContain(search.defect.key);
  });

  it('searches title and description with full-text search, and finds a key exactly', async () => {
    expect(keys(await inbox('?q=avatar%20colours'))).toEqual([search.defect.key]);
    expect(keys(await inbox(`?q=${checkout.defect.key.toLowerCase()}`))).toEqual([checkout.defect.key]);
    expect(keys(await inbox('?q=nonexistentword'))).toEqual([]);
  });

  it('pages with limit and offset', async () => {
    const first = await inbox('?limit=2');
    const second = await inbox('?limit=2&offset=2');
    expect(first.hasMore).toBe(true);
    expect(second.hasMore).toBe(false);
    expect([...keys(first), ...keys(second)]).toEqual(keys(await inbox()));
  });

  it('rejects an unknown status with 400 naming the parameter', async () => {
    const response = await call('GET', '/defects?status=sleeping', as.viewer);
    expect(response.status).toBe(400);
    expect((await response.json()).error.field).toBe('status');
  });

  it('is hidden from people outside the project (404) and from anonymous callers (401)', async () => {
    expect((await call('GET', '/defects', as.outsider)).status).toBe(404);
    expect((await call('GET', '/defects', {})).status).toBe(401);
  });

  it('answers a token only with the defects:read scope', async () => {
    const reader = await createApiToken(app.database.db, { projectId, name: 'reader', scopes: ['defects:read'] });
    const writer = await createApiToken(app.database.db, { projectId, name: 'ingest', scopes: ['reports:write'] });
    expect((await call('GET', '/defects', { authorization: `Bearer ${reader.token}` })).status).toBe(200);
    const refused = await call('GET', '/defects', { authorization: `Bearer ${writer.token}` });
    expect(refused.status).toBe(403);
    expect((await refused.json()).error.code).toBe('insufficient_scope');
  });
});

describe('GET /defects/:defectId', () => {
  it('returns the triage fields, browser/OS breakdown, tests and tickets, by id or by key', async () => {
    const byKey = await (await call('GET', `/defects/${checkout.defect.key}`, as.viewer)).json();
    const byId = await (await call('GET', `/defects/${checkout.defect.id}`, as.viewer)).json();
    expect(byKey).toEqual(byId);
    expect(byKey.defect).toMatchObject({ key: checkout.defect.key, foundInRelease: '2.4.1', reportCount: 3, coverageGap: true });
    expect(byKey.breakdown.browser).toEqual([{ name: 'Chrome', count: 2 }, { name: 'Firefox', count: 1 }]);
    expect(byKey.breakdown.os.map((entry: { name: string }) => entry.name).sort()).toEqual(['Linux', 'Windows', 'macOS'].sort());
    expect(byKey.tests).toEqual([]);
    expect(byKey.tickets).toEqual([]);
  });

  it('answers 404 for a defect of another project', async () => {
    const other = await app.database.db.selectFrom('defects').select('id').where('title', '=', 'Pay button in another project').executeTakeFirstOrThrow();
    expect((await call('GET', `/defects/${other.id}`, as.admin)).status).toBe(404);
  });
});

describe('GET /defects/:defectId/reports', () => {
  it('returns reports newest first with payload, enrichment and attachments', async () => {
    const body = await (await call('GET', `/defects/${checkout.defect.id}/reports`, as.viewer)).json();
    expect(body.reports.map((report: { description: string }) => report.description)).toEqual(['Same here', 'Payment stuck', 'I click pay and nothing happens']);
    const first = body.reports[2];
    expect(first.expected).toBe('Order placed');
    expect(first.payload.console[0].stack).toContain('checkout.js');
    expect(first.enrichment.device.browser.name).toBe('Chrome');
    expect(first.attachments).toEqual([expect.objectContaining({ contentType: 'image/png', width: 64, height: 40, byteSize: screenshot.length })]);
  });

  it('returns the reporter\u2019s own keys as sent (snake_case metadata keys are not camel-cased)', async () => {
    const seeded = await seedDefect(app.database.db, projectId, {
      title: 'Keys as sent',
      reports: [{ description: 'Metadata keys', payload: { metadata: { order_id: 'A-17', __private_flag: true, 'plan-tier': 'pro' }, user: { id: 'user_42' } } }],
    });
    const body = await (await call('GET', `/defects/${seeded.defect.id}/reports`, as.viewer)).json();
    expect(body.reports[0].payload.metadata).toEqual({ order_id: 'A-17', __private_flag: true, 'plan-tier': 'pro' });
    expect(body.reports[0].payload.user).toEqual({ id: 'user_42' });
  });
});

describe('GET /attachments/:attachmentId', () => {
  async function attachmentId() {
    const body = await (await call('GET', `/defects/${checkout.defect.id}/reports`, as.viewer)).json();
    return body.reports[2].attachments[0].id as string;
  }

  it('serves the screenshot with its type, nosniff and an inline disposition', async () => {
    const response = await call('GET', `/attachments/${await attachmentId()}`, as.viewer);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-disposition')).toMatch(/^inline; filename="screenshot-[0-9a-f]{8}\.png"$/);
    expect(Buffer.from(await response.arrayBuffer()).equals(screenshot)).toBe(true);
  });

  it('answers 304 to a repeated request carrying the ETag', async () => {
    const id = await attachmentId();
    const first = await call('GET', `/attachments/${id}`, as.viewer);
    // node:http, not fetch: fetch turns a conditional request into Cache-Control: no-cache.
    const status = await new Promise<number>((resolve, reject) => {
      http
        .get(`${app.url}/api/v1/projects/${projectId}/attachments/${id}`, { headers: { ...as.viewer, 'if-none-match': first.headers.get('etag')! } }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect({ etag: first.headers.get('etag'), status }).toEqual({ etag: expect.stringMatching(/^"[0-9a-f]{64}"$/), status: 304 });
  });

  it('offers a download with ?download=1', async () => {
    const response = await call('GET', `/attachments/${await attachmentId()}?download=1`, as.viewer);
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; /);
  });

  it('is refused to anonymous callers and outsiders', async () => {
    const id = await attachmentId();
    expect((await call('GET', `/attachments/${id}`, {})).status).toBe(401);
    expect((await call('GET', `/attachments/${id}`, as.outsider)).status).toBe(404);
  });
});

describe('PATCH /defects/:defectId', () => {
  it('lets a triager set triage fields, each written to the history', async () => {
    const response = await call('PATCH', `/defects/${search.defect.id}`, as.triager, { status: 'in_progress', priority: 'high', assigneeId: userIds.triager });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.defect).toMatchObject({ status: 'in_progress', priority: 'high', assigneeId: userIds.triager });
    const events = await (await call('GET', `/defects/${search.defect.id}/events`, as.viewer)).json();
    const changes = events.events.filter((event: { actorEmail: string | null }) => event.actorEmail).map((event: { field: string; newValue: unknown }) => [event.field, event.newValue]);
    expect(changes).toEqual([
      ['status', 'in_progress'],
      ['priority', 'high'],
      ['assigneeId', userIds.triager],
    ]);
  });

  it('then lists that defect under assignee=me for the triager, and not under unassigned', async () => {
    expect(keys(await inbox('?assignee=me', as.triager))).toEqual([search.defect.key]);
    expect(keys(await inbox('?assignee=me', as.viewer))).toEqual([]);
    expect(keys(await inbox('?assignee=none'))).not.toContain(search.defect.key);
  });

  it('refuses an assignee who is not a project member with 400', async () => {
    const { userId } = await signedInHeaders(app.database.db, {});
    const response = await call('PATCH', `/defects/${search.defect.id}`, as.triager, { assigneeId: userId });
    expect(response.status).toBe(400);
    expect((await response.json()).error.field).toBe('assigneeId');
  });

  it('refuses unknown fields and statuses with 400', async () => {
    expect((await call('PATCH', `/defects/${search.defect.id}`, as.triager, { reportCount: 0 })).status).toBe(400);
    expect((await call('PATCH', `/defects/${search.defect.id}`, as.triager, { status: 'sleeping' })).status).toBe(400);
  });

  it('lets a token with defects:write change a defect, recorded as an api actor', async () => {
    const { token } = await createApiToken(app.database.db, { projectId, name: 'script', scopes: ['defects:write'] });
    const response = await call('PATCH', `/defects/${old.defect.id}`, { authorization: `Bearer ${token}` }, { severity: 'trivial' });
    expect(response.status).toBe(200);
    const event = await app.database.db.selectFrom('defectEvents').select('actorKind').where('defectId', '=', old.defect.id).where('field', '=', 'severity').executeTakeFirstOrThrow();
    expect(event.actorKind).toBe('api');
  });
});

describe('POST /defects/bulk', () => {
  it('sets status and severity on several defects in one request, with history', async () => {
    const created = await Promise.all([1, 2].map((index) => seedDefect(app.database.db, projectId, { title: `Bulk ${index}`, reports: [{ description: 'x' }] })));
    const ids = created.map((entry) => entry.defect.id);
    const response = await call('POST', '/defects/bulk', as.triager, { defectIds: ids, changes: { status: 'wont_fix', severity: 'trivial' } });
    expect(response.status).toBe(200);
    const rows = await app.database.db.selectFrom('defects').select(['status', 'severity', 'resolvedAt']).where('id', 'in', ids).execute();
    expect(rows.every((row) => row.status === 'wont_fix' && row.severity === 'trivial' && row.resolvedAt)).toBe(true);
    const events = await app.database.db.selectFrom('defectEvents').select('id').where('defectId', 'in', ids).where('kind', '=', 'status_changed').execute();
    expect(events).toHaveLength(2);
  });

  it('changes nothing when one id belongs to another project', async () => {
    const other = await app.database.db.selectFrom('defects').select('id').where('title', '=', 'Pay button in another project').executeTakeFirstOrThrow();
    const response = await call('POST', '/defects/bulk', as.triager, { defectIds: [old.defect.id, other.id], changes: { status: 'triaged' } });
    expect(response.status).toBe(400);
    const row = await app.database.db.selectFrom('defects').select('status').where('id', '=', old.defect.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('new');
  });
});

describe('comments', () => {
  it('a triager comments; everyone sees it, and the timeline records it', async () => {
    const response = await call('POST', `/defects/${checkout.defect.id}/comments`, as.triager, { body: '<b>Repro</b> on staging' });
    expect(response.status).toBe(201);
    const listed = await (await call('GET', `/defects/${checkout.defect.id}/comments`, as.viewer)).json();
    expect(listed.comments).toEqual([expect.objectContaining({ body: '<b>Repro</b> on staging', authorId: userIds.triager })]);
    const events = await (await call('GET', `/defects/${checkout.defect.id}/events`, as.viewer)).json();
    expect(events.events.at(-1).kind).toBe('commented');
  });

  it('rejects an empty comment with 400', async () => {
    expect((await call('POST', `/defects/${checkout.defect.id}/comments`, as.triager, { body: '   ' })).status).toBe(400);
  });
});

describe('GET /activity', () => {
  it('moves its cursor when something happens in the project', async () => {
    const before = (await (await call('GET', '/activity', as.viewer)).json()).cursor;
    await seedDefect(app.database.db, projectId, { title: 'A brand new report', reports: [{ description: 'new' }] });
    const after = (await (await call('GET', '/activity', as.viewer)).json()).cursor;
    expect(before).toEqual(expect.any(String));
    expect(after).not.toBe(before);
  });
});

describe('GET /components', () => {
  it('lists the components in use', async () => {
    const body = await (await call('GET', '/components', as.viewer)).json();
    expect(body.components).toEqual(expect.arrayContaining(['Checkout', 'Marketing', 'Profile']));
  });
});

describe('a viewer', () => {
  it('gets 403 forbidden on every defect mutation', async () => {
    const attempts = [
      call('PATCH', `/defects/${checkout.defect.id}`, as.viewer, { status: 'triaged' }),
      call('POST', '/defects/bulk', as.viewer, { defectIds: [checkout.defect.id], changes: { status: 'triaged' } }),
      call('POST', `/defects/${checkout.defect.id}/comments`, as.viewer, { body: 'hi' }),
      call('POST', '/views', as.viewer, { name: 'v', query: {} }),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(403);
      expect((await response.json()).error.code).toBe('forbidden');
    }
    const row = await app.database.db.selectFrom('defects').select('status').where('id', '=', checkout.defect.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('new');
  });
});
