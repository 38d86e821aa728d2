import { type Kysely, sql } from 'kysely';

/**
 * Embeddings for deduplication. `dedup_documents.embedding real[]` (from the index migration)
 * always holds the vector, so every database can store and compare them in the application.
 * Where the `vector` extension is installed (PGlite always; PostgreSQL when pgvector is), a
 * `vector` column beside it lets retrieval ask for nearest neighbours in SQL; its HNSW index
 * is created per dimension when the first embedding of that size arrives (the model, and so the
 * dimension, is configuration, not schema).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const installed = await sql<{ present: boolean }>`select exists (select 1 from pg_extension where extname = 'vector') as present`.execute(db);
  if (installed.rows[0]?.present) await sql`alter table dedup_documents add column embedding_vector vector`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table dedup_documents drop column if exists embedding_vector`.execute(db);
}
