import type { InboxQuery } from '../../../shared/dashboard-api';
import { queryString } from '../api';

/** The inbox page filtered to "the defects behind" a figure. */
export function inboxHref(projectId: string, query: InboxQuery): string {
  return `/p/${projectId}${queryString({ ...query })}`;
}

/** The browser's IANA zone, so calendar days and weeks are the reader's own. */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** YYYY-MM-DD plus `days` (calendar arithmetic on the date alone, no zone involved). */
export function addDays(day: string, days: number): string {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

/**
 * A page URL with some query parameters set or removed (empty values remove), for filter bars
 * that keep their state in the URL. Changing any filter but the page offset resets the offset.
 */
export function withQueryChanges(pathname: string, search: URLSearchParams, changes: Record<string, string | undefined>): string {
  const next = new URLSearchParams(search);
  for (const [key, value] of Object.entries(changes)) {
    if (value) next.set(key, value);
    else next.delete(key);
  }
  if (!('offset' in changes)) next.delete('offset');
  const text = next.toString();
  return `${pathname}${text ? `?${text}` : ''}`;
}
