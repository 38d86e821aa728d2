import { type Transaction, sql } from 'kysely';
import { preparedStatement } from '../db/prepared-statements';
import type { Database, ReportRow } from '../db/schema';
import { createdEventValue, refreshDefectCounts, systemActor } from '../defects/defect-service';
import { afterReportIndexed, findSimilarReports, indexReportCtes, reportFeatures, type RetrievalLimits, type RunningStatistics, type ScoredReport } from './duplicate-index';
import { type AutoMergePolicy, type ReportFeatures, type ScoreWeights, autoMergeTarget, defaultAutoMergePolicy } from './duplicate-score';

/** One candidate defect for a report, with the score and the signals behind it. */
export interface DuplicateCandidate {
  defectId: string;
  score: number;
  signals: Record<string, number>;
  /** The most similar report of that defect. */
  reportId?: string;
}

export interface Assignment {
  defectId: string;
  /** True when a new defect was created for this report. */
  created: boolean;
  candidates: DuplicateCandidate[];
  /** The candidate auto-merge chose (or, with auto-merge off, would have chosen); null when none. */
  autoMergeCandidate?: DuplicateCandidate | null;
}

/** Tuning knobs; production uses the defaults, the benchmark turns auto-merge off. */
export interface AssignOptions {
  /** Put the report on the best candidate when the policy allows (default true). */
  autoMerge?: boolean;
  policy?: AutoMergePolicy;
  weights?: ScoreWeights;
  limits?: RetrievalLimits;
  /** How many ranked candidates to return (the report always stores 10); the benchmark asks 100 for MRR. */
  returnedCandidates?: number;
  /** The batch's corpus statistics (report processing); moved on here once the report is indexed. */
  statistics?: RunningStatistics;
  /**
   * Report processing's enrichment columns, written with the defect in the same update, which
   * also marks the report processed (one row version per report instead of three).
   */
  completion?: ReportCompletion;
}

/** The columns report processing fills in, written by the assignment's update of the report. */
export type ReportCompletion = Pick<ReportRow, 'route' | 'component' | 'errorSignature' | 'requestSignature' | 'releaseId' | 'enrichment'>;

/** How many candidate defects a report keeps for "possible duplicates". */
export const storedCandidateCount = 10;

const round = (value: number) => Math.round(value * 10_000) / 10_000;

/** Best report per defect, best first: a defect is as close as its closest report. */
export function candidatesByDefect(reports: readonly ScoredReport[], limit = storedCandidateCount): DuplicateCandidate[] {
  const seen = new Set<string>();
  const candidates: DuplicateCandidate[] = [];
  for (const report of reports) {
    if (seen.has(report.defectId)) continue;
    seen.add(report.defectId);
    const signals: Record<string, number> = {};
    for (const [name, value] of Object.entries(report.signals)) if (value !== undefined) signals[name] = round(value);
    candidates.push({ defectId: report.defectId, reportId: report.reportId, score: round(report.score), signals });
    if (candidates.length === limit) break;
  }
  return candidates;
}

/** The title a report is known by: the reporter's, else the drafted one, else its first words. */
export function reportTitle(report: Pick<ReportRow, 'title' | 'enrichment' | 'description'>): string {
  const enrichment = (report.enrichment ?? {}) as { title?: unknown };
  const drafted = typeof enrichment.title === 'string' ? enrichment.title : undefined;
  return report.title?.trim() || drafted?.trim() || report.description.slice(0, 120);
}

/** The engine's view of a stored report: its title as known, its text, structure and embedding. */
export function reportRowFeatures(report: ReportRow, embedding: readonly number[] | null = report.embedding): ReportFeatures {
  return reportFeatures({
    title: reportTitle(report),
    description: report.description,
    expected: report.expected,
    receivedAt: report.receivedAt,
    route: report.route,
    component: report.component,
    releaseId: report.releaseId,
    errorSignature: report.errorSignature,
    requestSignature: report.requestSignature,
    embedding,
  });
}

/**
 * Puts an enriched report on exactly one defect. Called by report processing inside the
 * job's transaction, after enrichment has filled the report's columns.
 *
 * Retrieves and scores similar stored reports, keeps the top 10 defects as candidates on the
 * report, attaches it to the best one when the auto-merge policy is confident and opens a new
 * defect otherwise, then adds the report to the index (after scoring, so it never finds itself).
 */
