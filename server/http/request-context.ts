import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { isErrorBody } from '../../shared/errors';
import { isDatabaseUnavailable } from '../db/database-errors';
import { AppError } from './app-error';

/**
 * How busy the HTTP side is: requests in flight, and requests started per second (a sliding
 * one-second window). Job workers read the rate to leave the CPU to HTTP under a flood (see
 * JobWorkerOptions.httpRequestsPerSecond). A rate, not the in-flight count: at a steady 200
 * reports/s a processing batch that holds the event loop for a moment lets 16 requests pile up,
 * and a worker that took that for a flood yielded until processing fell behind; under group
 * commit the in-flight count also dips each time a commit answers its batch, mid-flood.
 */
export class HttpLoad {
  inFlight = 0;
  private bucketStartedAt = performance.now();
  private currentBucket = 0;
  private previousBucket = 0;

  begin(): void {
    this.inFlight += 1;
    this.roll();
    this.currentBucket += 1;
  }

  end(): void {
    this.inFlight -= 1;
  }

  /** Requests started per second over the last second (the previous bucket weighted by how much of it is still inside). */
  get requestsPerSecond(): number {
    this.roll();
    const intoBucket = (performance.now() - this.bucketStartedAt) / 1000;
    return this.previousBucket * (1 - intoBucket) + this.currentBucket;
  }

  private roll(): void {
    const elapsed = performance.now() - this.bucketStartedAt;
    if (elapsed < 1000) return;
    this.previousBucket = elapsed < 2000 ? this.currentBucket : 0;
    this.currentBucket = 0;
    this.bucketStartedAt += Math.floor(elapsed / 1000) * 1000;
  }
}

const requestIdPattern = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Gives every request an id (kept from a sane incoming `X-Request-Id`, otherwise new), echoes it
 * in the response header, and puts a child logger carrying it on `ctx.state.log`.
 */
export function requestContext(logger: Logger, load?: HttpLoad): Middleware {
  return async (ctx, next) => {
    load?.begin();
    const incoming = ctx.get('x-request-id');
    const requestId = requestIdPattern.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    // Made on first use: most requests log nothing (a child logger per report measured ~2 % of the
    // request path's CPU under a flood).
    let log: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', { get: () => (log ??= logger.child({ requestId })), configurable: true, enumerable: true });
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      load?.end();
      const durationMs = Math.round((performance.now() - started) * 10) / 10;
      const line = { method: ctx.method, path: ctx.path, status: ctx.status, durationMs };
      if (ctx.status >= 500) ctx.state.log.error(line, 'request failed');
      else if (logger.isLevelEnabled('debug')) ctx.state.log.debug(line, 'request');
    }
  };
}

/**
 * Maps every error to the one error body. 4xx messages are shown; 5xx are logged with the
 * request id and answered with a generic message, so internals never leak.
 */
export function errorHandler(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new AppError('not_found', `No route for ${ctx.method} ${ctx.path}`);
      }
    } catch (caught) {
      const error = normalizeError(caught);
      const requestId = ctx.state.requestId as string | undefined;
      if (error.status >= 500) {
        (ctx.state.log ?? console).error({ err: caught }, 'unhandled error');
      }
      ctx.status = error.status;
      for (const [name, value] of Object.entries(error.headers ?? {})) ctx.set(name, value);
      ctx.body = {
        error: {
          code: error.code,
          message: error.expose ? error.message : 'Something went wrong on our side. Quote the request id to support.',
          ...(error.field ? { field: error.field } : {}),
          ...(requestId ? { requestId } : {}),
        },
      };
      if (!isErrorBody(ctx.body)) throw new Error('unreachable');
    }
  };
}

/** Turns anything thrown into an AppError: ours, Koa/http-errors, body parsers, database outages. */
export function normalizeError(caught: unknown): AppError {
  if (caught instanceof AppError) return caught;
  const error = caught as { status?: number; statusCode?: number; type?: string; message?: string; expose?: boolean };
  if (isDatabaseUnavailable(caught)) {
    return new AppError('database_unavailable', 'The database is unavailable; try again shortly.', {
      headers: { 'Retry-After': '5' },
      cause: caught,
    });
  }
  const status = error?.status ?? error?.statusCode;
  if (status === 413 || error?.type === 'entity.too.large') return new AppError('payload_too_large', 'The request body is too large.');
  if (status === 415) return new AppError('unsupported_media_type', error.message ?? 'Unsupported media type.');
  if (error?.type === 'encoding.unsupported' || error?.type === 'charset.unsupported') {
    return new AppError('unsupported_media_type', 'Unsupported content encoding or charset.');
  }
  if (status === 404) return new AppError('not_found', error.message ?? 'Not found');
  if (status && status >= 400 && status < 500) {
    return new AppError('invalid_request', error.expose === false ? 'Bad request.' : (error.message ?? 'Bad request.'));
  }
  return new AppError('internal_error', 'internal error', { cause: caught });
}
