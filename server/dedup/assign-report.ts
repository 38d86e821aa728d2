import { randomUUID } from 'node:crypto';
import { type Transaction, sql } from 'kysely';
import { preparedStatement } from '../db/prepared-statements';
import type { Database, ReportRow } from '../db/schema';
import { createdEventValue, reporterIdentity, systemActor } from '../defects/defect-service';
import { RunningStatistics, type UnwrittenIndexEntry, findSimilarReports, indexEntriesCtes, reportFeatures, type RetrievalLimits, type ScoredReport } from './duplicate-index';
import { type AutoMergePolicy, type PreparedReport, type ReportFeatures, type ScoreWeights, autoMergeTarget, defaultAutoMergePolicy } from './duplicate-score';

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
 * Retrieves and scores similar stored reports (and those of its batch not written yet), keeps
 * the top 10 defects as candidates on the report, attaches it to the best one when the
 * auto-merge policy is confident and opens a new defect otherwise, then adds the report to the
 * batch (after scoring, so it never finds itself). The batch writes it all when flushed.
 */
export async function assignReportToDefect(trx: Transaction<Database>, report: ReportRow, options: AssignOptions = {}): Promise<Assignment> {
  if (report.defectId) {
    // A retried job: the report already has its defect; never move it behind a person's back.
    return { defectId: report.defectId, created: false, candidates: (report.candidates ?? []) as DuplicateCandidate[] };
  }
  const features = reportRowFeatures(report);
  const batch = options.batch ?? (await AssignmentBatch.start(trx, report.projectId, [features]));
  const { reports, prepared } = await findSimilarReports(trx, report.projectId, features, {
    excludeReportIds: [report.id],
    weights: options.weights,
    limits: options.limits,
    statistics: batch.statistics.snapshot(features),
    unwritten: batch.unwritten,
  });
  const ranking = candidatesByDefect(reports, Math.max(storedCandidateCount, options.returnedCandidates ?? storedCandidateCount));
  const candidates = ranking.slice(0, storedCandidateCount);
  const target = autoMergeTarget(candidates, options.policy ?? defaultAutoMergePolicy);

  const merged = Boolean(target && options.autoMerge !== false);
  const defectId = merged ? target!.defectId : randomUUID();
  batch.assigned({ report, defectId, created: !merged, candidates, features, prepared, completion: options.completion });
  if (!options.batch) await batch.flush(trx);
  return { defectId, created: !merged, candidates: options.returnedCandidates ? ranking.slice(0, options.returnedCandidates) : candidates, autoMergeCandidate: target };
}

/** One assignment of a batch, kept until the batch's write. */
interface PendingAssignment {
  report: ReportRow;
  defectId: string;
  created: boolean;
  candidates: readonly DuplicateCandidate[];
  features: ReportFeatures;
  prepared: PreparedReport;
  completion?: ReportCompletion;
  /** When the report was put on its defect (its `report_added` event). */
  at: Date;
}

/** Who sent a report, as `reporterIdentity` computes it in SQL (the `affected users` count). */
function reporterOf(report: Pick<ReportRow, 'id' | 'reporterId' | 'reporterEmail' | 'reporterTokenHash'>): string {
  return report.reporterId ?? report.reporterEmail?.toLowerCase() ?? report.reporterTokenHash ?? report.id;
}

/** A report without reporter id, email or token: one user of its own, never found in another report. */
function isAnonymous(report: Pick<ReportRow, 'reporterId' | 'reporterEmail' | 'reporterTokenHash'>): boolean {
  return report.reporterId === null && report.reporterEmail === null && report.reporterTokenHash === null;
}

/**
 * The reports of one project assigned one after the other in one transaction, written together.
 * Each report's retrieval must see the reports before it: those of earlier batches come from the
 * index, those of this batch from memory (`unwritten`), scored the same way. So nothing is written
 * per report; `flush` writes the whole batch in one statement: the new defects (numbered from
 * the project's counter in the order their first reports came, their counts from their reports),
 * the counts of the existing defects that gained reports (moved on once per defect: a flood of one
 * problem updated that defect's row once per report), the reports' defects, candidates,
 * enrichment and state, their index entries, the history events (the `defect_states` trigger
 * then replays the batch's defects in one pass) and the corpus counts.
 */
export class AssignmentBatch {
  private readonly pending: PendingAssignment[] = [];
  private readonly entries: UnwrittenIndexEntry[] = [];

  private constructor(readonly statistics: RunningStatistics) {}

  /** Reads the corpus statistics of all the batch's terms (one statement). */
  static async start(trx: Transaction<Database>, projectId: string, features: readonly ReportFeatures[]): Promise<AssignmentBatch> {
    return new AssignmentBatch(await RunningStatistics.load(trx, projectId, features));
  }

  get projectId(): string {
    return this.statistics.projectId;
  }

