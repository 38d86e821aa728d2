import type { Middleware } from 'koa';
import { AppError } from './app-error';

/** Whether a decoded value can be text in PostgreSQL (no NUL) and in JSON (no lone surrogate). */
function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}

/**
 * Refuses, before any route runs, a path or query string that cannot be text: malformed
 * percent-encoding, NUL characters (PostgreSQL text cannot hold them, so a lookup by such an
 * id would fail as a 500) and lone surrogates. Routes then only see ids and filters that a
 * query can carry; whether they name anything is theirs to answer.
 */
export function requestGuard(): Middleware {
  return async (ctx, next) => {
    for (const segment of ctx.path.split('/')) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        throw new AppError('invalid_request', 'The path has malformed percent-encoding');
      }
      if (!isStorableText(decoded)) throw new AppError('invalid_request', 'The path contains characters that are not valid text (NUL or a lone surrogate)');
    }
    for (const [name, value] of Object.entries(ctx.query)) {
      for (const text of [name, ...(Array.isArray(value) ? value : [value ?? ''])]) {
        if (!isStorableText(text)) throw new AppError('invalid_request', `The query parameter ${JSON.stringify(name.slice(0, 40))} contains characters that are not valid text`, { field: name.slice(0, 40) });
      }
    }
    return next();
  };
}
