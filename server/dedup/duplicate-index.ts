import { type Kysely, type Transaction, sql } from 'kysely';
import type { Database } from '../db/schema';
import { preparedStatement } from '../db/prepared-statements';
import { enqueueJob } from '../outbox/job-queue';
import { textTerms, termFrequencies } from './text-terms';
import {
  type CorpusStatistics,
  type PreparedReport,
  type ReportFeatures,
  type ScoreSignals,
  type ScoreWeights,
  defaultWeights,
  denseCosine,
  prepareReport,
  prepareStoredReport,
  scoreCandidate,
} from './duplicate-score';

type Executor = Kysely<Database> | Transaction<Database>;

/** How much of the index one query reads; bounds the work per report whatever the corpus size. */
export interface RetrievalLimits {
  /** The query's highest-weighted terms used for retrieval. */
  queryTerms: number;
  /** Newest postings read per query term. */
  postingsPerTerm: number;
  /** Reports re-scored in TypeScript. */
  rescored: number;
  /** Terms found in more than this share of reports are too common to retrieve by… */
  maxDocumentShare: number;
  /** …unless the report has fewer other terms than this: then its most specific common ones fill up. */
  minimumQueryTerms: number;
}

/** Chosen on dev.jsonl with bench/dedup-tune.ts: more terms or candidates did not raise recall. */
export const defaultRetrievalLimits: Readonly<RetrievalLimits> = Object.freeze({
  queryTerms: 30,
  postingsPerTerm: 100,
  rescored: 100,
  maxDocumentShare: 0.2,
  minimumQueryTerms: 8,
});

/** How embeddings are stored: a pgvector column (nearest neighbours in SQL) or only the real[] column. */
export type EmbeddingStorage = 'vector' | 'array';

/** Reports found by embedding alone, beside those the words retrieve. */
export const nearestNeighbourCount = 20;

/** The text and structure of a report, as the engine reads it. */
export interface ReportText {
  title: string;
  description: string;
  expected?: string | null;
  receivedAt: Date;
  route: string | null;
  component: string | null;
  releaseId: string | null;
  errorSignature: string | null;
  requestSignature: string | null;
  embedding?: readonly number[] | null;
}

/** Features of a report: title terms, and description + expected behaviour as the body. */
export function reportFeatures(report: ReportText): ReportFeatures {
  return {
    titleTerms: termFrequencies(textTerms(report.title)),
    bodyTerms: termFrequencies(textTerms(`${report.description}\n${report.expected ?? ''}`)),
    receivedAt: report.receivedAt,
    route: report.route,
    component: report.component,
    releaseId: report.releaseId,
    errorSignature: report.errorSignature,
    requestSignature: report.requestSignature,
    embedding: report.embedding ?? null,
  };
}

function uniqueTerms(features: ReportFeatures): string[] {
  return [...new Set([...features.titleTerms.keys(), ...features.bodyTerms.keys()])].sort();
}

/** Loads N and the document frequencies of the given terms for a project. */
export async function loadStatistics(db: Executor, projectId: string, terms: readonly string[]): Promise<CorpusStatistics> {
  // One statement: the corpus size rides along as a row with a null term.
  const result = await sql<{ term: string | null; documentFrequency: number }>`
    select null as term, coalesce((select document_count from dedup_corpus where project_id = ${projectId}), 0) as document_frequency
    union all
    select term, document_frequency from dedup_terms where project_id = ${projectId} and term = any(${[...terms]}::text[])
  `.execute(db);
  let documentCount = 0;
  const frequencies = new Map<string, number>();
  for (const row of result.rows) {
    if (row.term === null) documentCount = row.documentFrequency;
    else frequencies.set(row.term, row.documentFrequency);
  }
  return { documentCount, documentFrequency: (term) => frequencies.get(term) ?? 0 };
}

/**
 * The query terms retrieval reads postings for, highest weight first: the distinctive ones (in at
 * most `maxDocumentShare` of the reports, once there are 50), topped up to `minimumQueryTerms`
 * with the most specific of the common ones. A report told only in a project's everyday words
 * ("checkout fails after pressing pay" where most reports are about checkout) still needs words to
 * be compared by, else every candidate scores no text at all and a flood of one problem opens a
 * defect per report (measured with bench/processing-lab.ts). The engine and the in-memory replays
 * (bench/dedup-replay.ts, bench/dedup-retrieval-lab.ts) choose through this one function.
 */
