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
