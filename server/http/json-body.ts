import type { Context } from 'koa';
import getRawBody from 'raw-body';
import type { z } from 'zod';
import { AppError } from './app-error';

const defaultLimitBytes = 64 * 1024;

/**
 * Reads a JSON request body (dashboard and API mutations) with a size limit. An empty body is
 * `{}`, so DELETE-like POSTs need no body; anything but application/json is a 415.
 */
export async function readJsonBody(ctx: Context, limitBytes = defaultLimitBytes): Promise<unknown> {
  const length = ctx.get('content-length');
  if (length === '0' || (!length && !ctx.get('transfer-encoding'))) return {};
  if (ctx.request.type !== 'application/json') throw new AppError('unsupported_media_type', 'Send the body as application/json');
  let text: string;
  try {
    text = await getRawBody(ctx.req, { limit: limitBytes, encoding: 'utf8', length: length || undefined });
  } catch (error) {
    if ((error as { type?: string }).type === 'entity.too.large') throw new AppError('payload_too_large', `The body is larger than ${limitBytes / 1024} KB`);
    throw new AppError('invalid_request', 'The request body could not be read');
  }
  if (text.trim() === '') return {};
  return parseJson(text);
}

/** How deep API bodies may nest; real ones stay under 10, and deeper ones only cost stack. */
export const maxJsonDepth = 64;

/**
 * JSON.parse behind a nesting limit, checked on the text before parsing, so a body of
 * `[[[[…` cannot overflow a stack in JSON.stringify, zod or PostgreSQL's jsonb later on.
 */
export function parseJson(text: string): unknown {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c) index += 1; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) {
      depth += 1;
      if (depth > maxJsonDepth) throw new AppError('invalid_json', `The body nests deeper than ${maxJsonDepth} levels`);
    } else if (char === 0x5d || char === 0x7d) depth -= 1;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AppError('invalid_json', `The body is not valid JSON: ${(error as Error).message.slice(0, 200)}`);
  }
}

/** Validates a value with a zod schema; the first problem becomes a 400 naming its field. */
export function parseWith<Schema extends z.ZodType>(schema: Schema, value: unknown): z.output<Schema> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.join('.');
  throw new AppError('invalid_request', field ? `${field}: ${issue.message}` : issue.message, field ? { field } : {});
}

/** Reads and validates a JSON body in one step. */
export async function readBody<Schema extends z.ZodType>(ctx: Context, schema: Schema): Promise<z.output<Schema>> {
  return parseWith(schema, await readJsonBody(ctx));
}
