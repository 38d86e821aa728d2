import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

/**
 * A local OpenAI-compatible server implementing the endpoints Bugloop uses
 * (`POST /v1/chat/completions`, `POST /v1/embeddings`). It records every request and answers
 * with whatever the test queues: a JSON answer, an HTTP error, or a delay.
 */
export class FakeOpenAi {
  readonly requests: RecordedRequest[] = [];
  private readonly answers: Array<{ status: number; body: unknown; headers?: Record<string, string>; delayMs?: number }> = [];
  private server?: http.Server;
  url = '';
  /** Embeddings the test chooses (e.g. two texts without shared words made close); else a letter-frequency vector. */
  embeddingFor: (text: string) => number[] | undefined = () => undefined;
  /** While positive, embedding requests fail with `embeddingFailureStatus` (an outage); each failure counts down. */
  failingEmbeddings = 0;
  embeddingFailureStatus = 503;

  /** Queue the content the next chat completion returns (as the assistant message). */
  queueCompletion(content: string): void {
    this.answers.push({
      status: 200,
      body: {
        id: `chatcmpl-${this.requests.length}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: 'fake-model',
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
      },
    });
  }

  queueError(status: number, headers: Record<string, string> = {}): void {
    this.answers.push({ status, headers, body: { error: { message: `fake error ${status}`, type: 'server_error', code: null } } });
  }

  async start(): Promise<this> {
    this.server = http.createServer((request, response) => {
      let raw = '';
      request.on('data', (chunk) => (raw += chunk));
      request.on('end', async () => {
        let body: unknown = raw;
        try {
          body = JSON.parse(raw);
        } catch {
          // keep raw text
        }
        this.requests.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, body });
        if (request.method === 'POST' && request.url === '/v1/embeddings') {
          const { input, model } = body as { input?: unknown; model?: unknown };
          const inputs = Array.isArray(input) ? input : [input];
          // The documented shape: a model name and a non-empty string (or array of strings) as input.
          if (typeof model !== 'string' || !model || inputs.length === 0 || !inputs.every((text) => typeof text === 'string' && text.length > 0)) {
            response.writeHead(400, { 'content-type': 'application/json' });
            response.end(JSON.stringify({ error: { message: 'model and a non-empty input are required', type: 'invalid_request_error', code: null } }));
            return;
          }
          if (this.failingEmbeddings > 0) {
            this.failingEmbeddings -= 1;
            response.writeHead(this.embeddingFailureStatus, { 'content-type': 'application/json' });
            response.end(JSON.stringify({ error: { message: `fake outage ${this.embeddingFailureStatus}`, type: 'server_error', code: null } }));
            return;
          }
          const data = (inputs as string[]).map((text, index) => ({ object: 'embedding', index, embedding: this.embeddingFor(text) ?? embed(text) }));
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ object: 'list', model, data, usage: { prompt_tokens: 1, total_tokens: 1 } }));
          return;
        }
        if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
          response.writeHead(404, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ error: { message: 'not found' } }));
          return;
        }
        const answer = this.answers.shift() ?? { status: 500, body: { error: { message: 'no answer queued' } } };
        if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
        response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        response.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/v1`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** A deterministic 8-dimensional embedding of letter frequencies, enough for tests. */
function embed(text: string): number[] {
  const vector = new Array(8).fill(0);
  for (const character of text.toLowerCase()) vector[character.charCodeAt(0) % 8] += 1;
  const norm = Math.hypot(...vector) || 1;
  return vector.map((value) => value / norm);
}
