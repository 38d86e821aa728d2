import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject } from '../../server/projects/project-service';
import { signedInHeaders } from '../support/auth';
import { processReport } from '../support/dedup-reports';
import { startTestApp, type TestApp } from '../support/test-server';

let app: TestApp;
let projectId: string;
let otherProjectId: string;
let triager: Record<string, string>;
let viewer: Record<string, string>;

beforeAll(async () => {
  app = await startTestApp();
  projectId = (await createProject(app.database.db, { name: 'Routes', keyPrefix: 'RTE' })).id;
  otherProjectId = (await createProject(app.database.db, { name: 'Elsewhere', keyPrefix: 'ELS' })).id;
  triager = (await signedInHeaders(app.database.db, { projectId, role: 'triager' })).headers;
  viewer = (await signedInHeaders(app.database.db, { projectId, role: 'viewer' })).headers;
});
afterAll(() => app.close());

async function ownDefect(title: string, description: string, project = projectId) {
  const { report, assignment } = await processReport(app.database.db, project, { title, description }, { autoMerge: false });
  return { reportId: report.id, defectId: assignment.defectId };
}

const post = (path: string, headers: Record<string, string>, body: unknown) =>
  app.request(path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('GET …/defects/:defectId/candidates', () => {
  it('lists possible duplicates with key, title, status, report count, score and signals', async () => {
    const a = await ownDefect('Basket empties after login', 'Items vanish from the basket when I log in');
    const b = await ownDefect('Basket items vanish on login', 'Logged in and my basket was empty');
    const response = await app.request(`/api/v1/projects/${projectId}/defects/${b.defectId}/candidates`, { headers: viewer });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { candidates: Record<string, unknown>[] };
    expect(body.candidates[0]).toMatchObject({ defectId: a.defectId, key: expect.stringMatching(/^RTE-\d+$/), title: 'Basket empties after login', status: 'new', reportCount: 1 });
    expect(body.candidates[0].score).toEqual(expect.any(Number));
    expect(body.candidates[0].signals).toMatchObject({ text: expect.any(Number), recency: expect.any(Number) });
  });

  it('answers 404 for a defect of another project and 400 for a malformed id', async () => {
    const foreign = await ownDefect('Other project bug', 'elsewhere', otherProjectId);
    const crossProject = await app.request(`/api/v1/projects/${projectId}/defects/${foreign.defectId}/candidates`, { headers: viewer });
    expect(crossProject.status).toBe(404);
    expect(((await crossProject.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const malformed = await app.request(`/api/v1/projects/${projectId}/defects/not-a-uuid/candidates`, { headers: viewer });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
  });

  it('answers 401 without a session', async () => {
    const response = await app.request(`/api/v1/projects/${projectId}/defects/${crypto.randomUUID()}/candidates`);
    expect(response.status).toBe(401);
  });
});

describe('POST …/defects/:defectId/merge', () => {
  it('merges into the target and answers with the target defect', async () => {
    const source = await ownDefect('Search box loses focus', 'Typing in search jumps out of the box');
    const target = await ownDefect('Search input loses focus while typing', 'The cursor leaves the search box');
    const response = await post(`/api/v1/projects/${projectId}/defects/${source.defectId}/merge`, triager, { targetDefectId: target.defectId });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { defect: { id: string; reportCount: number } };
    expect(body.defect).toMatchObject({ id: target.defectId, reportCount: 2 });
    const stored = await app.database.db.selectFrom('defects').select('mergedIntoId').where('id', '=', source.defectId).executeTakeFirstOrThrow();
    expect(stored.mergedIntoId).toBe(target.defectId);
  });

  it('forbids viewers (403) and refuses merging into itself (400) or into a merged defect (409)', async () => {
    const a = await ownDefect('Footer overlaps content', 'Footer covers the last row');
    const b = await ownDefect('Footer covers text', 'Last row hidden by footer');
    const c = await ownDefect('Footer too tall', 'Footer hides things');
    const mergeA = (headers: Record<string, string>, targetDefectId: string) => post(`/api/v1/projects/${projectId}/defects/${a.defectId}/merge`, headers, { targetDefectId });
    expect((await mergeA(viewer, b.defectId)).status).toBe(403);
    const self = await mergeA(triager, a.defectId);
    expect(self.status).toBe(400);
    expect(((await self.json()) as { error: { code: string; field: string } }).error).toMatchObject({ code: 'invalid_request', field: 'targetDefectId' });
    expect((await mergeA(triager, b.defectId)).status).toBe(200);
    const intoMerged = await post(`/api/v1/projects/${projectId}/defects/${c.defectId}/merge`, triager, { targetDefectId: a.defectId });
    expect(intoMerged.status).toBe(409);
    expect(((await intoMerged.json()) as { error: { code: string } }).error.code).toBe('conflict');
  });

  it('answers 400 for a missing target, 404 for a target in another project, 400 for bad JSON', async () => {
    const a = await ownDefect('Logo blurry', 'The logo is blurry on retina');
    const foreign = await ownDefect('Foreign', 'other', otherProjectId);
    const path = `/api/v1/projects/${projectId}/defects/${a.defectId}/merge`;
    expect((await post(path, triager, {})).status).toBe(400);
    expect((await post(path, triager, { targetDefectId: foreign.defectId })).status).toBe(404);
    const broken = await app.request(path, { method: 'POST', headers: { ...triager, 'content-type': 'application/json' }, body: '{"targetDefectId":' });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
  });

  it('refuses a session mutation without the CSRF token (403)', async () => {
    const a = await ownDefect('Tooltip flickers', 'flicker');
    const b = await ownDefect('Tooltip flicker on hover', 'flickers');
    const { cookie } = triager;
    const response = await post(`/api/v1/projects/${projectId}/defects/${a.defectId}/merge`, { cookie }, { targetDefectId: b.defectId });
    expect(response.status).toBe(403);
  });
});

describe('POST …/reports/:reportId/split', () => {
  it('moves the report to a new defect when no target is given', async () => {
    const a = await ownDefect('Language switch resets cart', 'Switching to German empties the cart');
    const b = await ownDefect('Cart empty after language change', 'Changed language, cart gone');
    await post(`/api/v1/projects/${projectId}/defects/${b.defectId}/merge`, triager, { targetDefectId: a.defectId });
    const response = await post(`/api/v1/projects/${projectId}/reports/${b.reportId}/split`, triager, {});
    expect(response.status).toBe(200);
    const { defect } = (await response.json()) as { defect: { id: string; reportCount: number } };
    expect(defect.id).not.toBe(a.defectId);
    expect(defect.reportCount).toBe(1);
  });

  it('moves the report onto the given defect, and answers 404 for a report of another project', async () => {
    const a = await ownDefect('Newsletter signup fails', 'Signup says error');
    const b = await ownDefect('Cannot subscribe to newsletter', 'Subscribe button errors');
    const response = await post(`/api/v1/projects/${projectId}/reports/${a.reportId}/split`, triager, { targetDefectId: b.defectId });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { defect: { id: string; reportCount: number } }).defect).toMatchObject({ id: b.defectId, reportCount: 2 });
    const foreign = await ownDefect('Foreign report', 'x', otherProjectId);
    expect((await post(`/api/v1/projects/${projectId}/reports/${foreign.reportId}/split`, triager, {})).status).toBe(404);
  });
});

describe('POST …/defects/:defectId/not-duplicate', () => {
  it('answers 204 and the pair disappears from the candidates', async () => {
    const a = await ownDefect('Video does not play', 'The product video stays black');
    const b = await ownDefect('Product video black', 'Video does not play at all');
    const response = await post(`/api/v1/projects/${projectId}/defects/${a.defectId}/not-duplicate`, triager, { otherDefectId: b.defectId });
    expect(response.status).toBe(204);
    const candidates = await app.request(`/api/v1/projects/${projectId}/defects/${b.defectId}/candidates`, { headers: viewer });
    const body = (await candidates.json()) as { candidates: { defectId: string }[] };
    expect(body.candidates.map((candidate) => candidate.defectId)).not.toContain(a.defectId);
  });

  it('answers 400 when a defect is marked against itself', async () => {
    const a = await ownDefect('Price shows NaN', 'NaN price');
    const response = await post(`/api/v1/projects/${projectId}/defects/${a.defectId}/not-duplicate`, triager, { otherDefectId: a.defectId });
    expect(response.status).toBe(400);
  });
});
