import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject } from '../../server/projects/project-service';
import { startTestApp, type TestApp } from '../support/test-server';

let app: TestApp;
const origin = 'https://shop.example.com';
let publicKey: string;

beforeAll(async () => {
  app = await startTestApp({ PUBLIC_URL: 'https://bugloop.test' });
  publicKey = (await createProject(app.database.db, { name: 'Shop', allowedOrigins: [origin] })).publicKey;
});
afterAll(() => app.close());

describe('a reporter follows their report from the widget to the fix', () => {
  it('sees "received", then "fixed in" once the defect is resolved with a release', async () => {
    const reporterToken = `rt_${randomUUID().replace(/-/g, '')}`;
    const sent = await app.request('/api/v1/reports', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-bugloop-key': publicKey, origin },
      body: JSON.stringify({ id: randomUUID(), description: 'The cart forgets my items', reporterToken, release: '3.1.0' }),
    });
    expect(sent.status).toBe(202);
    const ask = () => app.request('/api/v1/reporter/reports', { headers: { 'x-bugloop-key': publicKey, 'x-bugloop-reporter-token': reporterToken, origin } });
    expect((await (await ask()).json()).reports).toEqual([expect.objectContaining({ status: 'received', title: 'The cart forgets my items' })]);

    await app.jobs.drain(); // report processing puts it on a defect
    const report = await app.database.db.selectFrom('reports').select(['defectId', 'projectId']).where('description', '=', 'The cart forgets my items').executeTakeFirstOrThrow();
    expect(report.defectId).not.toBeNull();
    expect((await (await ask()).json()).reports[0].status).toBe('open');

    const release = await app.database.db.insertInto('releases').values({ projectId: report.projectId, version: '3.1.1' }).returning('id').executeTakeFirstOrThrow();
    await app.database.db.updateTable('defects').set({ status: 'resolved', fixedInReleaseId: release.id }).where('id', '=', report.defectId!).execute();
    const answer = await ask();
    expect(answer.headers.get('access-control-allow-origin')).toBe(origin);
    expect((await answer.json()).reports[0]).toMatchObject({ status: 'fixed', fixedIn: '3.1.1' });
  });

  it('answers the preflight of an origin some project allows even without ?key', async () => {
    const response = await app.request('/api/v1/reporter/reports', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(origin);
  });
});
