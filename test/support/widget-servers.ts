import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import zlib from 'node:zlib';
import busboy from 'busboy';
import { reportLimits, reportReference, reportSchema, type Report } from '../../shared/report-schema';

/**
 * Three local origins for the widget's browser tests and benchmark, as a real embedding has them:
 * - the page origin serves the fixture pages (test/fixtures/widget-pages);
 * - the asset origin serves images with and without CORS headers;
 * - the ingest origin serves the built widget (dist/widget) and a recording `POST /api/v1/reports`
 *   that implements the ingest contract (key header, JSON or multipart, schema validation, CORS for
 *   the page origin, spam guard, idempotent ids) and keeps what it received. It can be stopped
 *   and started again on the same port, for the offline-queue test.
 */

const repository = path.resolve(import.meta.dirname, '../..');
const widgetFolder = path.join(repository, 'dist/widget');
const fixtureFolder = path.join(repository, 'test/fixtures/widget-pages');

/** The key the recording server accepts. */
export const testProjectKey = 'pk_testwidget0123456789';

/** Encodes an RGBA image as PNG with Node's zlib (no native dependency). */
export function encodePng(width: number, height: number, pixel: (x: number, y: number) => [number, number, number, number]): Buffer {
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 4 + 1);
    for (let x = 0; x < width; x++) raw.set(pixel(x, y), row + 1 + x * 4);
  }
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A striped test picture, so a missing or shifted image shows in a pixel comparison. */
const testPicture = encodePng(160, 120, (x, y) => (((x >> 4) + (y >> 4)) % 2 ? [37, 99, 235, 255] : [250, 204, 21, 255]));

/** One request the recording server received. */
export interface ReceivedReport {
  report: Report;
  headers: http.IncomingHttpHeaders;
  image?: { type: string; bytes: Buffer };
  duplicate: boolean;
  receivedAt: number;
}

interface Listening {
  server: http.Server;
  url: string;
}

async function listen(handler: http.RequestListener, port = 0): Promise<Listening> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function close(listening: Listening | undefined): Promise<void> {
  if (!listening) return;
  listening.server.closeAllConnections();
  await new Promise<void>((resolve) => listening.server.close(() => resolve()));
}

function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

const fail = (response: http.ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}) =>
  sendJson(response, status, { error: { code, message } }, headers);

interface ParsedBody {
  json?: string;
  image?: { type: string; bytes: Buffer };
  key?: string;
}

async function readBody(request: http.IncomingMessage): Promise<ParsedBody> {
  const type = request.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) {
    return new Promise((resolve, reject) => {
      const parsed: ParsedBody = {};
      const parser = busboy({ headers: request.headers, limits: { fileSize: reportLimits.imageBytes + 1, fieldSize: reportLimits.jsonBytes + 1 } });
      parser.on('field', (name, value) => {
        if (name === 'report') parsed.json = value;
        if (name === 'key') parsed.key = value;
      });
      parser.on('file', (name, stream, info) => {
        const parts: Buffer[] = [];
        stream.on('data', (part: Buffer) => parts.push(part));
        stream.on('end', () => {
          if (name === 'screenshot') parsed.image = { type: info.mimeType, bytes: Buffer.concat(parts) };
        });
      });
      parser.on('close', () => resolve(parsed));
      parser.on('error', reject);
      request.pipe(parser);
    });
  }
  const parts: Buffer[] = [];
  for await (const part of request) parts.push(part as Buffer);
  return { json: Buffer.concat(parts).toString('utf8') };
}

/** The recording ingest server (see the file comment). */
export class RecordingServer {
  readonly received: ReceivedReport[] = [];
  /** Requests of any kind, including preflights and rejected ones. */
  readonly requests: Array<{ method: string; path: string; status: number }> = [];
  private listening: Listening | undefined;
  private port = 0;
  private readonly widgetFiles = new Map<string, Buffer>();

