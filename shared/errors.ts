/**
 * Every error code the API can answer with. The widget and the dashboard switch on these,
 * so a code, once shipped, keeps its meaning. The HTTP status that goes with each code lives
 * beside it so server and clients agree.
 */
export const errorStatus = {
  invalid_request: 400,
  invalid_report: 400,
  invalid_json: 400,
  invalid_xml: 400,
  invalid_multipart: 400,
  /** A destination URL or host that is (or resolves to) a private, loopback, link-local or metadata address. */
  destination_address_not_allowed: 400,
  unauthenticated: 401,
  invalid_project_key: 401,
  invalid_token: 401,
  invalid_credentials: 401,
  invalid_signature: 401,
  forbidden: 403,
  origin_not_allowed: 403,
  csrf_failed: 403,
  insufficient_scope: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  image_too_large: 422,
  spam_suspected: 422,
  rate_limited: 429,
  internal_error: 500,
  database_unavailable: 503,
  shutting_down: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** The body of every error response: `{ "error": { "code", "message" } }`, plus optional detail. */
export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    /** Which input field was wrong, when one can be named (dotted path). */
    field?: string;
    /** Echoed from the `X-Request-Id` header, so a user can quote it to support. */
    requestId?: string;
  };
}

/** Narrows an unknown JSON value to an error body, for clients. */
export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const error = (value as { error?: unknown }).error;
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string';
}
