import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { Kysely } from 'kysely';
import { glob } from 'tinyglobby';
import type { Database } from '../db/schema';
import { AppError } from '../http/app-error';
import { findProjectById } from '../projects/project-service';
import { importTestRun, type TestRunSummary } from './test-run-import';

/** Options of `bugloop import-junit`. */
export interface ImportJunitOptions {
  patterns: string[];
  projectId: string;
  release: string;
  build?: string;
  environment?: string;
  commit?: string;
  /** Where progress goes (stderr); a bar when it is a terminal, a line per 10% otherwise. */
  progress?: NodeJS.WriteStream;
  /** The database has no other session (`DatabaseHandle.soleSession`); see TestRunInput. */
  soleSession?: boolean;
}

/** Reports from this size on get a progress display. */
const progressThresholdBytes = 5 * 1024 * 1024;

/** Expands files and globs (sorted, de-duplicated); an unmatched pattern is an error. */
export async function expandReportPatterns(patterns: string[]): Promise<string[]> {
  const files = new Set<string>();
  for (const pattern of patterns) {
    const matches = /[*?[\]{}]/.test(pattern) ? await glob(pattern, { onlyFiles: true, absolute: false }) : [pattern];
    const existing = matches.filter((file) => {
      try {
        return statSync(file).isFile();
      } catch {
        return false;
      }
    });
    if (existing.length === 0) throw new AppError('invalid_request', `No JUnit file matches ${pattern}`);
    for (const file of existing.sort()) files.add(file);
  }
  return [...files];
}

/**
 * The files the patterns name, and a reader of each that moves the progress display on (bytes
 * read of all files; shown from 5 MB on). Shared by the direct import and the upload.
 */
async function openReports(options: Pick<ImportJunitOptions, 'patterns' | 'progress'>) {
  const files = await expandReportPatterns(options.patterns);
  const totalBytes = files.reduce((sum, file) => sum + statSync(file).size, 0);
  const progress = options.progress && totalBytes >= progressThresholdBytes ? new ProgressDisplay(options.progress, totalBytes) : undefined;
  async function* read(file: string): AsyncGenerator<Buffer> {
    for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
      progress?.advance((chunk as Buffer).length);
      yield chunk as Buffer;
    }
  }
  return { files, progress, read };
}

/**
 * Imports JUnit files as one run and returns the summary. Progress (bytes read of all files)
 * goes to `options.progress` when the files add up to 5 MB or more.
 */
export async function importJunitFiles(db: Kysely<Database>, options: ImportJunitOptions): Promise<{ files: string[]; summary: TestRunSummary }> {
  if (!(await findProjectById(db, options.projectId))) throw new AppError('not_found', `No project with id ${options.projectId}`);
  const { files, progress, read } = await openReports(options);
  try {
    const summary = await importTestRun(
      db,
      {
        projectId: options.projectId,
        release: options.release,
        build: options.build,
        environment: options.environment,
        commit: options.commit,
        source: `cli: ${files.length === 1 ? files[0] : `${files.length} files`}`,
        pathRoots: [process.cwd()],
        actor: { kind: 'integration' },
        soleSession: options.soleSession,
      },
      files.map((file) => ({ name: file, body: read(file) })),
    );
    return { files, summary };
  } finally {
    progress?.finish();
  }
}

/** Options of `bugloop import-junit --server URL`: the same run, sent to a running Bugloop. */
export interface UploadJunitOptions extends Omit<ImportJunitOptions, 'projectId'> {
  serverUrl: string;
  /** An API token with the test-runs:write scope (its project is the run's project). */
  token: string;
}

/**
 * Sends JUnit files to a running server (`POST /api/v1/test-runs`) as one run, gzip-compressed
 * and streamed: a CI job needs no database access, and the embedded server (PGlite, one process
 * per data folder) keeps running while it imports. Several files travel as one document: each
 * file's XML declaration is dropped and the files are wrapped in one `<testsuites>` (nested
 * suites are JUnit the parser reads). Answers the server's summary; a refusal (or no answer at
 * all) is a ServerRefusal with the server's status, code and message.
 */
