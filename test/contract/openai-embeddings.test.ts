import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectEmbeddingStorage } from '../../server/dedup/dedup-jobs';
import { termFrequencies, textTerms } from '../../server/dedup/text-terms';
import { createProject } from '../../server/projects/project-service';
import { startTestApp, type TestApp } from '../support/test-server';
import { FakeOpenAi } from './fakes/fake-openai';

/**
 * Embeddings through the real `openai` SDK against a local fake OpenAI-compatible server:
 * two reports with no word in common but close embeddings become possible duplicates, and an
 * outage of the embeddings API delays that, never loses the report or its embedding.
 */
let fake: FakeOpenAi;
let app: TestApp;
let publicKey: string;

// Same problem, no shared word (checked below): only an embedding can tell.
const first = { title: 'Checkout freezes while paying', description: 'Spinner stays forever after I confirm my card' };
const second = { title: 'Purchase screen hangs', description: 'Order page stuck, nothing moves once bank details entered' };
const third = { title: 'Basket total wrong after coupon', description: 'Discount code applied twice, price shown is negative' };
const closeVector = (tilt: number) => Array.from({ length: 16 }, (_, index) => (index === 0 ? 1 : index === 1 ? tilt : 0));

beforeAll(async () => {
  fake = await new FakeOpenAi().start();
  fake.embeddingFor = (text) => {
    if (text.includes('Checkout freezes')) return closeVector(0.05);
    if (text.includes('Purchase screen')) return closeVector(0.1);
    if (text.includes('Basket total')) return Array.from({ length: 16 }, (_, index) => (index === 5 ? 1 : 0));
    return undefined;
  };
  app = await startTestApp({ OPENAI_API_KEY: 'sk-embed-key', OPENAI_BASE_URL: fake.url, OPENAI_EMBEDDING_MODEL: 'embedding-model-x' });
  publicKey = (await createProject(app.database.db, { name: 'Embeddings' })).publicKey;
});
afterAll(async () => {
  await app.close();
  await fake.stop();
});

async function report(body: { title: string; description: string }): Promise<string> {
  const response = await app.request('/api/v1/reports', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-bugloop-key': publicKey },
    body: JSON.stringify({ id: randomUUID(), ...body }),
  });
  expect(response.status).toBe(202);
  return (await response.json()).id;
}

const readReport = (id: string) => app.database.db.selectFrom('reports').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const embedJob = (id: string) => app.database.db.selectFrom('jobs').selectAll().where('idempotencyKey', '=', `dedup.embed:${id}`).executeTakeFirstOrThrow();
const embeddingRequests = () => fake.requests.filter((request) => request.path === '/v1/embeddings');
type Candidate = { defectId: string; score: number; signals: Record<string, number> };

describe('embeddings through an OpenAI-compatible API', () => {
  it('the fixture pair shares no index term', () => {
    const terms = (text: { title: string; description: string }) => new Set(termFrequencies(textTerms(`${text.title} ${text.description}`)).keys());
    const shared = [...terms(first)].filter((term) => terms(second).has(term));
    expect(shared).toEqual([]);
  });

  it('suggests an embedding-close report with no shared words as the first possible duplicate', async () => {
    const firstId = await report(first);
    await app.jobs.drain();
    const firstStored = await readReport(firstId);
    expect(firstStored.state).toBe('processed');
    expect(firstStored.embedding).toHaveLength(16);

    const secondId = await report(second);
    await app.jobs.drain();
    const secondStored = await readReport(secondId);
    expect(secondStored.defectId).not.toBe(firstStored.defectId);
    const candidates = secondStored.candidates as Candidate[];
    expect(candidates[0]?.defectId).toBe(firstStored.defectId);
    expect(candidates[0].signals.text).toBe(0);
    expect(candidates[0].signals.embedding).toBeGreaterThan(0.99);

    const request = embeddingRequests().at(-1)!;
    expect(request.headers.authorization).toBe('Bearer sk-embed-key');
    expect(request.body).toMatchObject({ model: 'embedding-model-x', encoding_format: 'float' });
    expect((request.body as { input: string }).input).toContain('Purchase screen hangs');
  });

  it('stores embeddings with pgvector where the database has it, as real[] otherwise', async () => {
    const storage = await detectEmbeddingStorage(app.database.db);
    expect(storage).toBe(app.database.capabilities.vector ? 'vector' : 'array');
    const stored = await sql<{ count: number }>`select count(*)::int as count from dedup_documents where embedding is not null`.execute(app.database.db);
    expect(stored.rows[0].count).toBeGreaterThanOrEqual(2);
    if (storage === 'vector') {
      const vectors = await sql<{ count: number }>`select count(*)::int as count from dedup_documents where embedding_vector is not null`.execute(app.database.db);
      expect(vectors.rows[0].count).toBe(stored.rows[0].count);
      const index = await sql`select 1 from pg_indexes where indexname = 'dedup_documents_embedding_16'`.execute(app.database.db);
      expect(index.rows).toHaveLength(1);
    }
  });

  it('an API outage delays the embedding and never fails or loses the report', async () => {
    fake.failingEmbeddings = 1_000;
    const before = embeddingRequests().length;
    const id = await report(third);
    await app.jobs.drain();
    const stored = await readReport(id);
    expect(stored.state).toBe('processed');
    expect(stored.defectId).not.toBeNull();
    expect(stored.embedding).toBeNull();
    let job = await embedJob(id);
    expect(job.state).toBe('pending');
    expect(job.attempts).toBeGreaterThanOrEqual(1);
    expect(job.lastError).toContain('503');
    expect(job.runAt.getTime()).toBeGreaterThan(Date.now() - 1000);

    // The outage ends; the next try (made due now rather than after its backoff) succeeds.
    fake.failingEmbeddings = 0;
    await app.database.db.updateTable('jobs').set({ runAt: new Date() }).where('id', '=', job.id).execute();
    await app.jobs.drain();
    const failedTries = job.attempts;
    job = await embedJob(id);
    expect(job).toMatchObject({ state: 'done', attempts: failedTries + 1 });
    expect(embeddingRequests().length - before).toBe(failedTries + 1);
    expect((await readReport(id)).embedding).toHaveLength(16);
  });

  it('queues one embedding job per report, whatever happens to the processing job', async () => {
    const jobs = await sql<{ key: string; count: number }>`
      select idempotency_key as key, count(*)::int as count from jobs where kind = 'dedup.embed' group by idempotency_key
    `.execute(app.database.db);
    expect(jobs.rows).toHaveLength(3);
    for (const row of jobs.rows) expect(row.count).toBe(1);
  });
});
