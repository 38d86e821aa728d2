import OpenAI from 'openai';
import { type Kysely, type Transaction, sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database, Job } from '../db/schema';
import { type JobWorker, PermanentJobError, RetryLaterError, enqueueJob } from '../outbox/job-queue';
import { candidatesByDefect, reportRowFeatures, reportTitle, storedCandidateCount } from './assign-report';
import { type EmbeddingStorage, arrayScanLimit, findSimilarReports, refreshNorms, refreshNormsJobKind } from './duplicate-index';

/** The job that fetches a report's embedding and re-ranks its possible duplicates with it. */
export const embedReportJobKind = 'dedup.embed';

/** Where embeddings go on this database: a pgvector column (nearest neighbours in SQL) or only the real[] column. */
export async function detectEmbeddingStorage(db: Kysely<Database>): Promise<EmbeddingStorage> {
  const found = await sql<{ present: boolean }>`
    select exists (
      select 1 from information_schema.columns
      where table_schema = current_schema() and table_name = 'dedup_documents' and column_name = 'embedding_vector'
    ) as present
  `.execute(db);
  return found.rows[0]?.present ? 'vector' : 'array';
}

/** An OpenAI-compatible embeddings client and model, when configured. */
export interface EmbeddingService {
  client: OpenAI;
  model: string;
}

/**
 * Registers the deduplication jobs: the norm refresh (always) and, when an embeddings API is
 * configured, the embedding job. Says in one log line how embeddings are stored here.
 */
export async function registerDedupJobHandlers(
  jobs: JobWorker,
  db: Kysely<Database>,
  logger: Logger,
  embeddings: EmbeddingService | undefined,
): Promise<void> {
  jobs.register(refreshNormsJobKind, (job, trx) => refreshNorms(trx, projectIdOf(job)));
  if (!embeddings) {
    logger.info('dedup embeddings: off (no OPENAI_API_KEY, or OPENAI_EMBEDDING_MODEL=off); duplicates are found from words and structure');
    return;
  }
  const storage = await detectEmbeddingStorage(db);
  logger.info(
    storage === 'vector'
      ? `dedup embeddings: ${embeddings.model}, stored with pgvector (nearest neighbours in SQL)`
      : `dedup embeddings: ${embeddings.model}, stored as real[] (pgvector not available; compared in the application over the newest ${arrayScanLimit} reports)`,
  );
  jobs.register(embedReportJobKind, (job, trx) => embedReport(trx, embeddings, storage, reportIdOf(job)));
}

/** Queues the embedding of a processed report (in the caller's transaction; one job per report). */
export async function enqueueReportEmbedding(trx: Transaction<Database>, projectId: string, reportId: string): Promise<void> {
  await enqueueJob(trx, {
    kind: embedReportJobKind,
    projectId,
    payload: { reportId },
    idempotencyKey: `${embedReportJobKind}:${reportId}`,
    // An outage delays embeddings (backoff up to 10 minutes between tries), it never drops them.
    maxAttempts: 25,
  });
}

/** The text a report is embedded by: what the reporter wrote, as the lexical engine reads it. */
export function embeddingInput(report: { title: string; description: string; expected: string | null }): string {
  return [report.title, report.description, report.expected ?? ''].filter(Boolean).join('\n').slice(0, 8000);
}

/**
 * Fetches the report's embedding (once: a retried job reuses the stored one), stores it on the
 * report and its index document, then re-ranks the report's possible duplicates with nearest
 * neighbours combined with the lexical score. The report keeps its defect: a person merges
 * from the suggestions (the auto-merge model is calibrated on words only).
 */
