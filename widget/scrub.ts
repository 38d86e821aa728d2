/**
 * Scrubbing of free text (console messages, URLs, breadcrumbs) before it leaves the browser:
 * emails, bearer and basic credentials, tokens in query-like pairs, JWTs, long secrets and long
 * digit runs (card, phone and account numbers). The server scrubs again; this is the first line.
 */
const rules: Array<[RegExp, string]> = [
  [/\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, '[jwt]'],
  [/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, '[email]'],
  [/\b((?:access_|refresh_|id_|api_?|auth_?|session_?)?(?:token|key|secret|password|passwd|pwd|signature|sig|code))(["']?\s*[:=]\s*["']?)[^\s"'&,;})\]]+/gi, '$1$2[redacted]'],
  [/\b(?:sk|pk|rk|ghp|gho|xox[abp])_[A-Za-z0-9_-]{8,}/g, '[token]'],
  [/\b[A-Za-z0-9_-]{40,}\b/g, '[token]'],
  [/\b\d(?:[ -]?\d){8,}\b/g, '[number]'],
];

/** Returns `text` with secrets and personal data replaced by placeholders. */
export function scrubText(text: string): string {
  let result = text;
  for (const [pattern, replacement] of rules) result = result.replace(pattern, replacement);
  return result;
}

/**
 * Keeps a URL's origin and path (scrubbed), the allow-listed query parameters, and the fragment
 * only when asked to.
 */
export function cleanUrl(url: string, options: { allowQueryParameters?: string[]; keepFragment?: boolean } = {}): string {
  try {
    const parsed = new URL(url);
    const kept = new URLSearchParams();
    for (const name of options.allowQueryParameters ?? []) for (const value of parsed.searchParams.getAll(name)) kept.append(name, value);
    const query = kept.toString();
    return scrubText(parsed.origin + parsed.pathname) + (query ? `?${scrubText(query)}` : '') + (options.keepFragment && parsed.hash ? scrubText(parsed.hash) : '');
  } catch {
    return scrubText(url.split(/[?#]/)[0]);
  }
}
