import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Report, type ReportAccepted, reportReference } from '../../shared/report-schema';
import type { Database, DefectOrigin } from '../db/schema';
import { enqueueJob } from '../outbox/job-queue';
import type { CheckedImage } from './image-check';

export const processReportJobKind = 'report.process';

export interface ReportToStore {
  projectId: string;
  report: Report;
  origin: DefectOrigin;
  image?: { bytes: Buffer; checked: CheckedImage; filename?: string };
  clientIp?: string | null;
  userAgent?: string | null;
}

/**
 * Stores a validated report, its image and its processing job in one transaction, so a report
 * answered with 202 is a report that will be processed, whatever fails afterwards. A second
 * send with the same client id (a retry) stores nothing and gets the same answer.
 */
export async function storeReport(db: Kysely<Database>, input: ToStore): Promise<ReportAccepted> {
  const { report } = input;
  return db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto('reports')
      .values({
        projectId: input.projectId,
        clientId: report.id,
        origin: input.origin,
        payload: JSON.stringify(report),
        title: report.title?.trim() || null,
        description: report.description,
        expected: report.expected?.trim() || null,
        steps: report.steps?.trim() || null,
        reporterEmail: report.email || report.user?.email || null,
        reporterId: report.user?.id ?? null,
        url: report.url ?? null,
        environment: report.environment?.trim() || null,
        clientIp: input.clientIp ?? null,
        userAgent: (report.browser?.userAgent ?? input.userAgent ?? null)?.slice(0, 1000) ?? null,
        reporterTokenHash: report.reporterToken ? createHash('sha256').update(report.reporterToken).digest('hex') : null,
      })
      .onConflict((conflict) => conflict.columns(['projectId', 'clientId']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) {
      const existing = await trx
        .selectFrom('reports')
        .select('id')
        .where('projectId', '=', input.projectId)
        .where('clientId', '=', report.id)
        .executeTakeFirstOrThrow();
      return accepted(existing.id, report.id, true);
    }
    if (input.image) {
      const sha256 = createHash('sha256').update(input.image.bytes).digest('hex');
      // Content-addressed: the same image sent twice is stored once.
      await trx
        .insertInto('attachmentBlobs')
        .values({
          sha256,
          contentType: input.image.checked.contentType,
          byteSize: input.image.bytes.length,
          width: input.image.checked.width,
          height: input.image.checked.height,
          data: input.image.bytes,
        })
        .onConflict((conflict) => conflict.column('sha256').doNothing())
        .execute();
      await trx
        .insertInto('reportAttachments')
        .values({ reportId: inserted.id, sha256, kind: 'screenshot', filename: input.image.filename?.slice(0, 255) ?? null })
        .execute();
    }
    await enqueueJob(trx, {
      kind: processReportJobKind,
      projectId: input.projectId,
      payload: { reportId: inserted.id },
      idempotencyKey: `${processReportJobKind}:${inserted.id}`,
    });
    return accepted(inserted.id, report.id, false);
  });
}

type ToStore = ReportToStore;

function accepted(id: string, clientId: string, duplicate: boolean): ReportAccepted {
  return { status: 'accepted', id, clientId, reference: reportReference(id), duplicate };
}