export async function uploadJunitFiles(options: UploadJunitOptions): Promise<{ files: string[]; summary: TestRunSummary }> {
  const { files, progress, read } = await openReports(options);
  async function* document(): AsyncGenerator<Buffer> {
    if (files.length > 1) yield Buffer.from('<testsuites>\n');
    for (const file of files) {
      let first = true;
      for await (const chunk of read(file)) {
        yield files.length > 1 && first ? withoutXmlDeclaration(chunk, file) : chunk;
        first = false;
      }
    }
    if (files.length > 1) yield Buffer.from('\n</testsuites>\n');
  }
  const url = new URL('/api/v1/test-runs', options.serverUrl);
  for (const [name, value] of Object.entries({ release: options.release, build: options.build, environment: options.environment, commit: options.commit })) {
    if (value) url.searchParams.set(name, value);
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/xml', 'content-encoding': 'gzip' },
      body: Readable.from(document()).pipe(createGzip()) as unknown as BodyInit,
      duplex: 'half',
    } as RequestInit);
  } catch (error) {
    if (error instanceof AppError) throw error;
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    throw new ServerRefusal(0, 'unreachable', `Could not send the run to ${url.origin}: ${cause}`);
  } finally {
    progress?.finish();
  }
  const body = (await response.json().catch(() => undefined)) as { error?: { code: string; message: string } } | TestRunSummary | undefined;
  if (!response.ok || !body || 'error' in body) {
    const failure = body && 'error' in body ? body.error : undefined;
    throw new ServerRefusal(response.status, failure?.code ?? 'unexpected_answer', failure?.message ?? `The server answered ${response.status}`);
  }
  return { files, summary: body as TestRunSummary };
}

/** What the server answered when it refused an upload. */
export class ServerRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The first chunk of a file without its byte-order mark and XML declaration, so it can be nested
 * in another document. A declared encoding other than UTF-8 cannot be nested (the document has
 * one encoding): refused rather than garbled.
 */
export function withoutXmlDeclaration(chunk: Buffer, file: string): Buffer {
  const head = chunk.subarray(0, 512).toString('latin1');
  const match = /^(?:\xEF\xBB\xBF)?\s*(<\?xml\b[^?]*\?>)?/.exec(head)!;
  const encoding = /encoding\s*=\s*["']([^"']+)["']/i.exec(match[1] ?? '')?.[1];
  if (encoding && !/^(utf-?8|us-ascii|ascii)$/i.test(encoding)) {
    throw new AppError('invalid_request', `${file} is encoded as ${encoding}; send files encoded as UTF-8, or one file at a time`);
  }
  return chunk.subarray(Buffer.byteLength(match[0], 'latin1'));
}

/** The lines `bugloop import-junit` prints at the end. */
export function formatSummary(files: string[], release: string, summary: TestRunSummary): string {
  const failed = summary.failed + summary.errors;
  return [
    `Imported ${files.length} file${files.length === 1 ? '' : 's'} as test run ${summary.runId} (release ${release})`,
    `  cases:        ${summary.cases}`,
    `  passed:       ${summary.passed}`,
    `  failed:       ${failed}${summary.errors ? ` (${summary.errors} errors)` : ''}`,
    `  skipped:      ${summary.skipped}`,
    `  flaky:        ${summary.flaky}`,
    `  new cases:    ${summary.newCases}`,
    `  new defects:  ${summary.newDefects}${summary.updatedDefects ? ` (${summary.updatedDefects} existing defects failed again)` : ''}`,
  ].join('\n');
}

/** A progress bar on a terminal; on a CI log (not a terminal) one line per 10%. Exported for tests. */
export class ProgressDisplay {
  private done = 0;
  private lastDraw = 0;
  private lastDecile = -1;
  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly total: number,
  ) {}

  advance(bytes: number): void {
    this.done += bytes;
    const fraction = Math.min(this.done / this.total, 1);
    if (this.stream.isTTY) {
      const now = Date.now();
      if (now - this.lastDraw < 100 && fraction < 1) return;
      this.lastDraw = now;
      const width = 30;
      const filled = Math.round(fraction * width);
      this.stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${mb(this.done)} / ${mb(this.total)}`);
    } else {
      const decile = Math.floor(fraction * 10);
      if (decile === this.lastDecile) return;
      this.lastDecile = decile;
      this.stream.write(`reading reports: ${decile * 10}% (${mb(this.done)} of ${mb(this.total)})\n`);
    }
  }

  finish(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
