import { createHash } from 'node:crypto';
import type { ConsoleEntry, NetworkEntry } from '../../shared/report-schema';
import { routePattern } from './route-pattern';

/**
 * Signatures group reports that share a technical cause, whatever words the users chose.
 * They hash normalized text so ids, numbers and URLs that differ between occurrences of the
 * same bug do not split the group.
 */

const hash = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 20);

/** "Cannot read properties of null (reading 'x') at 0x1f at https://a/b?c=1" → stable text. */
export function normalizeErrorMessage(message: string): string {
  return message
    .replace(/https?:\/\/[^\s)'"]+/g, '<url>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>')
    .replace(/\b0x[0-9a-f]+\b/gi, '<hex>')
    .replace(/\b[0-9a-f]{12,}\b/gi, '<hex>')
    .replace(/\d+(\.\d+)?/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 500);
}

/**
 * The top stack frames as "function@file", without line/column numbers, query strings or
 * content hashes in file names (they change with every build).
 */
export function topFrames(stack: string | undefined, count = 3): string[] {
  if (!stack) return [];
  const frames: string[] = [];
  for (const line of stack.split('\n')) {
    // Chrome: "    at fn (https://x/app.3f9a1c.js:10:5)"; Firefox/Safari: "fn@https://x/app.js:10:5"
    const match = /^\s*at\s+(?:(.+?)\s+\()?(.+?)(?::\d+)?(?::\d+)?\)?\s*$/.exec(line) ?? /^\s*(.*?)@(.+?)(?::\d+)?(?::\d+)?\s*$/.exec(line);
    if (!match) continue;
    const functionName = (match[1] ?? '<anonymous>').replace(/^async\s+/, '').trim() || '<anonymous>';
    const file = (match[2] ?? '')
      .replace(/[?#].*$/, '')
      .replace(/^.*\//, '')
      .replace(/[.-][0-9a-f]{6,}(?=\.)/i, '');
    frames.push(`${functionName}@${file}`);
    if (frames.length === count) break;
  }
  return frames;
}

/** The first error (uncaught errors and rejections before console.error calls), or undefined. */
export function primaryError(entries: readonly ConsoleEntry[] | undefined): ConsoleEntry | undefined {
  const errors = (entries ?? []).filter((entry) => entry.level === 'error');
  return errors.find((entry) => entry.source === 'uncaught' || entry.source === 'unhandledrejection') ?? errors[0];
}

/** Hash of the primary error's normalized message plus its top frames; null when no error was captured. */
export function errorSignature(entries: readonly ConsoleEntry[] | undefined): string | null {
  const error = primaryError(entries);
  if (!error) return null;
  return hash(['error', normalizeErrorMessage(error.message), ...topFrames(error.stack)].join('\n'));
}

/** A request counts as failed when it got no answer or a 4xx/5xx other than 401/404 noise. */
export function isFailedRequest(entry: NetworkEntry): boolean {
  return entry.status === 0 || entry.status >= 500 || (entry.status >= 400 && entry.status !== 401 && entry.status !== 404);
}

/** The first failed request as "METHOD /route/:id → status"; null when none failed. */
export function failedRequestKey(entries: readonly NetworkEntry[] | undefined): string | null {
  const failed = (entries ?? []).filter(isFailedRequest).sort((a, b) => a.time - b.time)[0];
  if (!failed) return null;
  let host = '';
  try {
    host = new URL(failed.url, 'http://relative.invalid').host.replace('relative.invalid', '');
  } catch {
    // relative or malformed: the route alone identifies it
  }
  return `${failed.method.toUpperCase()} ${host}${routePattern(failed.url) ?? failed.url} → ${failed.status}`;
}

export function requestSignature(entries: readonly NetworkEntry[] | undefined): string | null {
  const key = failedRequestKey(entries);
  return key ? hash(`request\n${key}`) : null;
}
