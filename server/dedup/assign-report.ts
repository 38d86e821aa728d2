import { type Transaction, sql } from 'kysely';
import { preparedStatement } from '../db/prepared-statements';
import type { Database, ReportRow } from '../db/schema';
import { createdEventValue, reporterIdentity, systemActor } from '../defects/defect-service';
import { RunningStatistics, findSimilarReports, indexEntryCtes, reportFeatures, type RetrievalLimits, type ScoredReport } from './duplicate-index';
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
  /**
   * The batch this report is assigned in (report processing: one per project and job batch); its
   * writes shared by all the batch's reports are made by `batch.flush`. Without one, the report is
   * a batch of its own, flushed before this returns.
   */
  batch?: AssignmentBatch;
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
  const batch = options.batch ?? (await AssignmentBatch.start(trx, report.projectId, [features]));
  const { reports, prepared } = await findSimilarReports(trx, report.projectId, features, {
    excludeReportIds: [report.id],
    weights: options.weights,
    limits: options.limits,
    statistics: batch.statistics.snapshot(features),
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
  batch.assigned(report, defectId, !merged, features);
  if (!options.batch) await batch.flush(trx);
  const created = !merged;
  return { defectId, created, candidates: options.returnedCandidates ? ranking.slice(0, options.returnedCandidates) : candidates, autoMergeCandidate: target };
}

/**
 * Writes an assignment in one statement (data-modifying CTEs), since report processing does this
 * for every report: for a new defect the project's counter and the defect (counts of its one
 * report already set, as `refreshDefectCounts` would compute them); then the report's move (with
 * its candidates and, from processing, its enrichment and state) and its entry in the dedup index:
 * what the next report's retrieval reads. The history events and the corpus counts wait for the
 * batch's flush. Attaching to an existing defect moves its counts on by this one report, as
 * `refreshDefectCounts` would recompute them, without reading the defect's other reports: one
 * index probe asks whether this reporter is already among them (a defect with 50,000 reports
 * during an outage cost a recount of all of them per report).
 */
async function writeAssignment(
  trx: Transaction<Database>,
  report: ReportRow,
  input: {
    existingDefectId: string | null;
    title: string;
    candidates: readonly DuplicateCandidate[];
    features: ReportFeatures;
    prepared: Parameters<typeof indexEntryCtes>[0]['prepared'];
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
  const result = await sql<{ defectId: string | null }>`${sql.raw(preparedStatement)}
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
      returning id
    ), target as (
      select id from new_defect
      union all
      select ${input.existingDefectId}::uuid where ${input.existingDefectId}::uuid is not null
    ), moved as (
      update reports set defect_id = (select id from target), candidates = ${JSON.stringify(input.candidates)}::jsonb ${completionColumns}
      where id = ${report.id}
      returning project_id, defect_id
    ), counts as (
      update defects d set report_count = d.report_count + 1,
        affected_users = d.affected_users + case when exists (
          select 1 from reports other where other.defect_id = d.id and ${reporterIdentity('other')} = stored.reporter) then 0 else 1 end,
        first_seen_at = least(d.first_seen_at, stored.received_at), last_seen_at = greatest(d.last_seen_at, stored.received_at),
        updated_at = now()
      from (select ${reporterIdentity('reports')} as reporter, received_at from reports where id = ${report.id}) stored
      where d.id = ${input.existingDefectId}::uuid
    ), ${indexEntryCtes({ reportId: report.id, projectId: report.projectId, features: input.features, prepared: input.prepared, weights: input.weights })}
    select defect_id from moved
  `.execute(trx);
  const written = result.rows[0];
  if (!written?.defectId) throw new Error(`report ${report.id} or its project was not found`);
  return written.defectId;
}

/** A history event of an assignment, written by the batch's flush. */
interface PendingEvent {
  defectId: string;
  kind: 'created' | 'report_added';
  /** `report_added`'s value; a `created` event's value is read from the defect row. */
  value: unknown;
  at: Date;
}

/**
 * The reports of one project assigned one after the other in one transaction. Each report's
 * retrieval must see the reports before it, so their defects, moves and index entries are written
 * report by report; what nothing in the batch reads back is written once by `flush`, in one
 * statement: the history events (so the `defect_states` trigger replays the batch's defects in one
 * pass instead of once per report) and the corpus counts (one row version per term per batch).
 */
export class AssignmentBatch {
  private readonly events: PendingEvent[] = [];

  private constructor(readonly statistics: RunningStatistics) {}

  /** Reads the corpus statistics of all the batch's terms (one statement). */
  static async start(trx: Transaction<Database>, projectId: string, features: readonly ReportFeatures[]): Promise<AssignmentBatch> {
    return new AssignmentBatch(await RunningStatistics.load(trx, projectId, features));
  }

  get projectId(): string {
    return this.statistics.projectId;
  }

  /** Records an assignment just written: its history events, and the report in the corpus counts. */
  assigned(report: Pick<ReportRow, 'id' | 'receivedAt'>, defectId: string, created: boolean, features: ReportFeatures): void {
    if (created) this.events.push({ defectId, kind: 'created', value: null, at: report.receivedAt });
    this.events.push({ defectId, kind: 'report_added', value: { reportId: report.id }, at: new Date() });
    this.statistics.indexed(features);
  }

  /** Writes the events and counts recorded since the last flush (in the batch's transaction). */
  async flush(trx: Transaction<Database>): Promise<void> {
    const events = this.events.splice(0);
    const result = await sql<{ documentCount: number | null }>`${sql.raw(preparedStatement)}
      with pending as (
        select * from unnest(${events.map((event) => event.defectId)}::uuid[], ${events.map((event) => event.kind)}::text[],
                             ${events.map((event) => JSON.stringify(event.value))}::jsonb[], ${events.map((event) => event.at)}::timestamptz[])
          with ordinality as e(defect_id, kind, value, at, position)
      ), events as (
        insert into defect_events (project_id, defect_id, actor_user_id, actor_kind, kind, new_value, created_at)
        select ${this.projectId}::uuid, pending.defect_id, null::uuid, ${systemActor.kind}, pending.kind,
               case when pending.kind = 'created' then (select ${createdEventValue} from defects where defects.id = pending.defect_id) else pending.value end,
               pending.at
        from pending order by pending.position
      ), ${this.statistics.countCtes()}
      select (select document_count from corpus) as document_count
    `.execute(trx);
    await this.statistics.afterCountsWritten(trx, result.rows[0]?.documentCount ?? null);
  }
}
