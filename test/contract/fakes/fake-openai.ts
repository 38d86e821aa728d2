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
          const input = (body as { input: string | string[] }).input;
          const inputs = Array.isArray(input) ? input : [input];
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ object: 'list', model: 'fake-embedding', data: inputs.map((text, index) => ({ object: 'embedding', index, embedding: embed(text) })), usage: { prompt_tokens: 1, total_tokens: 1 } }));
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