  constructor(private readonly allowedOrigins: () => string[]) {
    if (!existsSync(path.join(widgetFolder, 'widget.js'))) throw new Error('dist/widget/widget.js is missing: run `npm run build:widget` first');
    for (const file of readdirSync(widgetFolder)) if (file.endsWith('.js')) this.widgetFiles.set(`/${file}`, readFileSync(path.join(widgetFolder, file)));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Reports stored once per client id (what the real server keeps). */
  get stored(): ReceivedReport[] {
    return this.received.filter((entry) => !entry.duplicate);
  }

  async start(): Promise<void> {
    this.listening = await listen((request, response) => {
      this.handle(request, response).catch((error) => fail(response, 500, 'internal_error', String(error)));
    }, this.port);
    this.port = Number(new URL(this.listening.url).port);
  }

  async stop(): Promise<void> {
    await close(this.listening);
    this.listening = undefined;
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.url);
    response.on('finish', () => this.requests.push({ method: request.method ?? '', path: url.pathname, status: response.statusCode }));
    const widgetFile = this.widgetFiles.get(url.pathname);
    if (widgetFile && request.method === 'GET') {
      response.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' });
      return void response.end(widgetFile);
    }
    if (url.pathname !== '/api/v1/reports') return fail(response, 404, 'not_found', 'Not found');
    const origin = request.headers.origin;
    const cors: Record<string, string> =
      origin && this.allowedOrigins().includes(origin) ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } : {};
    if (request.method === 'OPTIONS') {
      response.writeHead(204, { ...cors, 'Access-Control-Allow-Methods': 'POST', 'Access-Control-Allow-Headers': 'content-type, x-bugloop-key', 'Access-Control-Max-Age': '600' });
      return void response.end();
    }
    if (request.method !== 'POST') return fail(response, 405, 'method_not_allowed', 'Use POST', cors);
    if (origin && !cors['Access-Control-Allow-Origin']) return fail(response, 403, 'origin_not_allowed', `Origin ${origin} is not allowed`);
    const body = await readBody(request);
    const key = (request.headers['x-bugloop-key'] as string | undefined) ?? body.key;
    if (key !== testProjectKey) return fail(response, 401, 'invalid_project_key', 'Unknown project key', cors);
    if (!body.json) return fail(response, 400, 'invalid_request', 'The report part is missing', cors);
    if (Buffer.byteLength(body.json) > reportLimits.jsonBytes) return fail(response, 413, 'payload_too_large', 'Report JSON over 256 KB', cors);
    let parsedJson: unknown;
    try {
      parsedJson = JSON.parse(body.json);
    } catch {
      return fail(response, 400, 'invalid_json', 'The report is not JSON', cors);
    }
    const result = reportSchema.safeParse(parsedJson);
    if (!result.success) return fail(response, 400, 'invalid_report', result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '), cors);
    if (body.image) {
      if (!(reportLimits.imageTypes as readonly string[]).includes(body.image.type)) return fail(response, 415, 'unsupported_image', `Image type ${body.image.type}`, cors);
      if (body.image.bytes.length > reportLimits.imageBytes) return fail(response, 413, 'payload_too_large', 'Image over 5 MB', cors);
    }
    const openedAt = result.data.client?.openedAt;
    if (openedAt !== undefined && Date.now() - openedAt < 1500) return fail(response, 422, 'spam_suspected', 'Sent too fast after opening', cors);
    const duplicate = this.received.some((entry) => entry.report.id === result.data.id);
    this.received.push({ report: result.data, headers: request.headers, image: body.image, duplicate, receivedAt: Date.now() });
    const serverId = idFor(result.data.id);
    sendJson(response, 202, { status: 'accepted', id: serverId, clientId: result.data.id, reference: reportReference(serverId), duplicate }, cors);
  }
}

const serverIds = new Map<string, string>();
function idFor(clientId: string): string {
  if (!serverIds.has(clientId)) serverIds.set(clientId, randomUUID());
  return serverIds.get(clientId)!;
}