export function chooseRetrievalTerms(
  prepared: PreparedReport,
  statistics: CorpusStatistics,
  limits: RetrievalLimits = defaultRetrievalLimits,
): [term: string, weight: number][] {
  const documentLimit = statistics.documentCount < 50 ? Infinity : statistics.documentCount * limits.maxDocumentShare;
  const known = [...prepared.all.weights.entries()]
    .filter(([term]) => statistics.documentFrequency(term) > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const distinctive = known.filter(([term]) => statistics.documentFrequency(term) <= documentLimit);
  const common = known.filter(([term]) => statistics.documentFrequency(term) > documentLimit);
  return [...distinctive, ...common.slice(0, Math.max(0, limits.minimumQueryTerms - distinctive.length))].slice(0, limits.queryTerms);
}

/** One stored report scored against the query. */
export interface ScoredReport {
  reportId: string;
  defectId: string;
  score: number;
  signals: ScoreSignals;
}

/** SQL: the newest report of each of the 20 most recently seen live defects with this signature. */
function newestReportsOfDefectsWith(projectId: string, column: 'error_signature' | 'request_signature', signature: string | null) {
  return sql`(select latest.id as report_id
       from defects d
       cross join lateral (select r.id from reports r where r.defect_id = d.id order by r.received_at desc limit 1) latest
       where d.project_id = ${projectId} and d.${sql.raw(column)} = ${signature}::text and d.merged_into_id is null
       order by d.last_seen_at desc
       limit 20)`;
}

/**
 * Finds the stored reports most likely to describe the same defect: retrieval from the
 * inverted index (each query term's newest postings, accumulated by idf weight in SQL), plus
 * reports of defects with the same error or request signature, then re-scoring in TypeScript.
 * Reports of merged defects never appear: merging moves their reports to the surviving defect.
 */
export async function findSimilarReports(
  db: Executor,
  projectId: string,
  features: ReportFeatures,
  options: {
    excludeReportIds?: readonly string[];
    weights?: ScoreWeights;
    limits?: RetrievalLimits;
    /** With a query embedding: also retrieve its nearest neighbours from this storage. */
    embeddingStorage?: EmbeddingStorage;
    /**
     * N and the document frequencies of (at least) this report's terms, when the caller has them
     * already (report processing reads them once per batch); otherwise read here.
     */
    statistics?: CorpusStatistics;
    /**
     * Reports indexed earlier in the caller's batch but not written yet: compared exactly as if
     * the index had returned them (they are the newest, so retrieval would reach them).
     */
    unwritten?: readonly UnwrittenIndexEntry[];
  } = {},
): Promise<{ reports: ScoredReport[]; statistics: CorpusStatistics; prepared: PreparedReport }> {
  const weights = options.weights ?? defaultWeights;
  const limits = options.limits ?? defaultRetrievalLimits;
  const terms = uniqueTerms(features);
  const statistics = options.statistics ?? (await loadStatistics(db, projectId, terms));
  const prepared = prepareReport(features, statistics, weights);
  const retrievalTerms = chooseRetrievalTerms(prepared, statistics, limits);

  const queryOrdinals = retrievalTerms.map(([term]) => term);
  // Candidates' embeddings travel only when the query has one to compare with.
  const withEmbeddings = Boolean(features.embedding);
  const excluded = new Set(options.excludeReportIds ?? []);
  // Reports found by embedding alone (when asked) join those found by words and signatures.
  const neighbourIds = features.embedding && options.embeddingStorage ? await nearestNeighbours(db, projectId, features.embedding, options.embeddingStorage) : [];
  // One statement, since dedup runs it for every report:
  // - each query term's newest postings (index-only scan), accumulated by the query's idf weights.
  //   Ranking first by the summed weight alone and gathering counts only for the best reports
  //   keeps the per-report arrays (each group of array_agg has its own memory context, enough to
  //   spill the aggregate to disk) to the `rescored` that are read; the title and body counts
  //   travel packed in one integer (title · 65536 + body, both ≤ 32,767), so TypeScript re-scores
  //   without a second read;
  // - identical signatures, strong evidence even when the words differ ("it froze" vs "blank
  //   page"): the newest report of each of the 20 most recently seen live defects per signature
  //   (and the embedding's neighbours), without counts, unless the words found them already.
  const retrieved = await sql<CandidateRow>`${sql.raw(preparedStatement)}
    with hits as materialized (
      select p.report_id, q.ordinal::int as ordinal, p.title_count::int * 65536 + p.body_count as counts, q.weight
      from unnest(${queryOrdinals}::text[], ${retrievalTerms.map(([, weight]) => weight)}::float8[]) with ordinality as q(term, weight, ordinal)
      cross join lateral (
        select report_id, title_count, body_count from dedup_postings
        where project_id = ${projectId} and term = q.term
        order by received_at desc
        limit ${limits.postingsPerTerm}
      ) p
    ), best as (
      select report_id from hits
      group by report_id
      order by sum(weight) desc, report_id
      limit ${limits.rescored}
    ), ranked as (
      -- in query-term order: the scorer then sums in the same order (same floats)
      select hits.report_id, array_agg(hits.ordinal order by hits.ordinal) as ordinals, array_agg(hits.counts order by hits.ordinal) as counts
      from hits join best on best.report_id = hits.report_id
      group by hits.report_id
    ), signature_reports as (
      ${newestReportsOfDefectsWith(projectId, 'error_signature', features.errorSignature)}
      union
      ${newestReportsOfDefectsWith(projectId, 'request_signature', features.requestSignature)}
      union
      select unnest(${neighbourIds}::uuid[])
    ), chosen as (
      select report_id, ordinals, counts from ranked
      union all
      select s.report_id, '{}'::int[], '{}'::int[] from signature_reports s
      where not exists (select 1 from ranked where ranked.report_id = s.report_id)
    )
    select chosen.report_id, chosen.ordinals, chosen.counts,
           d.norm, d.title_norm, d.received_at, r.defect_id, r.route, r.component, r.release_id, r.error_signature, r.request_signature,
           case when ${withEmbeddings} then d.embedding end as embedding
    from chosen
    join dedup_documents d on d.report_id = chosen.report_id
    join reports r on r.id = chosen.report_id
    where r.defect_id is not null
  `.execute(db);
  const rows = retrieved.rows;

  const reports: ScoredReport[] = [];
  for (const row of rows) {
    if (excluded.has(row.reportId)) continue;
    const titleTerms = new Map<string, number>();
    const bodyTerms = new Map<string, number>();
    const visible: string[] = [];
    row.ordinals.forEach((ordinal, position) => {
      const term = queryOrdinals[Number(ordinal) - 1];
      visible.push(term);
      const titleCount = Math.floor(row.counts[position] / 65536);
      const bodyCount = row.counts[position] % 65536;
      if (titleCount > 0) titleTerms.set(term, titleCount);
      if (bodyCount > 0) bodyTerms.set(term, bodyCount);
    });
    const candidate = prepareStoredReport(
      {
        titleTerms,
        bodyTerms,
        receivedAt: new Date(row.receivedAt),
        route: row.route,
        component: row.component,
        releaseId: row.releaseId,
        errorSignature: row.errorSignature,
        requestSignature: row.requestSignature,
        embedding: row.embedding ?? null,
      },
      visible,
      row,
      statistics,
      weights,
    );
    const { score, signals } = scoreCandidate(prepared, candidate, weights);
    reports.push({ reportId: row.reportId, defectId: row.defectId, score, signals });
  }
  for (const entry of options.unwritten ?? []) {
    if (excluded.has(entry.reportId)) continue;
    // What the index would show of it: its counts for the query terms it has, found by those
    // words or, without any, by an identical signature.
    const visible = queryOrdinals.filter((term) => entry.features.titleTerms.has(term) || entry.features.bodyTerms.has(term));
    const sameSignature =
      (features.errorSignature !== null && features.errorSignature === entry.features.errorSignature) ||
      (features.requestSignature !== null && features.requestSignature === entry.features.requestSignature);
    if (visible.length === 0 && !sameSignature) continue;
    const candidate = prepareStoredReport({ ...entry.features, embedding: null }, visible, entry, statistics, weights);
    const { score, signals } = scoreCandidate(prepared, candidate, weights);
    reports.push({ reportId: entry.reportId, defectId: entry.defectId, score, signals });
  }
  reports.sort((a, b) => b.score - a.score || (a.reportId < b.reportId ? -1 : 1));
  return { reports, statistics, prepared };
}

/** A report assigned and indexed in the current batch, before the batch's writes. */
export interface UnwrittenIndexEntry {
  reportId: string;
  defectId: string;
  features: ReportFeatures;
  /** Its norms under the statistics it was indexed with, as `dedup_documents` will store them. */
  norm: number;
  titleNorm: number;
}

/** One retrieved report: its counts for the query terms it matched, its norms and structure. */
interface CandidateRow {
  reportId: string;
  ordinals: number[];
  /** Per matched term: title count · 65536 + body count. */
  counts: number[];
  norm: number;
  titleNorm: number;
  receivedAt: Date;
  defectId: string;
  route: string | null;
  component: string | null;
  releaseId: string | null;
  errorSignature: string | null;
  requestSignature: string | null;
  /** Only selected when the query has an embedding to compare with. */
  embedding?: number[] | null;
}

/**
 * The stored reports closest to an embedding: by pgvector's HNSW index (cosine distance, the
 * partial index of this dimension), or without pgvector by comparing the newest embedded
 * reports in the application (bounded, so the cost does not grow with the corpus).
 */
async function nearestNeighbours(db: Executor, projectId: string, embedding: readonly number[], storage: EmbeddingStorage): Promise<string[]> {
  if (storage === 'vector') {
    const dimensions = sql.raw(String(embedding.length));
    const found = await sql<{ reportId: string }>`
      select report_id from dedup_documents
      where project_id = ${projectId} and vector_dims(embedding_vector) = ${dimensions}
      order by embedding_vector::vector(${dimensions}) <=> ${JSON.stringify(embedding)}::vector(${dimensions})
      limit ${nearestNeighbourCount}
    `.execute(db);
    return found.rows.map((row) => row.reportId);
  }
  const recent = await sql<{ reportId: string; embedding: number[] }>`
    select report_id, embedding from dedup_documents
    where project_id = ${projectId} and embedding is not null
    order by received_at desc
    limit ${arrayScanLimit}
  `.execute(db);
  return recent.rows
    .filter((row) => row.embedding.length === embedding.length)
    .map((row) => ({ reportId: row.reportId, similarity: denseCosine(embedding, row.embedding) }))
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, nearestNeighbourCount)
    .map((row) => row.reportId);
}

