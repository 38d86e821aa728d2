/**
 * Server-side scrubbing of private data in automatically captured context (console, network,
 * URLs, breadcrumbs). The widget scrubs too; this is defence in depth for old widgets and API
 * clients. The reporter's own words are never altered.
 */

const emailPattern = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const bearerPattern = /\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
const jwtPattern = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\b/g;
/** Common secret shapes: sk_live_…, ghp_…, xoxb-…, AKIA…, and long hex or base64url blobs. */
const secretPattern = /\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}\b|\bgh[pousr]_[A-Za-z0-9]{20,}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}\b|\bAKIA[0-9A-Z]{16}\b/g;
const keyValueSecretPattern = /\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?token|auth|session(?:id)?|sid)(\s*[=:]\s*)("?)[^\s"&,;]+\3/gi;
/** 13–19 digits, optionally grouped by spaces or dashes: card-like numbers. */
const cardPattern = /\b\d(?:[ -]?\d){12,18}\b/g;
/** Any other run of 9 or more digits (phone numbers, account numbers, national ids). */
const longDigitsPattern = /\b\d{9,}\b/g;

const sensitiveQueryKeys = /^(password|passwd|pwd|secret|token|access_token|id_token|refresh_token|api_?key|key|auth|code|session|sessionid|sid|signature|sig|email)$/i;

/** Replaces emails, bearer tokens, JWTs, known secret shapes, card-like numbers and long digit runs. */
export function scrubText(value: string): string {
  return value
    .replace(jwtPattern, '[token]')
    .replace(bearerPattern, (_match, scheme: string) => `${scheme} [token]`)
    .replace(secretPattern, '[secret]')
    .replace(keyValueSecretPattern, (_match, key: string, separator: string) => `${key}${separator}[redacted]`)
    .replace(emailPattern, '[email]')
    .replace(cardPattern, (match) => (luhnValid(match.replace(/\D/g, '')) ? '[card]' : match.replace(longDigitsPattern, '[number]')))
    .replace(longDigitsPattern, '[number]');
}

/** Scrubs a URL: values of sensitive query keys are removed, the rest is scrubbed as text. */
export function scrubUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return scrubText(value);
  }
  for (const key of [...url.searchParams.keys()]) {
    if (sensitiveQueryKeys.test(key)) url.searchParams.set(key, '[redacted]');
  }
  url.username = '';
  url.password = '';
  return scrubText(url.toString().replace(/%5Bredacted%5D/g, '[redacted]'));
}

function luhnValid(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19) return false;
  let sum = 0;
  for (let index = 0; index < digits.length; index += 1) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}