/** The fixture pages, by name (file name without `.html`). */
export const fixturePages = ['plain', 'oklch', 'cross-origin-images', 'shadow-dom', 'large-dom', 'strict-csp', 'iframe-canvas-svg'] as const;
export type FixturePage = (typeof fixturePages)[number];

/** Everything a widget test or benchmark needs. */
export interface WidgetServers {
  pageOrigin: string;
  assetOrigin: string;
  ingest: RecordingServer;
  /** URL of a fixture page; `query` adds data attributes (e.g. `hideButton`). */
  pageUrl(page: FixturePage | string, query?: Record<string, string>): string;
  close(): Promise<void>;
}

/**
 * Starts the three origins. `widget` points the pages at another server for the widget and its
 * endpoint (the real app, in the end-to-end test) instead of the recording one.
 */
export async function startWidgetServers(options: { widget?: { url: string; projectKey: string } } = {}): Promise<WidgetServers> {
  let pageOrigin = '';
  const ingest = new RecordingServer(() => [pageOrigin]);
  await ingest.start();

  const assets = await listen((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname.endsWith('.png')) {
      const headers: Record<string, string> = { 'Content-Type': 'image/png', 'Cache-Control': 'no-store' };
      if (url.pathname.startsWith('/cors/')) headers['Access-Control-Allow-Origin'] = '*';
      response.writeHead(200, headers);
      return void response.end(testPicture);
    }
    response.writeHead(404).end();
  });

  const pages = await listen((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/api/broken')) {
      response.writeHead(500, { 'Content-Type': 'application/json' });
      return void response.end('{"error":{"code":"internal_error","message":"broken on purpose"}}');
    }
    if (url.pathname === '/favicon.ico') return void response.writeHead(204).end();
    if (url.pathname === '/picture.png') {
      response.writeHead(200, { 'Content-Type': 'image/png' });
      return void response.end(testPicture);
    }
    const name = url.pathname.replace(/^\/|\.html$/g, '') || 'plain';
    const file = path.join(fixtureFolder, `${name}.html`);
    if (!/^[a-z0-9-]+$/.test(name) || !existsSync(file)) return void response.writeHead(404).end('no such fixture');
    const nonce = randomBytes(12).toString('base64');
    const dataAttributes = [...url.searchParams].map(([key, value]) => ` data-${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}="${value.replace(/"/g, '&quot;')}"`).join('');
    const widgetUrl = options.widget?.url ?? ingest.url;
    const projectKey = options.widget?.projectKey ?? testProjectKey;
    const html = readFileSync(file, 'utf8')
      .replaceAll('{{NONCE}}', nonce)
      .replaceAll('{{ASSETS}}', assets.url)
      .replaceAll('{{WIDGET_MODULE}}', `${widgetUrl}/widget-module.js`)
      .replaceAll('{{WIDGET_SERVER}}', widgetUrl)
      .replaceAll('{{PROJECT_KEY}}', projectKey)
      .replaceAll(
        '{{WIDGET}}',
        `<script nonce="${nonce}" src="${widgetUrl}/widget.js" data-project-key="${projectKey}" data-release="2.3.4" data-environment="test"${dataAttributes} async></script>`,
      );
    const headers: Record<string, string> = { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' };
    if (name === 'strict-csp')
      headers['Content-Security-Policy'] = [
        `default-src 'self'`,
        `script-src 'nonce-${nonce}' 'strict-dynamic'`,
        `style-src 'self' 'nonce-${nonce}'`,
        `img-src 'self' data: blob: ${assets.url}`,
        `connect-src 'self' ${widgetUrl} ${assets.url}`,
        `object-src 'none'`,
        `base-uri 'none'`,
      ].join('; ');
    response.writeHead(200, headers);
    response.end(html);
  });
  pageOrigin = pages.url;

  return {
    pageOrigin,
    assetOrigin: assets.url,
    ingest,
    pageUrl: (page, query = {}) => `${pages.url}/${page}.html${Object.keys(query).length ? `?${new URLSearchParams(query)}` : ''}`,
    async close() {
      await Promise.all([ingest.stop(), close(assets), close(pages)]);
    },
  };
}
