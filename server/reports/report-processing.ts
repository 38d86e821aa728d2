import { type Transaction, sql } from 'kysely';
import type { Report } from '../../shared/report-schema';
import type { Database, Job, ReportRow } from '../db/schema';
import { AssignmentBatch, assignReportToDefect, reportRowFeatures } from '../dedup/assign-report';
import { enqueueReportEmbedding } from '../dedup/dedup-jobs';
import { enrichReport } from '../enrich/enrich-report';
import { enqueueJob } from '../outbox/job-queue';
import { findOrCreateRelease, type Release } from '../releases/release-service';
import { onDefectCreated, onReportAddedToDefect, routingTriggersByProject } from '../routing/route-defect';

export const suggestReportJobKind = 'report.suggest';

/**
 * Processes one stored report inside the job's transaction: enrich, resolve the release, put it
 * on a defect. The job's completion commits with these writes, so a crash part-way redoes the
 * whole step, and a report already processed is left alone: each report is processed once.
 */
export interface ProcessingOptions {
  aiEnabled: boolean;
  /** Queue each report's embedding (an embeddings API is configured). */
  embeddings?: boolean;
}

export async function processReport(trx: Transaction<Database>, reportId: string, options: ProcessingOptions): Promise<void> {
  await processReports(trx, [reportId], options);
}

/**
 * Processes several stored reports in one transaction, in the order they arrived, with the
 * per-report work that does not depend on dedup done once for all of them: one read (rows
 * locked), the component rules once per project, each release once, the corpus statistics of
 * all their terms once, which routing triggers have rules once. Dedup still sees the reports one
 * at a time, each after the ones before it: per report, its retrieval and one statement writing
 * the defect (or its counts), the report (enrichment, candidates, state) and its index entry. Then
 * once per batch: the history events and corpus counts (`AssignmentBatch.flush`), and routing,
 * once per defect the batch touched.
 */
export async function processReports(trx: Transaction<Database>, reportIds: readonly string[], options: ProcessingOptions): Promise<void> {
  if (reportIds.length === 0) return;
  const stored = await trx
    .selectFrom('reports')
    .selectAll()
    .where('id', 'in', [...reportIds])
    .where('state', '<>', 'processed')
    .orderBy('receivedAt')
    .orderBy('id')
    .forUpdate()
    .execute();
  if (stored.length === 0) return;
  const projectIds = [...new Set(stored.map((report) => report.projectId))];
  const rules = await trx
    .selectFrom('componentRules')
    .select(['projectId', 'pattern', 'patternKind', 'component'])
    .where('projectId', 'in', projectIds)
    .orderBy('position')
    .execute();
  const releases = new Map<string, Promise<Release>>();
  const enriched: ReportRow[] = [];
  for (const report of stored) {
    const payload = report.payload as unknown as Report;
    const enrichment = enrichReport(
      payload,
      rules.filter((rule) => rule.projectId === report.projectId),
      report.userAgent,
    );
    let release: Release | undefined;
    if (payload.release?.trim()) {
      const key = `${report.projectId}\u0000${payload.release.trim()}`;
      if (!releases.has(key)) releases.set(key, findOrCreateRelease(trx, report.projectId, payload.release));
      release = await releases.get(key);
    }
    enriched.push({
      ...report,
      route: enrichment.route,
      component: enrichment.component,
      errorSignature: enrichment.errorSignature,
      requestSignature: enrichment.requestSignature,
      releaseId: release?.id ?? null,
      enrichment: { ...(report.enrichment ?? {}), ...enrichment.details },
    });
  }
  // Dedup reads the corpus statistics of all the batch's terms once per project; the per-report
  // update of the assignment also writes the enrichment and the state (one row version per report).
  const batches = new Map<string, AssignmentBatch>();
  for (const projectId of projectIds) {
    const features = enriched.filter((report) => report.projectId === projectId).map((report) => reportRowFeatures(report));
    batches.set(projectId, await AssignmentBatch.start(trx, projectId, features));
  }
  const triggers = await routingTriggersByProject(trx, projectIds);
  const notAssigned: ReportRow[] = [];
  const assignments: { projectId: string; defectId: string; created: boolean }[] = [];
  for (const report of enriched) {
    if (report.defectId) {
      // A retried job whose report kept its defect: only the enrichment and the state remain.
      notAssigned.push(report);
      continue;
    }
    const assignment = await assignReportToDefect(trx, report, { batch: batches.get(report.projectId), completion: report });
    assignments.push({ projectId: report.projectId, ...assignment });
  }
  for (const batch of batches.values()) await batch.flush(trx);
  // Routing rules (tickets, Slack, webhooks) queue their deliveries in this same transaction, once
  // every assignment of the batch and its history are written. A defect that gained several of
  // the batch's reports is looked at once, with its counts as the batch leaves them (a flood of one
  // problem puts most of a batch on one defect).
  const grown = new Map<string, string>();
  for (const assignment of assignments) {
    if (assignment.created) {
      if (triggers.get(assignment.projectId)?.has('defect_created')) await onDefectCreated(trx, { id: assignment.defectId });
    } else {
      grown.set(assignment.defectId, assignment.projectId);
    }
  }
  if (notAssigned.length > 0) {
    await sql`
      update reports r set route = v.route, component = v.component, error_signature = v.error_signature,
        request_signature = v.request_signature, release_id = v.release_id, enrichment = v.enrichment,
        state = 'processed', processed_at = now()
      from unnest(${notAssigned.map((report) => report.id)}::uuid[], ${notAssigned.map((report) => report.route)}::text[],
                  ${notAssigned.map((report) => report.component)}::text[], ${notAssigned.map((report) => report.errorSignature)}::text[],
                  ${notAssigned.map((report) => report.requestSignature)}::text[], ${notAssigned.map((report) => report.releaseId)}::uuid[],
                  ${notAssigned.map((report) => JSON.stringify(report.enrichment))}::jsonb[])
        as v(id, route, component, error_signature, request_signature, release_id, enrichment)
      where r.id = v.id
    `.execute(trx);
    // As before: a report that kept its defect still counts as added to it (routing, regressions).
    for (const report of notAssigned) grown.set(report.defectId!, report.projectId);
  }
  for (const [defectId, projectId] of grown) {
    await onReportAddedToDefect(trx, defectId, { thresholdRules: Boolean(triggers.get(projectId)?.has('threshold_crossed')) });
  }
  // The embedding comes later, from its own job: it re-ranks the possible duplicates, never delays the report.
  if (options.embeddings) {
    for (const report of enriched) await enqueueReportEmbedding(trx, report.projectId, report.id);
  }
  if (options.aiEnabled) {
    // Suggestions are extra: their own job, so a slow or failing AI never delays the report.
    for (const report of enriched) {
      await enqueueJob(trx, {
        kind: suggestReportJobKind,
        projectId: report.projectId,
        payload: { reportId: report.id },
        idempotencyKey: `${suggestReportJobKind}:${report.id}`,
        maxAttempts: 3,
      });
    }
  }
}

export function reportIdOf(job: Job): string {
  const reportId = job.payload.reportId;
  if (typeof reportId !== 'string') throw new Error(`job ${job.id} has no reportId`);
  return reportId;
}