/** Without pgvector, how many of the newest embedded reports one query compares. */
export const arrayScanLimit = 2000;

/**
 * SQL: the index entries of several reports as the CTEs `documents` and `postings` (one posting
 * per distinct term of each), for the caller's statement (the batch's one write).
 */
export function indexEntriesCtes(projectId: string, entries: readonly UnwrittenIndexEntry[]) {
  const clamp = (count: number | undefined) => Math.min(count ?? 0, 32_767);
  const postings = entries.flatMap((entry) =>
    uniqueTerms(entry.features).map((term) => ({
      reportId: entry.reportId,
      term,
      receivedAt: entry.features.receivedAt,
      titleCount: clamp(entry.features.titleTerms.get(term)),
      bodyCount: clamp(entry.features.bodyTerms.get(term)),
    })),
  );
  return sql`documents as (
      insert into dedup_documents (report_id, project_id, norm, title_norm, received_at)
      select report_id, ${projectId}::uuid, norm, title_norm, received_at
      from unnest(${entries.map((entry) => entry.reportId)}::uuid[], ${entries.map((entry) => entry.norm)}::float8[],
                  ${entries.map((entry) => entry.titleNorm)}::float8[], ${entries.map((entry) => entry.features.receivedAt)}::timestamptz[])
        as e(report_id, norm, title_norm, received_at)
    ), postings as (
      insert into dedup_postings (project_id, term, report_id, received_at, title_count, body_count)
      select ${projectId}::uuid, term, report_id, received_at, title_count, body_count
      from unnest(${postings.map((posting) => posting.term)}::text[], ${postings.map((posting) => posting.reportId)}::uuid[],
                  ${postings.map((posting) => posting.receivedAt)}::timestamptz[], ${postings.map((posting) => posting.titleCount)}::int[],
                  ${postings.map((posting) => posting.bodyCount)}::int[])
        as p(term, report_id, received_at, title_count, body_count)
    )`;
}

