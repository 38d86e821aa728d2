import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject } from '../../server/projects/project-service';
import { startTestApp, type TestApp } from '../support/test-server';
import { FakeOpenAi } from './fakes/fake-openai';

/** The real `openai` SDK against a local fake: suggestions are stored beside the user's words. */
let fake: FakeOpenAi;
let app: TestApp;
let publicKey: string;

beforeAll(async () => {
  fake = await new FakeOpenAi().start();
  // Embeddings off: this file is about suggestions, and their retries' timing must not depend on embedding jobs.
  app = await startTestApp({ OPENAI_API_KEY: 'sk-test-key', OPENAI_BASE_URL: fake.url, OPENAI_MODEL: 'triage-model', OPENAI_EMBEDDING_MODEL: 'off' });
  publicKey = (await createProject(app.database.db, { name: 'AI' })).publicKey;
});
afterAll(async () => {
  await app.close();
  await fake.stop();
});

async function report(description: string, title?: string): Promise<string> {
  const response = await app.request('/api/v1/reports', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-bugloop-key': publicKey },
    body: JSON.stringify({ id: randomUUID(), description, title }),
  });
  return (await response.json()).id;
}

const readReport = (id: string) => app.database.db.selectFrom('reports').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

describe('AI suggestions through an OpenAI-compatible API', () => {
  it('sends the report as data and stores the suggestions without touching the user’s text', async () => {
    fake.queueCompletion(JSON.stringify({ title: 'Checkout pay button unresponsive', severity: 'critical', component: null, summary: 'Pay does nothing.' }));
    const id = await report('pay button does nothing!!', 'help');
    await app.jobs.drain();
    const stored = await readReport(id);
    expect(stored.title).toBe('help');
    expect(stored.description).toBe('pay button does nothing!!');
    expect(stored.state).toBe('processed');
    expect(stored.enrichment).toMatchObject({
      title: 'help',
      suggestions: { title: 'Checkout pay button unresponsive', severity: 'critical', summary: 'Pay does nothing.', model: 'triage-model' },
    });
    const request = fake.requests.at(-1)!;
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe('Bearer sk-test-key');
    const body = request.body as { model: string; messages: { role: string; content: string }[]; response_format: unknown };
    expect(body.model).toBe('triage-model');
    expect(body.response_format).toEqual({ type: 'json_object' });
    expect(body.messages[1].content).toContain('What happened: pay button does nothing!!');
  });

  it('never blocks the report: when the AI fails, the report is processed and the suggestion job retries', async () => {
    fake.queueError(500);
    const id = await report('Search returns nothing for any query');
    await app.jobs.drain();
    const stored = await readReport(id);
    expect(stored.state).toBe('processed');
    expect(stored.defectId).not.toBeNull();
    expect((stored.enrichment as { suggestions?: unknown }).suggestions).toBeUndefined();
    const job = await app.database.db.selectFrom('jobs').selectAll().where('idempotencyKey', '=', `report.suggest:${id}`).executeTakeFirstOrThrow();
    expect(job).toMatchObject({ state: 'pending', attempts: 1 });
    expect(job.lastError).toContain('500');
  });

  it('gives up on an answer that is not the expected JSON instead of storing it', async () => {
    fake.queueCompletion('Sure! Here is my analysis: it is broken.');
    const id = await report('Avatar upload spins forever');
    await app.jobs.drain();
    const job = await app.database.db.selectFrom('jobs').selectAll().where('idempotencyKey', '=', `report.suggest:${id}`).executeTakeFirstOrThrow();
    expect(job.state).toBe('dead');
    expect((await readReport(id)).enrichment).not.toHaveProperty('suggestions');
  });
});
