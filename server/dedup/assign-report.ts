import type { Transaction } from 'kysely';
import type { Database, ReportRow } from '../db/schema';
import { attachReportToDefect, createDefect, systemActor } from '../defects/defect-service';

/** One candidate defect for a report, with the score and the signals behind it. */
export interface DuplicateCandidate {
  defectId: string;
  score: number;
  signals: Record<string, number>;
}

export interface Assignment {
  defectId: string;
  /** True when a new defect was created for this report. */
  created: boolean;
  candidates: DuplicateCandidate[];
}

/**
 * Puts an enriched report on exactly one defect. Called by report processing inside the
 * job's transaction, after enrichment has filled the report's columns.
 *
 * Interim version: every report opens its own defect. The deduplication issue replaces the
 * body with candidate retrieval, scoring and auto-merge, keeping this signature.
 */
export async function assignReportToDefect(trx: Transaction<Database>, report: ReportRow): Promise<Assignment> {
  const enrichment = report.enrichment as { title?: string };
  const defect = await createDefect(
    trx,
    {
      projectId: report.projectId,
      title: report.title ?? enrichment.title ?? report.description.slice(0, 120),
      description: report.description,
      origin: report.origin,
      component: report.component,
      route: report.route,
      foundInReleaseId: report.releaseId,
      errorSignature: report.errorSignature,
      requestSignature: report.requestSignature,
      firstSeenAt: report.receivedAt,
    },
    systemActor,
  );
  await attachReportToDefect(trx, report.id, defect.id);
  return { defectId: defect.id, created: true, candidates: [] };
}
