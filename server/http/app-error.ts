import { type ErrorCode, errorStatus } from '../../shared/errors';

/**
 * The one error type services throw for anything a caller did wrong (or that is temporarily
 * unavailable). The edge middleware turns it into `{ error: { code, message } }`.
 * Koa's rule applies: messages of 4xx errors are shown, messages of 5xx errors are hidden.
 */
export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  readonly expose: boolean;
  readonly field?: string;
  /** Extra response headers, e.g. Retry-After for 429. */
  readonly headers?: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { field?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = errorStatus[code];
    this.expose = this.status < 500;
    this.field = options.field;
    this.headers = options.headers;
  }
}

export const notFound = (what: string) => new AppError('not_found', `${what} not found`);