export async function embedReport(trx: Transaction<Database>, service: EmbeddingService, storage: EmbeddingStorage, reportId: string): Promise<void> {
  const report = await trx.selectFrom('reports').selectAll().where('id', '=', reportId).executeTakeFirst();
  if (!report || !report.defectId) return;
  const document = await trx.selectFrom('dedupDocuments').select(['embedding']).where('reportId', '=', reportId).executeTakeFirst();
  if (!document) return;
  const title = reportTitle(report);
  let embedding = document.embedding ?? report.embedding;
  if (!embedding) {
    embedding = await fetchEmbedding(service, embeddingInput({ title, description: report.description, expected: report.expected }));
    await trx.updateTable('reports').set({ embedding }).where('id', '=', reportId).execute();
    await storeEmbedding(trx, reportId, embedding, storage);
  }
  const features = reportRowFeatures(report, embedding);
  const { reports } = await findSimilarReports(trx, report.projectId, features, { excludeReportIds: [reportId], embeddingStorage: storage });
  const candidates = candidatesByDefect(reports.filter((candidate) => candidate.defectId !== report.defectId), storedCandidateCount);
  await trx.updateTable('reports').set({ candidates: JSON.stringify(candidates) }).where('id', '=', reportId).execute();
}

async function fetchEmbedding(service: EmbeddingService, input: string): Promise<number[]> {
  try {
    const response = await service.client.embeddings.create({ model: service.model, input, encoding_format: 'float' });
    const embedding = response.data[0]?.embedding;
    if (!Array.isArray(embedding) || embedding.length === 0 || !embedding.every(Number.isFinite)) {
      throw new PermanentJobError('embeddings API answered without a usable vector');
    }
    return embedding;
  } catch (error) {
    if (error instanceof OpenAI.APIError && error.status === 429) {
      const retryAfter = Number(error.headers?.get?.('retry-after') ?? 0);
      throw new RetryLaterError('embeddings API rate limited', Math.max(1, retryAfter || 30) * 1000);
    }
    // A rejected request (bad key, unknown model, input too long) will not improve by retrying.
    if (error instanceof OpenAI.APIError && error.status && error.status >= 400 && error.status < 500 && error.status !== 408) {
      throw new PermanentJobError(`embeddings request rejected (${error.status}): ${error.message}`);
    }
    throw error;
  }
}

/**
 * Writes the vector to the index document; with pgvector also to the vector column, making
 * sure an HNSW index for this dimension exists (a partial index per dimension, so a change of
 * model never breaks inserts of the other size).
 */
async function storeEmbedding(trx: Transaction<Database>, reportId: string, embedding: number[], storage: EmbeddingStorage): Promise<void> {
  if (storage === 'array') {
    await trx.updateTable('dedupDocuments').set({ embedding }).where('reportId', '=', reportId).execute();
    return;
  }
  const dimensions = embedding.length;
  await sql`
    update dedup_documents set embedding = ${embedding}::real[], embedding_vector = ${JSON.stringify(embedding)}::vector
    where report_id = ${reportId}
  `.execute(trx);
  const indexName = `dedup_documents_embedding_${dimensions}`;
  // Looked up first: CREATE INDEX IF NOT EXISTS would take a share lock on the table even when the index exists.
  const existing = await sql`select 1 from pg_indexes where schemaname = current_schema() and indexname = ${indexName}`.execute(trx);
  if (existing.rows.length > 0) return;
  await sql`
    create index if not exists ${sql.id(indexName)} on dedup_documents
    using hnsw ((embedding_vector::vector(${sql.raw(String(dimensions))})) vector_cosine_ops)
    where vector_dims(embedding_vector) = ${sql.raw(String(dimensions))}
  `.execute(trx);
}

function projectIdOf(job: Job): string {
  const projectId = job.payload.projectId ?? job.projectId;
  if (typeof projectId !== 'string') throw new PermanentJobError(`job ${job.id} has no projectId`);
  return projectId;
}

function reportIdOf(job: Job): string {
  const reportId = job.payload.reportId;
  if (typeof reportId !== 'string') throw new PermanentJobError(`job ${job.id} has no reportId`);
  return reportId;
}
