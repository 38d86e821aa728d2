import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the fake received it, raw bytes included. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** A failure to inject: answer with a status (no state change), or do the work and then answer too late. */
export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: unknown }
  | { kind: 'slow-after-success'; delayMs: number };

type Route = (request: RecordedRequest) => Promise<FakeResponse> | FakeResponse;

/**
 * The base of the fake vendor servers: a real HTTP server on a random port that records every
 * request and lets a test inject faults (500s, 429 with Retry-After, a timeout after the work was
 * done) for the next N requests matching a method and path.
 */
export class FakeServer {
  readonly requests: RecordedRequest[] = [];
  private readonly faults: { method: string; path: RegExp; fault: Fault; remaining: number; when?: (request: RecordedRequest) => boolean }[] = [];
  private server: http.Server | undefined;
  private outage: 'refuse' | 'error' | undefined;
  private port = 0;
  url = '';

  constructor(private readonly route: Route) {}

  async start(): Promise<this> {
    this.server = http.createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /**
   * The vendor goes down: `refuse` closes the port (connection refused, and open connections are
   * cut), `error` answers every request 500 without doing anything. `comeBack()` ends it, on the
   * same port.
   */
  async goDown(mode: 'refuse' | 'error'): Promise<void> {
    this.outage = mode;
    if (mode === 'refuse') await this.close();
  }

  async comeBack(): Promise<void> {
    if (this.outage === 'refuse') await this.start();
    this.outage = undefined;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The next `times` requests to `method path` (and passing `when`, e.g. one GraphQL operation) meet `fault`. */
  inject(method: string, path: RegExp, fault: Fault, times = 1, when?: (request: RecordedRequest) => boolean): void {
    this.faults.push({ method, path, fault, remaining: times, when });
  }

  /** Recorded requests to `method path`. */
  calls(method: string, path: RegExp): RecordedRequest[] {
    return this.requests.filter((request) => request.method === method && path.test(request.path));
  }

  private async handle(incoming: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const url = new URL(incoming.url ?? '/', 'http://fake');
    const request: RecordedRequest = { method: incoming.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: incoming.headers, body: Buffer.concat(chunks) };
    this.requests.push(request);
    if (this.outage) return send(response, { status: 500, body: { error: 'vendor outage' } });
    const fault = this.faults.find(
      (candidate) => candidate.remaining > 0 && candidate.method === request.method && candidate.path.test(request.path) && (!candidate.when || candidate.when(request)),
    );
    if (fault) fault.remaining -= 1;
    if (fault?.fault.kind === 'status') return send(response, { status: fault.fault.status, headers: fault.fault.headers, body: fault.fault.body ?? { error: 'injected' } });
    let answer: FakeResponse;
    try {
      answer = await this.route(request);
    } catch (error) {
      answer = { status: 500, body: { error: (error as Error).message } };
    }
    if (fault?.fault.kind === 'slow-after-success') await new Promise((resolve) => setTimeout(resolve, (fault.fault as { delayMs: number }).delayMs));
    if (!response.destroyed) send(response, answer);
  }
}

function send(response: http.ServerResponse, answer: FakeResponse): void {
  const isBuffer = Buffer.isBuffer(answer.body);
  const body = answer.body === undefined ? '' : isBuffer ? (answer.body as Buffer) : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  response.writeHead(answer.status, {
    ...(answer.body !== undefined && !isBuffer && typeof answer.body !== 'string' ? { 'content-type': 'application/json; charset=utf-8' } : {}),
    ...answer.headers,
  });
  response.end(body);
}

/** Parses a multipart/form-data body into its parts (name, filename, content type, bytes). */
export function parseMultipart(request: RecordedRequest): { name: string; filename?: string; contentType?: string; data: Buffer }[] {
  const type = request.headers['content-type'] ?? '';
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(type);
  if (!type.startsWith('multipart/form-data') || !boundary) throw new Error(`not multipart: ${type}`);
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const parts: { name: string; filename?: string; contentType?: string; data: Buffer }[] = [];
  let position = request.body.indexOf(delimiter);
  while (position !== -1) {
    const start = position + delimiter.length;
    if (request.body.subarray(start, start + 2).toString() === '--') break;
    const next = request.body.indexOf(delimiter, start);
    if (next === -1) break;
    const part = request.body.subarray(start + 2, next - 2); // skip CRLF after delimiter and before the next
    const headerEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, headerEnd).toString('utf8');
    const disposition = /content-disposition:\s*form-data;\s*name="([^"]*)"(?:;\s*filename="([^"]*)")?/i.exec(headers);
    const contentType = /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1];
    parts.push({ name: disposition?.[1] ?? '', filename: disposition?.[2], contentType, data: part.subarray(headerEnd + 4) });
    position = next;
  }
  return parts;
}

export function jsonOf(request: RecordedRequest): unknown {
  return JSON.parse(request.body.toString('utf8'));
}
