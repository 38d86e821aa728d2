import { inboxAgeBuckets, noComponent } from '../../../shared/dashboard-api';

/** Inbox URL parameters that only links from the metrics, release and test pages set. */
export const drillDownKeys = ['reopened', 'createdFrom', 'createdTo', 'resolvedFrom', 'resolvedTo', 'tz', 'age'] as const;

/**
 * Says in words which filters a chart link added that the filter bar has no control for
 * ("created 2026-11-02 – 2026-11-08", "open for 7–30 days"), so the list is never a mystery.
 */
export function DrillDownFilters(props: { search: URLSearchParams }) {
  const get = (key: string) => props.search.get(key) ?? '';
  const zone = get('tz') ? ` (${get('tz')})` : '';
  const range = (label: string, from: string, to: string) => (from || to ? `${label} ${from || '…'} – ${to || '…'}${zone}` : '');
  const age = inboxAgeBuckets.find((bucket) => bucket.key === get('age'));
  const parts = [
    range('created', get('createdFrom'), get('createdTo')),
    range('last resolved', get('resolvedFrom'), get('resolvedTo')),
    age ? `open for ${age.label}` : '',
    get('reopened') === 'true' ? 'reopened at least once' : get('reopened') === 'false' ? 'never reopened' : '',
    get('origin').includes(',') ? `origin ${get('origin').split(',').join(' or ')}` : '',
    get('component') === noComponent ? 'no component' : '',
  ].filter(Boolean);
  if (parts.length === 0) return null;
  return (
    <p class="muted small drill-down" role="status">
      Also filtered: {parts.join(' · ')}
    </p>
  );
}