export async function assignReportToDefect(trx: Transaction<Database>, report: ReportRow, options: AssignOptions = {}): Promise<Assignment> {
  if (report.defectId) {
    // A retried job: the report already has its defect; never move it behind a person's back.
    return { defectId: report.defectId, created: false, candidates: (report.candidates ?? []) as DuplicateCandidate[] };
  }
  const title = reportTitle(report);
  const features = reportRowFeatures(report);
  const { reports, prepared } = await findSimilarReports(trx, report.projectId, features, {
    excludeReportIds: [report.id],
    weights: options.weights,
    limits: options.limits,
    statistics: options.statistics?.snapshot(features),
  });
  const ranking = candidatesByDefect(reports, Math.max(storedCandidateCount, options.returnedCandidates ?? storedCandidateCount));
  const candidates = ranking.slice(0, storedCandidateCount);
  const target = autoMergeTarget(candidates, options.policy ?? defaultAutoMergePolicy);

  const merged = Boolean(target && options.autoMerge !== false);
  const defectId = await writeAssignment(trx, report, {
    existingDefectId: merged ? target!.defectId : null,
    title,
    candidates,
    features,
    prepared,
    weights: options.weights,
    completion: options.completion,
  });
  options.statistics?.indexed(features);
  const created = !merged;
  return { defectId, created, candidates: options.returnedCandidates ? ranking.slice(0, options.returnedCandidates) : candidates, autoMergeCandidate: target };
}

/**
 * Writes an assignment in one statement (data-modifying CTEs), since report processing does this
 * for every report: for a new defect the project's counter, the defect (counts of its one report
 * already set, as `refreshDefectCounts` would compute them) and its `created` event; then the
 * report's move (with its candidates and, from processing, its enrichment and state), the
 * `report_added` event and the report's place in the dedup index. Attaching to an existing defect
 * adds one statement: its counts recomputed from its reports, which must see the move.
 */
async function writeAssignment(
  trx: Transaction<Database>,
  report: ReportRow,
  input: {
    existingDefectId: string | null;
    title: string;
    candidates: readonly DuplicateCandidate[];
    features: ReportFeatures;
    prepared: Parameters<typeof indexReportCtes>[0]['prepared'];
    weights?: ScoreWeights;
    completion?: ReportCompletion;
  },
): Promise<string> {
  const creating = input.existingDefectId === null;
  const seenAt = report.receivedAt;
  const completion = input.completion;
  const completionColumns = completion
    ? sql`, route = ${completion.route}, component = ${completion.component}, error_signature = ${completion.errorSignature},
        request_signature = ${completion.requestSignature}, release_id = ${completion.releaseId}::uuid,
        enrichment = ${JSON.stringify(completion.enrichment)}::jsonb, state = 'processed', processed_at = ${new Date()}::timestamptz`
    : sql``;
  const result = await sql<{ defectId: string | null; documentCount: number | null }>`${sql.raw(preparedStatement)}
    with counter as (
      update projects set next_defect_number = next_defect_number + 1 where id = ${report.projectId} and ${creating}::boolean
      returning key_prefix, next_defect_number - 1 as number
    ), new_defect as (
      insert into defects (project_id, number, key, title, description, origin, component, route, found_in_release_id,
                           error_signature, request_signature, report_count, affected_users, first_seen_at, last_seen_at, created_at)
      select ${report.projectId}, number, key_prefix || '-' || number, ${input.title.slice(0, 300) || 'Untitled defect'},
             ${report.description ?? ''}, ${report.origin}, ${report.component ?? null}, ${report.route ?? null},
             ${report.releaseId ?? null}::uuid, ${report.errorSignature ?? null}, ${report.requestSignature ?? null}, 1, 1,
             least(${seenAt}::timestamptz, stored.received_at), greatest(${seenAt}::timestamptz, stored.received_at), ${seenAt}::timestamptz
      from counter cross join (select received_at from reports where id = ${report.id}) stored
      returning id, project_id, status, origin, found_in_release_id, severity
    ), target as (
      select id from new_defect
      union all
      select ${input.existingDefectId}::uuid where ${input.existingDefectId}::uuid is not null
    ), moved as (
      update reports set defect_id = (select id from target), candidates = ${JSON.stringify(input.candidates)}::jsonb ${completionColumns}
      where id = ${report.id}
      returning project_id, defect_id
    ), events as (
      insert into defect_events (project_id, defect_id, actor_user_id, actor_kind, kind, new_value, created_at)
      select project_id, id, null::uuid, ${systemActor.kind}, 'created', ${createdEventValue}, ${seenAt}::timestamptz
      from new_defect
      union all
      select project_id, defect_id, null::uuid, ${systemActor.kind}, 'report_added', ${JSON.stringify({ reportId: report.id })}::jsonb, ${new Date()}::timestamptz
      from moved
    ), ${indexReportCtes({ reportId: report.id, projectId: report.projectId, features: input.features, prepared: input.prepared, weights: input.weights })}
    select (select defect_id from moved) as defect_id, (select document_count from corpus) as document_count
  `.execute(trx);
  const written = result.rows[0];
  if (!written?.defectId) throw new Error(`report ${report.id} or its project was not found`);
  if (!creating) await refreshDefectCounts(trx, written.defectId);
  await afterReportIndexed(trx, report.projectId, Number(written.documentCount));
  return written.defectId;
}
