import { isUtf8 } from 'node:buffer';
import Busboy from 'busboy';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { reportLimits } from '../../shared/report-schema';
import { AppError } from '../http/app-error';

/** A report request taken apart: the JSON (not yet validated), an optional image, an optional key field. */
export interface ReportRequestBody {
  json: unknown;
  image?: { bytes: Buffer; filename?: string };
  keyField?: string;
}

/**
 * Reads a report request with hard limits: JSON bodies up to 256 KB; multipart with one
 * `report` field (JSON, 256 KB) and one `screenshot` file (5 MB). Anything else is a clear 4xx.
 */
export async function readReportBody(ctx: Context): Promise<ReportRequestBody> {
  const type = ctx.request.type;
  if (type === 'application/json') return { json: parseJson(await readUtf8(ctx)) };
  if (type === 'multipart/form-data') return readMultipart(ctx);
  if (type === 'text/plain') {
    // navigator.sendBeacon and no-preflight fetches send JSON as text/plain.
    return { json: parseJson(await readUtf8(ctx)) };
  }
  throw new AppError('unsupported_media_type', 'Send the report as application/json or multipart/form-data');
}

/**
 * The body as text, refused unless it is valid UTF-8. Read as bytes and decoded natively: the
 * check is exact (a report may quote a real U+FFFD), and cheaper than a streaming decoder.
 */
async function readUtf8(ctx: Context): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await getRawBody(ctx.req, { limit: reportLimits.jsonBytes, length: ctx.get('content-length') || undefined });
  } catch (error) {
    throw translateBodyError(error);
  }
  if (!isUtf8(bytes)) throw new AppError('invalid_json', 'The body is not valid UTF-8');
  return bytes.toString('utf8');
}

function translateBodyError(error: unknown): AppError {
  const type = (error as { type?: string }).type;
  if (type === 'entity.too.large') return new AppError('payload_too_large', `The report JSON is larger than ${reportLimits.jsonBytes / 1024} KB`);
  if (type === 'request.size.invalid' || type === 'request.aborted') return new AppError('invalid_request', 'The request body ended early');
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return new AppError('unsupported_media_type', 'Unsupported body encoding');
  return new AppError('invalid_request', 'The request body could not be read');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AppError('invalid_json', `The body is not valid JSON: ${(error as Error).message.slice(0, 200)}`);
  }
}

function readMultipart(ctx: Context): Promise<ReportRequestBody> {
  return new Promise((resolve, reject) => {
    let busboy: Busboy.Busboy;
    try {
      busboy = Busboy({
        headers: ctx.req.headers,
        limits: { fieldSize: reportLimits.jsonBytes, fields: 5, files: 1, fileSize: reportLimits.imageBytes, parts: 8, headerPairs: 20 },
      });
    } catch (error) {
      reject(new AppError('invalid_multipart', `Malformed multipart request: ${(error as Error).message}`));
      return;
    }
    let reportText: string | undefined;
    let keyField: string | undefined;
    let image: { bytes: Buffer; filename?: string } | undefined;
    let failure: AppError | undefined;
    const fail = (error: AppError) => {
      failure ??= error;
    };
    busboy.on('field', (name, value, info) => {
      if (info.valueTruncated) fail(new AppError('payload_too_large', `The ${name} field is larger than ${reportLimits.jsonBytes / 1024} KB`));
      else if (name === 'report') reportText = value;
      else if (name === 'key') keyField = value;
    });
    let fileInProgress = false;
    busboy.on('file', (name, stream, info) => {
      if (name !== 'screenshot') {
        stream.resume();
        fail(new AppError('invalid_multipart', `Unexpected file field "${name}"; send the image as "screenshot"`));
        return;
      }
      fileInProgress = true;
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => fail(new AppError('payload_too_large', `The screenshot is larger than ${reportLimits.imageBytes / 1024 / 1024} MB`)));
      // A body cut off mid-file errors the file stream; the report must not be stored without it.
      stream.on('error', () => fail(new AppError('invalid_multipart', 'The multipart request ended in the middle of the screenshot')));
      stream.on('end', () => {
        fileInProgress = false;
        if (!(stream as unknown as { truncated?: boolean }).truncated) image = { bytes: Buffer.concat(chunks), filename: info.filename };
      });
    });
    busboy.on('partsLimit', () => fail(new AppError('invalid_multipart', 'Too many parts in the multipart request')));
    busboy.on('filesLimit', () => fail(new AppError('invalid_multipart', 'Only one screenshot can be attached')));
    busboy.on('fieldsLimit', () => fail(new AppError('invalid_multipart', 'Too many fields in the multipart request')));
    busboy.on('error', (error: Error) => reject(failure ?? new AppError('invalid_multipart', `Malformed multipart request: ${error.message}`)));
    busboy.on('close', () => {
      if (failure) return reject(failure);
      if (fileInProgress) return reject(new AppError('invalid_multipart', 'The multipart request ended in the middle of the screenshot'));
      if (reportText === undefined) return reject(new AppError('invalid_multipart', 'The multipart request has no "report" field', { field: 'report' }));
      // busboy decodes fields itself, invalid UTF-8 becoming U+FFFD; a real client never sends those bytes in JSON.
      if (reportText.includes('\uFFFD')) return reject(new AppError('invalid_json', 'The report field is not valid UTF-8'));
      try {
        resolve({ json: parseJson(reportText), image, keyField });
      } catch (error) {
        reject(error);
      }
    });
    ctx.req.on('aborted', () => reject(new AppError('invalid_request', 'The request was aborted')));
    ctx.req.pipe(busboy);
  });
}
