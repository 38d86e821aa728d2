import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { AppError } from '../http/app-error';
import { parseJson } from '../http/json-body';

/** The request body's exact bytes (signatures are computed over them), with a size limit. */
export async function readRawBody(ctx: Context, limit = '1mb'): Promise<Buffer> {
  return getRawBody(ctx.req, { limit, length: ctx.get('content-length') || undefined });
}

/** A JSON request body; 415 when it is not JSON, 400 when it does not parse. */
export async function readJsonBody(ctx: Context, limit = '256kb'): Promise<unknown> {
  if (!ctx.is('application/json')) throw new AppError('unsupported_media_type', 'Send a JSON body with Content-Type: application/json');
  const raw = await readRawBody(ctx, limit);
  return parseJson(raw.toString('utf8'));
}