/**
 * Stored norms were computed under the idf of their time; while a project is young idf moves
 * fast, so every norm is recomputed each time the corpus doubles (amortised O(1) per report),
 * by a job after this report's commit rather than on its path.
 */
export async function afterReportIndexed(trx: Transaction<Database>, projectId: string, documentCount: number): Promise<void> {
  if (shouldRefreshNorms(documentCount)) {
    await enqueueJob(trx, {
      kind: refreshNormsJobKind,
      projectId,
      payload: { projectId },
      idempotencyKey: `${refreshNormsJobKind}:${projectId}:${documentCount}`,
    });
  }
}

/**
 * Statistics of one batch of reports indexed one after the other in one transaction: read once
 * (`loadStatistics` of all their terms), then moved on in memory as each report is indexed (+1
 * on N and on each of its terms), so each report sees what a fresh read would show in that
 * transaction. The same increments are written once, by `writeCounts` at the end of the batch:
 * one row version per distinct term and one of the corpus row per batch instead of one per
 * report (the common terms' rows are updated by nearly every report).
 */
export class RunningStatistics {
  private readonly addedTerms = new Map<string, number>();
  private addedDocuments = 0;

  private constructor(
    readonly projectId: string,
    private documentCount: number,
    private readonly frequencies: Map<string, number>,
  ) {}