  /** The batch's reports so far, as retrieval compares them. */
  get unwritten(): readonly UnwrittenIndexEntry[] {
    return this.entries;
  }

  /** Records an assignment: from now on the batch's next reports see it. */
  assigned(assignment: Omit<PendingAssignment, 'at'>): void {
    this.pending.push({ ...assignment, at: new Date() });
    this.entries.push({
      reportId: assignment.report.id,
      defectId: assignment.defectId,
      features: assignment.features,
      norm: assignment.prepared.all.norm,
      titleNorm: assignment.prepared.title.norm,
    });
    this.statistics.indexed(assignment.features);
  }

  /** Writes what was recorded since the last flush (in the batch's transaction): one statement. */
  async flush(trx: Transaction<Database>): Promise<void> {
    const pending = this.pending.splice(0);
    const entries = this.entries.splice(0);
    if (pending.length === 0) return;
    const projectId = this.projectId;

    // New defects, from the reports on them: the first one opened it, all of them count.
    const onDefect = new Map<string, PendingAssignment[]>();
    for (const assignment of pending) {
      const assignments = onDefect.get(assignment.defectId);
      if (assignments) assignments.push(assignment);
      else onDefect.set(assignment.defectId, [assignment]);
    }
    const opened = pending.filter((assignment) => assignment.created);
    const openedReports = opened.map((assignment) => onDefect.get(assignment.defectId)!);
    // Existing defects gaining reports: how many, when, and who sent them.
    const openedIds = new Set(opened.map((assignment) => assignment.defectId));
    const grown = [...onDefect].filter(([defectId]) => !openedIds.has(defectId));
    // Senders that may have reported on the defect before; anonymous reports are new users each.
    const grownReporters = grown.flatMap(([defectId, assignments]) =>
      [...new Set(assignments.filter((assignment) => !isAnonymous(assignment.report)).map((assignment) => reporterOf(assignment.report)))].map((reporter) => ({ defectId, reporter })),
    );
    const anonymousOn = (assignments: PendingAssignment[]) => assignments.filter((assignment) => isAnonymous(assignment.report)).length;
    const times = (assignments: PendingAssignment[]) => assignments.map((assignment) => assignment.report.receivedAt.getTime());
    const at = (time: number) => new Date(time);

    const events = pending.flatMap((assignment) => [
      ...(assignment.created ? [{ defectId: assignment.defectId, kind: 'created', value: null as unknown, at: assignment.report.receivedAt }] : []),
      { defectId: assignment.defectId, kind: 'report_added', value: { reportId: assignment.report.id } as unknown, at: assignment.at },
    ]);
    const complete = (assignment: PendingAssignment) => assignment.completion !== undefined;
    const completed = <T>(pick: (completion: ReportCompletion) => T) => pending.map((assignment) => (assignment.completion ? pick(assignment.completion) : null));

    const result = await sql<{ documentCount: number | null; opened: number }>`${sql.raw(preparedStatement)}
      with counter as (
        update projects set next_defect_number = next_defect_number + ${opened.length}::int
        where id = ${projectId} and ${opened.length}::int > 0
        returning key_prefix, next_defect_number - ${opened.length}::int as first_number
      ), opening as (
        select * from unnest(
          ${opened.map((assignment) => assignment.defectId)}::uuid[],
          ${opened.map((assignment) => reportTitle(assignment.report).slice(0, 300) || 'Untitled defect')}::text[],
          ${opened.map((assignment) => assignment.report.description ?? '')}::text[], ${opened.map((assignment) => assignment.report.origin)}::text[],
          ${opened.map((assignment) => assignment.report.component ?? null)}::text[], ${opened.map((assignment) => assignment.report.route ?? null)}::text[],
          ${opened.map((assignment) => assignment.report.releaseId ?? null)}::uuid[], ${opened.map((assignment) => assignment.report.errorSignature ?? null)}::text[],
          ${opened.map((assignment) => assignment.report.requestSignature ?? null)}::text[],
          ${openedReports.map((assignments) => assignments.length)}::int[],
          ${openedReports.map((assignments) => new Set(assignments.map((assignment) => reporterOf(assignment.report))).size)}::int[],
          ${openedReports.map((assignments) => at(Math.min(...times(assignments))))}::timestamptz[],
          ${openedReports.map((assignments) => at(Math.max(...times(assignments))))}::timestamptz[],
          ${opened.map((assignment) => assignment.report.receivedAt)}::timestamptz[]
        ) with ordinality as o(id, title, description, origin, component, route, release_id, error_signature, request_signature,
                               report_count, affected_users, first_seen_at, last_seen_at, created_at, position)
      ), new_defects as (
        insert into defects (id, project_id, number, key, title, description, origin, component, route, found_in_release_id,
                             error_signature, request_signature, report_count, affected_users, first_seen_at, last_seen_at, created_at)
        select o.id, ${projectId}::uuid, counter.first_number + o.position - 1, counter.key_prefix || '-' || (counter.first_number + o.position - 1),
               o.title, o.description, o.origin, o.component, o.route, o.release_id, o.error_signature, o.request_signature,
               o.report_count, o.affected_users, o.first_seen_at, o.last_seen_at, o.created_at
        from opening o cross join counter
        order by o.position
        returning id, status, origin, found_in_release_id, severity
      ), grown as (
        select * from unnest(${grown.map(([defectId]) => defectId)}::uuid[], ${grown.map(([, assignments]) => assignments.length)}::int[],
                             ${grown.map(([, assignments]) => anonymousOn(assignments))}::int[],
                             ${grown.map(([, assignments]) => at(Math.min(...times(assignments))))}::timestamptz[],
                             ${grown.map(([, assignments]) => at(Math.max(...times(assignments))))}::timestamptz[])
          as g(defect_id, added, anonymous, first_seen_at, last_seen_at)
      ), new_reporters as (
        -- Is this sender among the defect's other reports? Looked up by the sender's reports
        -- (\`reports_reporter\`; the fence keeps the planner from walking the defect's reports
        -- instead). This statement's snapshot has the batch's reports on no defect yet.
        select n.defect_id, count(*)::int as added
        from unnest(${grownReporters.map((entry) => entry.defectId)}::uuid[], ${grownReporters.map((entry) => entry.reporter)}::text[]) as n(defect_id, reporter)
        where not exists (
          select 1 from (select other.defect_id from reports other where ${reporterIdentity('other')} = n.reporter offset 0) sent
          where sent.defect_id = n.defect_id)
        group by n.defect_id
      ), counted as (
        update defects d set report_count = d.report_count + g.added, affected_users = d.affected_users + g.anonymous + coalesce(u.added, 0),
          first_seen_at = least(d.first_seen_at, g.first_seen_at), last_seen_at = greatest(d.last_seen_at, g.last_seen_at), updated_at = now()
        from grown g left join new_reporters u on u.defect_id = g.defect_id
        where d.id = g.defect_id
      ), moved as (
        update reports r set defect_id = a.defect_id, candidates = a.candidates,
          route = case when a.complete then a.route else r.route end,
          component = case when a.complete then a.component else r.component end,
          error_signature = case when a.complete then a.error_signature else r.error_signature end,
          request_signature = case when a.complete then a.request_signature else r.request_signature end,
          release_id = case when a.complete then a.release_id else r.release_id end,
          enrichment = case when a.complete then a.enrichment else r.enrichment end,
          state = case when a.complete then 'processed' else r.state end,
          processed_at = case when a.complete then now() else r.processed_at end
        from unnest(${pending.map((assignment) => assignment.report.id)}::uuid[], ${pending.map((assignment) => assignment.defectId)}::uuid[],
                    ${pending.map((assignment) => JSON.stringify(assignment.candidates))}::jsonb[], ${pending.map(complete)}::bool[],
                    ${completed((completion) => completion.route)}::text[], ${completed((completion) => completion.component)}::text[],
                    ${completed((completion) => completion.errorSignature)}::text[], ${completed((completion) => completion.requestSignature)}::text[],
                    ${completed((completion) => completion.releaseId)}::uuid[], ${completed((completion) => JSON.stringify(completion.enrichment ?? {}))}::jsonb[])
          as a(report_id, defect_id, candidates, complete, route, component, error_signature, request_signature, release_id, enrichment)
        where r.id = a.report_id
      ), ${indexEntriesCtes(projectId, entries)}, pending_events as (
        select * from unnest(${events.map((event) => event.defectId)}::uuid[], ${events.map((event) => event.kind)}::text[],
                             ${events.map((event) => JSON.stringify(event.value))}::jsonb[], ${events.map((event) => event.at)}::timestamptz[])
          with ordinality as e(defect_id, kind, value, at, position)
      ), events as (
        insert into defect_events (project_id, defect_id, actor_user_id, actor_kind, kind, new_value, created_at)
        select ${projectId}::uuid, e.defect_id, null::uuid, ${systemActor.kind}, e.kind,
               case when e.kind = 'created' then (select ${createdEventValue} from new_defects where new_defects.id = e.defect_id) else e.value end,
               e.at
        from pending_events e order by e.position
      ), ${this.statistics.countCtes()}
      select (select document_count from corpus) as document_count, (select count(*) from new_defects)::int as opened
    `.execute(trx);
    const written = result.rows[0];
    // No counter row: the project is gone (its reports went with it).
    if (Number(written?.opened ?? 0) !== opened.length) throw new Error(`project ${projectId} was not found`);
    await this.statistics.afterCountsWritten(trx, written?.documentCount ?? null);
  }
}
