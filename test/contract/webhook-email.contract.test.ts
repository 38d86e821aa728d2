import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { updateDefect } from '../../server/defects/defect-service';
import { enqueueDelivery } from '../../server/integrations/delivery-queue';
import { onDefectStatusChanged } from '../../server/routing/route-defect';
import { createTestDatabase } from '../support/test-database';
import { addDestination, addReport, integrationWorker, seedDefect } from '../support/integrations';
import { createFakeWebhookReceiver } from './fakes/fake-webhook-receiver';
import { jsonOf } from './fakes/fake-server';
import { startSmtpSink } from './fakes/smtp-sink';

let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

describe('outgoing webhook', () => {
  it('posts the defect as JSON signed with HMAC-SHA256 over timestamp and raw body', async () => {
    const receiver = createFakeWebhookReceiver();
    await receiver.server.start();
    try {
      const { projectId, defectId, defectKey } = await seedDefect(database.db);
      const secret = 'whsec_0123456789abcdef';
      const destination = await addDestination(database.db, projectId, { kind: 'webhook', name: 'ops', config: { url: `${receiver.server.url}/hooks/bugloop` }, secrets: { signingSecret: secret } });
      await database.db.transaction().execute((trx) => enqueueDelivery(trx, destination, defectId, 'defect_created', ''));
      await integrationWorker(database.db).drain();
      const [request] = receiver.server.calls('POST', /^\/hooks\/bugloop$/);
      const timestamp = request.headers['x-bugloop-timestamp'] as string;
      const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${request.body.toString('utf8')}`).digest('hex')}`;
      expect(request.headers['x-bugloop-signature']).toBe(expected);
      expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
      expect(request.headers['content-type']).toBe('application/json');
      expect(jsonOf(request)).toMatchObject({ event: 'defect.defect_created', defect: { id: defectId, key: defectKey, severity: 'critical', reportCount: 1 } });
      expect(request.headers['x-bugloop-delivery']).toMatch(/^bugloop-/);
    } finally {
      await receiver.server.close();
    }
  });

  it('keeps the delivery id the same across retries so receivers can drop repeats', async () => {
    const receiver = createFakeWebhookReceiver();
    await receiver.server.start();
    try {
      const { projectId, defectId } = await seedDefect(database.db);
      receiver.server.inject('POST', /^\/hook$/, { kind: 'status', status: 502 });
      const destination = await addDestination(database.db, projectId, { kind: 'webhook', name: 'ops', config: { url: `${receiver.server.url}/hook` }, secrets: { signingSecret: 'whsec_0123456789abcdef' } });
      await database.db.transaction().execute((trx) => enqueueDelivery(trx, destination, defectId, 'defect_created', ''));
      await integrationWorker(database.db).drain();
      const deliveries = receiver.server.calls('POST', /^\/hook$/).map((request) => request.headers['x-bugloop-delivery']);
      expect(deliveries).toHaveLength(2);
      expect(new Set(deliveries).size).toBe(1);
    } finally {
      await receiver.server.close();
    }
  });

  it('sends the same Idempotency-Key again after a timeout that came after the receiver took it: processed once', async () => {
    const receiver = createFakeWebhookReceiver();
    await receiver.server.start();
    try {
      const { projectId, defectId } = await seedDefect(database.db);
      receiver.server.inject('POST', /^\/hook$/, { kind: 'slow-after-success', delayMs: 1500 });
      const destination = await addDestination(database.db, projectId, { kind: 'webhook', name: 'ops', config: { url: `${receiver.server.url}/hook` }, secrets: { signingSecret: 'whsec_0123456789abcdef' }, timeoutMs: 500 });
      await database.db.transaction().execute((trx) => enqueueDelivery(trx, destination, defectId, 'defect_created', ''));
      await integrationWorker(database.db).drain();
      const arrivals = receiver.server.calls('POST', /^\/hook$/);
      expect(arrivals).toHaveLength(2);
      expect(new Set(arrivals.map((request) => request.headers['idempotency-key'])).size).toBe(1);
      expect(arrivals[0].headers['idempotency-key']).toBe(arrivals[0].headers['x-bugloop-delivery']);
      expect(arrivals.map((request) => (jsonOf(request) as { deliveryId: string }).deliveryId)).toEqual([arrivals[0].headers['idempotency-key'], arrivals[0].headers['idempotency-key']]);
      expect(receiver.processed).toHaveLength(1);
    } finally {
      await receiver.server.close();
    }
  });
});

describe('email to reporters through nodemailer', () => {
  it('tells each reporter who left an email, once, that their defect is fixed and in which release', async () => {
    const sink = await startSmtpSink({ username: 'mailer', password: 'smtp-pass' });
    try {
      const { projectId, defectId } = await seedDefect(database.db);
      await addReport(database.db, projectId, defectId, { description: 'same problem here', email: 'Reporter@Example.com' });
      await addReport(database.db, projectId, defectId, { description: 'and here', email: 'second@example.com' });
      await addReport(database.db, projectId, defectId, { description: 'anonymous' });
      await addDestination(database.db, projectId, {
        kind: 'email',
        name: 'Reporter mail',
        config: { host: '127.0.0.1', port: sink.port, secure: false, ignoreTls: true, from: 'Bugloop <bugs@shop.example.com>' },
        secrets: { username: 'mailer', password: 'smtp-pass' },
      });
      await database.db.insertInto('releases').values({ projectId, version: '1.4.2' }).execute();
      const release = await database.db.selectFrom('releases').select('id').where('projectId', '=', projectId).where('version', '=', '1.4.2').executeTakeFirstOrThrow();
      await database.db.transaction().execute(async (trx) => {
        const updated = await updateDefect(trx, defectId, { status: 'resolved', fixedInReleaseId: release.id }, { kind: 'user' });
        await onDefectStatusChanged(trx, defectId, 'new', updated.status);
      });
      await integrationWorker(database.db).drain();
      expect(sink.received.map((mail) => mail.to[0]).sort()).toEqual(['reporter@example.com', 'second@example.com']);
      const mail = sink.received.find((candidate) => candidate.to[0] === 'second@example.com')!;
      expect(mail.from).toBe('bugs@shop.example.com');
      expect(mail.raw).toMatch(/Subject: Your report R-[0-9A-F]{8} is fixed in release 1\.4\.2/);
      expect(mail.raw).not.toContain('feedback button'); // that report came from no known page
      const first = sink.received.find((candidate) => candidate.to[0] === 'reporter@example.com')!;
      expect(first.raw.replace(/=\r?\n/g, '')).toContain('The feedback button on https://shop.example.com shows the status of your reports.');
    } finally {
      await sink.close();
    }
  });
});
