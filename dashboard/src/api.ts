import { type ErrorCode, isErrorBody } from '../../shared/errors';

/** An API call that failed: the server's error code and message, or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'network_error',
    message: string,
  ) {
    super(message);
  }
}

let csrfToken = '';
let onUnauthenticated: () => void = () => {};

/** The CSRF token of this session (from /me or sign-in), sent on every mutation. */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** Called when the session has ended (401), so the app can show the sign-in page. */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

/** A request body sent as it is (a CSV upload) instead of as JSON. */
export class RawBody {
  constructor(
    readonly text: string,
    readonly contentType: string,
  ) {}
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const raw = body instanceof RawBody ? body : undefined;
  if (body !== undefined) headers['content-type'] = raw?.contentType ?? 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : raw ? raw.text : JSON.stringify(body), credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network_error', 'The server cannot be reached. Check your connection and try again.');
  }
  if (response.status === 204) return undefined as T;
  const data: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    if (response.status === 401 && path !== '/session') onUnauthenticated();
    if (isErrorBody(data)) throw new ApiError(response.status, data.error.code, data.error.message);
    throw new ApiError(response.status, 'internal_error', `The server answered ${response.status}.`);
  }
  return data as T;
}

const prefetched = new Map<string, Promise<unknown>>();

/**
 * Starts a GET before the page that needs it has rendered (the first inbox page is requested
 * together with /me instead of after it). The next `api.get` of the same path takes it, once.
 */
export function prefetch(path: string): void {
  const pending = request('GET', path);
  prefetched.set(path, pending);
  // A failed prefetch (no session yet) is forgotten, so the page asks again after sign-in.
  pending.catch(() => prefetched.delete(path));
}

/** The dashboard's only way to the server: JSON in, JSON out, errors as ApiError. */
export const api = {
  get: <T>(path: string) => {
    const early = prefetched.get(path);
    if (early) {
      prefetched.delete(path);
      return early as Promise<T>;
    }
    return request<T>('GET', path);
  },
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  delete: <T = void>(path: string) => request<T>('DELETE', path),
};

/** Builds a query string from the set values only. */
export function queryString(values: Record<string, string | number | boolean | undefined | null>): string {
  const parameters = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== '' && value !== false) parameters.set(key, String(value));
  }
  const text = parameters.toString();
  return text ? `?${text}` : '';
}
