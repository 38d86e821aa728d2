import type { Transaction } from 'kysely';
import type { Report } from '../../shared/report-schema';
import type { Database, Job } from '../db/schema';
import { assignReportToDefect } from '../dedup/assign-report';
import { enqueueReportEmbedding } from '../dedup/dedup-jobs';
import { enrichReport } from '../enrich/enrich-report';
import { enqueueJob } from '../outbox/job-queue';
import { findOrCreateRelease } from '../releases/release-service';
import { onDefectCreated, onReportAddedToDefect } from '../routing/route-defect';

export const suggestReportJobKind = 'report.suggest';

/**
 * Processes one stored report inside the job's transaction: enrich, resolve the release, put it
 * on a defect. The job's completion commits with these writes, so a crash part-way redoes the
 * whole step, and a report already processed is left alone: each report is processed once.
 */
export async function processReport(
  trx: Transaction<Database>,
  reportId: string,
  options: { aiEnabled: boolean; /** Queue the report's embedding (an embeddings API is configured). */ embeddings?: boolean },
): Promise<void> {
  const stored = await trx.selectFrom('reports').selectAll().where('id', '=', reportId).forUpdate().executeTakeFirst();
  if (!stored || stored.state === 'processed') return;
  const payload = stored.payload as unknown as Report;
  const rules = await trx
    .selectFrom('componentRules')
    .select(['pattern', 'patternKind', 'component'])
    .where('projectId', '=', stored.projectId)
    .orderBy('position')
    .execute();
  const enrichment = enrichReport(payload, rules, stored.userAgent);
  const release = payload.release?.trim() ? await findOrCreateRelease(trx, stored.projectId, payload.release) : undefined;
  const enriched = await trx
    .updateTable('reports')
    .set({
      route: enrichment.route,
      component: enrichment.component,
      errorSignature: enrichment.errorSignature,
      requestSignature: enrichment.requestSignature,
      releaseId: release?.id ?? null,
      enrichment: JSON.stringify({ ...(stored.enrichment ?? {}), ...enrichment.details }),
    })
    .where('id', '=', reportId)
    .returningAll()
    .executeTakeFirstOrThrow();
  const assignment = await assignReportToDefect(trx, enriched);
  // Routing rules (tickets, Slack, webhooks) queue their deliveries in this same transaction.
  if (assignment.created) await onDefectCreated(trx, { id: assignment.defectId });
  else await onReportAddedToDefect(trx, assignment.defectId);
  await trx
    .updateTable('reports')
    .set({ state: 'processed', processedAt: new Date(), candidates: JSON.stringify(assignment.candidates) })
    .where('id', '=', reportId)
    .execute();
  // The embedding comes later, from its own job: it re-ranks the possible duplicates, never delays the report.
  if (options.embeddings) await enqueueReportEmbedding(trx, stored.projectId, reportId);
  if (options.aiEnabled) {
    // Suggestions are extra: their own job, so a slow or failing AI never delays the report.
    await enqueueJob(trx, {
      kind: suggestReportJobKind,
      projectId: stored.projectId,
      payload: { reportId },
      idempotencyKey: `${suggestReportJobKind}:${reportId}`,
      maxAttempts: 3,
    });
  }
}

export function reportIdOf(job: Job): string {
  const reportId = job.payload.reportId;
  if (typeof reportId !== 'string') throw new Error(`job ${job.id} has no reportId`);
  return reportId;
}