  static async load(db: Executor, projectId: string, featureList: readonly ReportFeatures[]): Promise<RunningStatistics> {
    const terms = [...new Set(featureList.flatMap((features) => uniqueTerms(features)))].sort();
    const loaded = await loadStatistics(db, projectId, terms);
    return new RunningStatistics(projectId, loaded.documentCount, new Map(terms.map((term) => [term, loaded.documentFrequency(term)])));
  }

  /** The statistics as they stand now, fixed (later reports do not change them). */
  snapshot(features: ReportFeatures): CorpusStatistics {
    const frequencies = new Map(uniqueTerms(features).map((term) => [term, this.frequencies.get(term) ?? 0]));
    return { documentCount: this.documentCount, documentFrequency: (term) => frequencies.get(term) ?? 0 };
  }

  /** Counts a report just indexed (its document and postings are written by the caller). */
  indexed(features: ReportFeatures): void {
    this.documentCount += 1;
    this.addedDocuments += 1;
    for (const term of uniqueTerms(features)) {
      this.frequencies.set(term, (this.frequencies.get(term) ?? 0) + 1);
      this.addedTerms.set(term, (this.addedTerms.get(term) ?? 0) + 1);
    }
  }

  /**
   * SQL: the CTEs `frequencies` and `corpus` (which returns the new `document_count`) writing the
   * increments counted since the last call; the caller puts them into its statement and then
   * calls `afterCountsWritten` with that count. Terms go in sorted order, so concurrent batches
   * lock the same rows in the same order (no deadlocks).
   */
  countCtes() {
    const terms = [...this.addedTerms.keys()].sort();
    const increments = terms.map((term) => this.addedTerms.get(term)!);
    const documents = this.addedDocuments;
    return sql`frequencies as (
      insert into dedup_terms (project_id, term, document_frequency)
      select ${this.projectId}, term, added from unnest(${terms}::text[], ${increments}::int[]) as t(term, added)
      on conflict (project_id, term) do update set document_frequency = dedup_terms.document_frequency + excluded.document_frequency
    ), corpus as (
      insert into dedup_corpus (project_id, document_count) select ${this.projectId}, ${documents}::int where ${documents}::int > 0
      on conflict (project_id) do update set document_count = dedup_corpus.document_count + excluded.document_count
      returning document_count
    )`;
  }

  /** After the counts were written: every doubling of the corpus they passed queues a norm refresh. */
  async afterCountsWritten(trx: Transaction<Database>, documentCount: number | null): Promise<void> {
    const added = this.addedDocuments;
    this.addedTerms.clear();
    this.addedDocuments = 0;
    if (documentCount === null) return;
    for (let count = documentCount - added + 1; count <= documentCount; count += 1) await afterReportIndexed(trx, this.projectId, count);
  }
}

/** The job that recomputes a project's stored norms (see `refreshNorms`). */
export const refreshNormsJobKind = 'dedup.refresh-norms';

/** True when the corpus has just doubled (32, 64, 128 … documents): time to refresh the norms. */
export function shouldRefreshNorms(documentCount: number): boolean {
  return documentCount >= 32 && (documentCount & (documentCount - 1)) === 0;
}

/**
 * Recomputes every stored norm of a project under the current statistics, with the same
 * weighting as `prepareReport` (sublinear tf of title·boost + body, smoothed idf).
 */
export async function refreshNorms(db: Executor, projectId: string, weights: ScoreWeights = defaultWeights): Promise<void> {
  await sql`
    with corpus as (select document_count::float8 as n from dedup_corpus where project_id = ${projectId}),
    weighted as (
      select p.report_id,
             ln((corpus.n + 1) / (t.document_frequency + 1)) + 1 as idf,
             p.title_count, p.body_count
      from dedup_postings p
      join dedup_terms t on t.project_id = p.project_id and t.term = p.term
      cross join corpus
      where p.project_id = ${projectId}
    ), norms as (
      select report_id,
             sqrt(sum(power((1 + ln(body_count + title_count * ${weights.titleBoost}::float8)) * idf, 2))) as norm,
             sqrt(sum(case when title_count > 0 then power((1 + ln(title_count::float8)) * idf, 2) else 0 end)) as title_norm
      from weighted
      group by report_id
    )
    update dedup_documents d set norm = norms.norm, title_norm = norms.title_norm
    from norms where d.report_id = norms.report_id
  `.execute(db);
}
