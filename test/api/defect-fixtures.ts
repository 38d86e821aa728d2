import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, DefectOrigin, DefectSeverity, DefectStatus } from '../../server/db/schema';
import { attachReportToDefect, createDefect, updateDefect } from '../../server/defects/defect-service';
import { findOrCreateRelease } from '../../server/releases/release-service';

/** One report to seed: the fields the dashboard shows, in the stored shape ingest produces. */
export interface SeedReport {
  description: string;
  expected?: string;
  steps?: string;
  reporterEmail?: string;
  url?: string;
  receivedAt?: Date;
  payload?: Record<string, unknown>;
  enrichment?: Record<string, unknown>;
  screenshot?: Buffer;
}

/**
 * Seeds a defect with its reports straight through the defect service (ingest is tested on its
 * own): createDefect, report rows, attachReportToDefect, so counts and history are real.
 */
export async function seedDefect(
  db: Kysely<Database>,
  projectId: string,
  input: {
    title: string;
    description?: string;
    origin?: DefectOrigin;
    component?: string;
    severity?: DefectSeverity;
    status?: DefectStatus;
    release?: string;
    reports?: SeedReport[];
  },
) {
  return db.transaction().execute(async (trx) => {
    const release = input.release ? await findOrCreateRelease(trx, projectId, input.release) : undefined;
    let defect = await createDefect(trx, {
      projectId,
      title: input.title,
      description: input.description ?? input.reports?.[0]?.description ?? '',
      origin: input.origin ?? 'field',
      component: input.component ?? null,
      severity: input.severity ?? null,
      foundInReleaseId: release?.id ?? null,
      firstSeenAt: input.reports?.[0]?.receivedAt,
    });
    const reportIds: string[] = [];
    for (const report of input.reports ?? []) {
      const row = await trx
        .insertInto('reports')
        .values({
          projectId,
          clientId: crypto.randomUUID(),
          origin: input.origin ?? 'field',
          state: 'processed',
          payload: JSON.stringify({ id: crypto.randomUUID(), description: report.description, ...report.payload }),
          description: report.description,
          expected: report.expected ?? null,
          steps: report.steps ?? null,
          reporterEmail: report.reporterEmail ?? null,
          url: report.url ?? null,
          component: input.component ?? null,
          releaseId: release?.id ?? null,
          enrichment: JSON.stringify(report.enrichment ?? {}),
          receivedAt: report.receivedAt ?? new Date(),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      if (report.screenshot) {
        const sha256 = createHash('sha256').update(report.screenshot).digest('hex');
        await trx
          .insertInto('attachmentBlobs')
          .values({ sha256, contentType: 'image/png', byteSize: report.screenshot.length, width: report.screenshot.readUInt32BE(16), height: report.screenshot.readUInt32BE(20), data: report.screenshot })
          .onConflict((conflict) => conflict.column('sha256').doNothing())
          .execute();
        await trx.insertInto('reportAttachments').values({ reportId: row.id, sha256, kind: 'screenshot', filename: 'screenshot.png' }).execute();
      }
      await attachReportToDefect(trx, row.id, defect.id);
      reportIds.push(row.id);
    }
    if (input.status && input.status !== 'new') defect = await updateDefect(trx, defect.id, { status: input.status }, { kind: 'system' });
    const stored = await trx.selectFrom('defects').selectAll().where('id', '=', defect.id).executeTakeFirstOrThrow();
    return { defect: stored, reportIds };
  });
}

/** A realistic widget payload: console error with stack, failed request, breadcrumbs, metadata. */
export function richPayload(): Record<string, unknown> {
  const now = Date.now();
  return {
    url: 'https://shop.example.com/checkout?step=2',
    release: '2.4.1',
    metadata: { plan: 'pro', cartItems: 3 },
    console: [{ level: 'error', message: "TypeError: Cannot read properties of undefined (reading 'total')", time: now - 2000, stack: 'TypeError: Cannot read …\n    at checkout.js:42:13' }],
    network: [{ method: 'POST', url: 'https://shop.example.com/api/orders', status: 500, durationMs: 312, time: now - 1500 }],
    breadcrumbs: [{ kind: 'click', time: now - 3000, selector: 'button#pay', text: 'Pay now' }],
    browser: { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36', viewport: { width: 1280, height: 720 } },
  };
}

/** Enrichment as report processing stores it (device summary, drafted title and steps). */
export function richEnrichment(browser = 'Chrome', os = 'Linux'): Record<string, unknown> {
  return {
    title: 'Pay button does nothing',
    steps: '1. Open /checkout\n2. Click "Pay now"',
    device: { browser: { name: browser, version: '126' }, os: { name: os, version: null }, device: { type: 'desktop', vendor: null, model: null } },
    error: "TypeError: Cannot read properties of undefined (reading 'total')",
    failedRequest: 'POST /api/orders → 500',
    consoleErrorCount: 1,
    failedRequestCount: 1,
  };
}
