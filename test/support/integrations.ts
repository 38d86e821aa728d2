import { createHash, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, DefectSeverity } from '../../server/db/schema';
import { attachReportToDefect, createDefect } from '../../server/defects/defect-service';
import type { DeliveryContext } from '../../server/destinations/destination';
import { createDestination } from '../../server/destinations/destination-repository';
import { registerIntegrationJobHandlers } from '../../server/integrations/delivery-jobs';
import { SecretBox } from '../../server/integrations/secret-box';
import { createOutboundNetwork, type OutboundNetwork } from '../../server/integrations/outbound-network';
import { createLogger, type Logger } from '../../server/logger';
import { JobWorker } from '../../server/outbox/job-queue';
import { createProject } from '../../server/projects/project-service';

export const testSecretKey = 'test-secret-key-test-secret-key-0123456789';
export const testPublicUrl = 'https://bugloop.test';
export const secretBox = new SecretBox(testSecretKey);
/** The fake vendor servers listen on 127.0.0.1, so the tests allow private addresses explicitly. */
export const testNetwork = createOutboundNetwork({ allowPrivateAddresses: true });

/** A PNG-looking buffer with every byte value in it, so any re-encoding along the way shows. */
export function screenshotBytes(size = 4096): Buffer {
  const bytes = Buffer.alloc(size);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes);
  for (let index = 8; index < size; index += 1) bytes[index] = (index * 31) % 256;
  return bytes;
}

export interface SeedReport {
  description: string;
  steps?: string;
  expected?: string;
  email?: string;
  reporterToken?: string;
  url?: string;
  release?: string;
  userAgent?: string;
  console?: { level: string; message: string; stack?: string; time: number }[];
  network?: { method: string; url: string; status: number; durationMs: number; time: number }[];
  screenshot?: Buffer;
  receivedAt?: Date;
}

async function releaseId(db: Kysely<Database>, projectId: string, version: string): Promise<string> {
  await db.insertInto('releases').values({ projectId, version }).onConflict((conflict) => conflict.columns(['projectId', 'version']).doNothing()).execute();
  return (await db.selectFrom('releases').select('id').where('projectId', '=', projectId).where('version', '=', version).executeTakeFirstOrThrow()).id;
}

/** Stores a report the way ingest will (raw payload + columns + screenshot) and attaches it to a defect. */
export async function addReport(db: Kysely<Database>, projectId: string, defectId: string, report: SeedReport): Promise<string> {
  const release = report.release ? await releaseId(db, projectId, report.release) : null;
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('reports')
      .values({
        projectId,
        clientId: randomUUID(),
        description: report.description,
        steps: report.steps ?? null,
        expected: report.expected ?? null,
        reporterEmail: report.email ?? null,
        reporterTokenHash: report.reporterToken ? createHash('sha256').update(report.reporterToken).digest('hex') : null,
        url: report.url ?? null,
        releaseId: release,
        userAgent: report.userAgent ?? null,
        receivedAt: report.receivedAt ?? new Date(),
        payload: JSON.stringify({ id: randomUUID(), description: report.description, console: report.console ?? [], network: report.network ?? [] }),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (report.screenshot) {
      const sha256 = createHash('sha256').update(report.screenshot).digest('hex');
      await trx
        .insertInto('attachmentBlobs')
        .values({ sha256, contentType: 'image/png', byteSize: report.screenshot.length, data: report.screenshot })
        .onConflict((conflict) => conflict.column('sha256').doNothing())
        .execute();
      await trx.insertInto('reportAttachments').values({ reportId: row.id, sha256, kind: 'screenshot', filename: 'screenshot.png' }).execute();
    }
    await attachReportToDefect(trx, row.id, defectId);
    return row.id;
  });
}

/** A project plus one defect with one rich report (quotes, steps, console error, failed request, screenshot). */
export async function seedDefect(
  db: Kysely<Database>,
  options: { projectId?: string; title?: string; severity?: DefectSeverity; component?: string; report?: Partial<SeedReport> } = {},
) {
  const projectId = options.projectId ?? (await createProject(db, { name: `Shop ${randomUUID().slice(0, 6)}`, allowedOrigins: ['https://shop.example.com'] })).id;
  const defect = await db.transaction().execute((trx) =>
    createDefect(trx, {
      projectId,
      title: options.title ?? 'Checkout button does nothing',
      description: 'Clicking "Pay now" on the checkout page does nothing.\n\nSecond paragraph.',
      origin: 'field',
      severity: options.severity ?? 'critical',
      component: options.component ?? 'checkout',
    }),
  );
  const screenshot = screenshotBytes();
  await addReport(db, projectId, defect.id, {
    description: 'I click Pay now and nothing happens <!here> @channel <https://evil.example|bank login>',
    steps: '1. Add a book to the cart\n2. Open checkout\n3. Click "Pay now"',
    expected: 'The order is placed',
    email: 'reporter@example.com',
    url: 'https://shop.example.com/checkout?session=secret',
    release: '1.4.1',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
    console: [{ level: 'error', message: "TypeError: Cannot read properties of undefined (reading 'total')", stack: 'at pay (checkout.js:12:5)', time: 1 }],
    network: [{ method: 'POST', url: 'https://shop.example.com/api/orders?token=x', status: 500, durationMs: 84, time: 2 }],
    screenshot,
    ...options.report,
  });
  return { projectId, defectId: defect.id, defectKey: defect.key, screenshot };
}

/** Stores a destination through the real repository (secrets encrypted). */
export async function addDestination(db: Kysely<Database>, projectId: string, input: Record<string, unknown>) {
  return createDestination(db, secretBox, projectId, input, testNetwork);
}

/** A worker with the integration handlers only; no backoff, so retries run at once in `drain()`. `network` defaults to allowing the local fakes. */
export function integrationWorker(db: Kysely<Database>, network: OutboundNetwork = testNetwork, logger: Logger = createLogger('silent')): JobWorker {
  const worker = new JobWorker(db, logger, { concurrency: 1, pollIntervalMs: 20, backoffMs: () => 0 });
  registerIntegrationJobHandlers(worker, { secretKey: testSecretKey, publicUrl: testPublicUrl, network, logger });
  return worker;
}

/** A delivery context for calling a destination directly: a first attempt with a fresh delivery id. */
export function testDeliveryContext(overrides: Partial<DeliveryContext> = {}): DeliveryContext {
  return { publicUrl: testPublicUrl, timeoutMs: 2000, network: testNetwork, attempt: 1, deliveryId: `bugloop-test-${randomUUID()}`, requestedAt: new Date(), warn: () => {}, ...overrides };
}

/** Makes delayed jobs (Retry-After, comment windows) due now. */
export async function makeJobsDue(db: Kysely<Database>): Promise<void> {
  await db.updateTable('jobs').set({ runAt: new Date(Date.now() - 1000) }).where('state', '=', 'pending').execute();
}
