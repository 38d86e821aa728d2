import type { Kysely, Transaction } from 'kysely';
import type { Database, DefectStatus } from '../db/schema';
import { AppError } from '../http/app-error';
import { findSimilarReports, reportFeatures } from './duplicate-index';
import type { DuplicateCandidate } from './assign-report';
import { nonDuplicatesOf } from './duplicate-actions';

type Executor = Kysely<Database> | Transaction<Database>;

/** A possible duplicate of a defect, as the dashboard shows it. */
export interface DefectCandidate {
  defectId: string;
  key: string;
  title: string;
  status: DefectStatus;
  reportCount: number;
  score: number;
  signals: Record<string, number>;
}

/**
 * Possible duplicates of a defect: the candidates stored on its reports when they were
 * processed, joined with a fresh query from the defect's own title and description (which finds
 * defects created after those reports). A defect is as close as its best score in either.
 * Merged defects, the defect itself and pairs marked "not a duplicate" never appear.
 */
export async function defectCandidates(db: Executor, projectId: string, defectId: string, limit = 10): Promise<DefectCandidate[]> {
  const defect = await db.selectFrom('defects').selectAll().where('id', '=', defectId).where('projectId', '=', projectId).executeTakeFirst();
  if (!defect) throw new AppError('not_found', 'defect not found in this project');
  if (defect.mergedIntoId) return [];

  const best = new Map<string, { score: number; signals: Record<string, number> }>();
  const offer = (candidate: { defectId: string; score: number; signals: Record<string, number> }) => {
    const current = best.get(candidate.defectId);
    if (!current || candidate.score > current.score) best.set(candidate.defectId, { score: candidate.score, signals: candidate.signals });
  };
  const reports = await db
    .selectFrom('reports')
    .select(['id', 'candidates'])
    .where('defectId', '=', defectId)
    .orderBy('receivedAt', 'desc')
    .limit(50)
    .execute();
  for (const report of reports) for (const candidate of (report.candidates ?? []) as DuplicateCandidate[]) offer(candidate);

  const fresh = await findSimilarReports(
    db,
    projectId,
    reportFeatures({
      title: defect.title,
      description: defect.description,
      receivedAt: defect.lastSeenAt,
      route: defect.route,
      component: defect.component,
      releaseId: defect.foundInReleaseId,
      errorSignature: defect.errorSignature,
      requestSignature: defect.requestSignature,
    }),
  );
  for (const report of fresh.reports) {
    const signals: Record<string, number> = {};
    for (const [name, value] of Object.entries(report.signals)) if (value !== undefined) signals[name] = Math.round(value * 10_000) / 10_000;
    offer({ defectId: report.defectId, score: Math.round(report.score * 10_000) / 10_000, signals });
  }

  best.delete(defectId);
  for (const excluded of await nonDuplicatesOf(db, defectId)) best.delete(excluded);
  if (best.size === 0) return [];
  const rows = await db
    .selectFrom('defects')
    .select(['id', 'key', 'title', 'status', 'reportCount'])
    .where('projectId', '=', projectId)
    .where('id', 'in', [...best.keys()])
    .where('mergedIntoId', 'is', null)
    .execute();
  return rows
    .map((row) => ({ defectId: row.id, key: row.key, title: row.title, status: row.status, reportCount: row.reportCount, ...best.get(row.id)! }))
    .sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : 1))
    .slice(0, limit);
}
