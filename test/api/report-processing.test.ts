import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../../server/outbox/job-queue';
import { createProject } from '../../server/projects/project-service';
import { startTestApp, type TestApp } from '../support/test-server';

let app: TestApp;
let publicKey: string;
let projectId: string;

beforeAll(async () => {
  app = await startTestApp({ RATE_LIMIT_PER_IP_PER_MINUTE: '100000' });
  const project = await createProject(app.database.db, { name: 'Processing', keyPrefix: 'PROC' });
  publicKey = project.publicKey;
  projectId = project.id;
  await app.database.db
    .insertInto('componentRules')
    .values([
      { projectId, position: 1, pattern: '/checkout/**', patternKind: 'glob', component: 'Checkout' },
      { projectId, position: 2, pattern: '/orders/**', patternKind: 'glob', component: 'Orders' },
    ])
    .execute();
});
afterAll(() => app.close());

async function send(report: Record<string, unknown>): Promise<string> {
  const response = await app.request('/api/v1/reports', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-bugloop-key': publicKey },
    body: JSON.stringify({ id: randomUUID(), ...report }),
  });
  expect(response.status).toBe(202);
  return (await response.json()).id;
}

describe('report processing', () => {
  it('enriches a report, creates its release and puts it on a defect', async () => {
    const reportId = await send({
      description: 'Paying fails with an error. I clicked pay twice',
      url: 'https://shop.example.com/checkout/payment/4411',
      release: '1.4.0',
      environment: 'production',
      user: { id: 'user-7', email: 'kim@example.com' },
      browser: { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36' },
      console: [{ level: 'error', message: 'Payment 4411 failed', time: 10, source: 'uncaught', stack: 'Error\n    at pay (https://shop.example.com/app.js:1:1)' }],
      network: [{ method: 'POST', url: 'https://shop.example.com/api/payments/4411', status: 502, durationMs: 900, time: 11 }],
      breadcrumbs: [{ kind: 'click', time: 9, selector: 'button.pay', text: 'Pay' }],
    });
    expect(await app.jobs.drain()).toBe(1);
    const report = await app.database.db.selectFrom('reports').selectAll().where('id', '=', reportId).executeTakeFirstOrThrow();
    expect(report).toMatchObject({ state: 'processed', route: '/checkout/payment/:id', component: 'Checkout', environment: 'production', reporterId: 'user-7' });
    expect(report.errorSignature).toMatch(/^[0-9a-f]{20}$/);
    expect(report.requestSignature).toMatch(/^[0-9a-f]{20}$/);
    expect(report.enrichment).toMatchObject({
      title: 'Paying fails with an error',
      steps: '1. Open /checkout/payment/4411\n2. Click “Pay” (button.pay)',
      device: { browser: { name: 'Chrome' }, os: { name: 'Linux' }, device: { type: 'desktop' } },
      failedRequest: 'POST shop.example.com/api/payments/:id → 502',
    });
    const release = await app.database.db.selectFrom('releases').selectAll().where('id', '=', report.releaseId!).executeTakeFirstOrThrow();
    expect(release).toMatchObject({ version: '1.4.0', semverMajor: 1, semverMinor: 4, semverPatch: 0, projectId });
    const defect = await app.database.db.selectFrom('defects').selectAll().where('id', '=', report.defectId!).executeTakeFirstOrThrow();
    expect(defect).toMatchObject({ projectId, origin: 'field', component: 'Checkout', foundInReleaseId: release.id, reportCount: 1, affectedUsers: 1 });
    expect(defect.key).toMatch(/^PROC-\d+$/);
  });

  it('reuses the release row for a version seen before', async () => {
    await send({ description: 'one', release: '2.0.0' });
    await send({ description: 'two', release: '2.0.0' });
    await app.jobs.drain();
    const releases = await app.database.db.selectFrom('releases').select('id').where('projectId', '=', projectId).where('version', '=', '2.0.0').execute();
    expect(releases).toHaveLength(1);
  });

  it('processes a report once even when its job runs twice', async () => {
    const reportId = await send({ description: 'Double processing guard' });
    await app.jobs.drain();
    await enqueueJob(app.database.db, { kind: 'report.process', payload: { reportId }, projectId });
    await app.jobs.drain();
    const events = await app.database.db
      .selectFrom('defectEvents')
      .select('id')
      .where('kind', '=', 'report_added')
      .where(sql<boolean>`new_value ->> 'reportId' = ${reportId}`)
      .execute();
    expect(events).toHaveLength(1);
  });

  it('falls back to the Unassigned component when no rule matches', async () => {
    const reportId = await send({ description: 'Profile picture upload fails', url: 'https://shop.example.com/profile/photo' });
    await app.jobs.drain();
    const report = await app.database.db.selectFrom('reports').select(['component', 'route']).where('id', '=', reportId).executeTakeFirstOrThrow();
    expect(report).toEqual({ component: 'Unassigned', route: '/profile/photo' });
  });
});
