/**
 * Turns a concrete URL into a route pattern, so /orders/8812/items and /orders/9123/items are
 * the same place: numeric ids, UUIDs, hashes and opaque tokens become `:id`.
 */
export function routePattern(url: string): string | null {
  let pathname: string;
  try {
    pathname = new URL(url, 'http://placeholder.invalid').pathname;
  } catch {
    return null;
  }
  const segments = pathname
    .split('/')
    .filter((segment, index, all) => segment !== '' || index === all.length - 1)
    .map((segment) => (isVariableSegment(safeDecode(segment)) ? ':id' : segment.toLowerCase()));
  const joined = `/${segments.filter(Boolean).join('/')}`;
  return joined.length > 300 ? joined.slice(0, 300) : joined;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function isVariableSegment(segment: string): boolean {
  if (/^\d+$/.test(segment)) return true; // 8812
  if (/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(segment)) return true; // UUID
  if (/^[0-9a-f]{8,}$/i.test(segment) && /\d/.test(segment)) return true; // hashes, object ids
  if (/^[^@\s]+@[^@\s]+$/.test(segment)) return true; // an email in a path
  // Opaque tokens: long, mixing letters and digits, no word separators (slugs have dashes).
  if (segment.length >= 16 && /\d/.test(segment) && /[A-Za-z]/.test(segment) && !/[-_.]/.test(segment)) return true;
  // Slugs ending in an id: "blue-shirt-8812" → :id (the product, not the slug, varies)
  if (/^[a-z0-9-]+-\d{3,}$/i.test(segment)) return true;
  return false;
}
