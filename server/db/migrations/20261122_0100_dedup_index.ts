import { type Kysely, sql } from 'kysely';

/**
 * The deduplication index: our own small inverted index beside the reports, because the
 * engine needs per-term document frequencies (for idf) kept up to date as reports arrive,
 * which PostgreSQL's tsvector statistics do not expose per project.
 *
 * - dedup_terms: one row per (project, term) with its document frequency, updated
 *   incrementally by each indexed report.
 * - dedup_corpus: per project, the number of indexed reports (N in idf).
 * - dedup_documents: per report, the norms of its vectors (and its embedding, when there is one).
 * - dedup_postings: (project, term) → reports containing it with the counts in title and body,
 *   newest first, so retrieval reads a bounded slice of each query term's list (an index-only
 *   scan) instead of scanning reports.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table dedup_corpus (
      project_id uuid primary key references projects(id) on delete cascade,
      document_count integer not null default 0
    );

    create table dedup_terms (
      project_id uuid not null references projects(id) on delete cascade,
      term text not null,
      document_frequency integer not null,
      primary key (project_id, term)
    );

    create table dedup_documents (
      report_id uuid primary key references reports(id) on delete cascade,
      project_id uuid not null references projects(id) on delete cascade,
      -- norms of the tf-idf vectors (all fields, title only) under the statistics at indexing time
      norm real not null,
      title_norm real not null,
      received_at timestamptz not null,
      embedding real[]
    );

    -- no foreign key to reports: a cascade would need a second index on this, the largest table;
    -- retrieval joins reports, so postings of a deleted report are never returned
    create table dedup_postings (
      project_id uuid not null references projects(id) on delete cascade,
      term text not null,
      report_id uuid not null,
      received_at timestamptz not null,
      -- occurrences in the title and in the body, so re-scoring needs no second read
      title_count smallint not null,
      body_count smallint not null
    );
    create index dedup_postings_lookup on dedup_postings (project_id, term, received_at desc) include (report_id, title_count, body_count);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists dedup_postings, dedup_documents, dedup_terms, dedup_corpus`.execute(db);
}
