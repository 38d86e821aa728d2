import { useEffect, useRef, useState } from 'preact/hooks';
import {
  type DefectSeverity,
  type DefectStatus,
  type InboxResponse,
  type Release,
  type SavedView,
  defectStatusLabels,
  settableStatuses,
  severities,
} from '../../../shared/dashboard-api';
import { ApiError, api, queryString } from '../api';
import { SeverityBadge, StatusBadge } from '../components/badges';
import { formatNumber, isTyping, timeAgo } from '../components/format';
import { EmptyState, ErrorState, Loading, useResource } from '../components/states';
import { StatusPicker } from '../components/status-picker';
import { DrillDownFilters, drillDownKeys } from '../components/inbox-drilldown';
import { Link, navigate } from '../router';
import { canTriage, useProjectRole } from '../session';

/** Query parameters the inbox keeps in its URL (so views can be saved, shared and reloaded). */
const filterKeys = ['q', 'status', 'severity', 'component', 'release', 'origin', 'assignee', 'hasTicket', 'coverageGap', ...drillDownKeys, 'sort', 'offset'] as const;
const pageSize = 50;
const pollIntervalMs = 5000;

/** The API path of an inbox page for the inbox URL's query parameters. */
export function inboxApiPath(projectId: string, search: URLSearchParams): string {
  const filters = Object.fromEntries(filterKeys.map((key) => [key, search.get(key) ?? '']));
  return `/projects/${projectId}/defects${queryString({ ...filters, limit: pageSize })}`;
}

/**
 * The inbox: defects by impact, filters and search in the URL, saved views, bulk actions,
 * keyboard navigation, and live updates (it polls the project's activity cursor).
 */
export function InboxPage(props: { projectId: string; search: URLSearchParams }) {
  const role = useProjectRole(props.projectId);
  const triager = canTriage(role);
  const filters = Object.fromEntries(filterKeys.map((key) => [key, props.search.get(key) ?? ''])) as Record<(typeof filterKeys)[number], string>;
  const query = inboxApiPath(props.projectId, props.search);
  const inbox = useResource(() => api.get<InboxResponse>(query), [query]);
  // Secondary data waits for the first page: on the embedded database requests queue, and the
  // rows are what a person is waiting for.
  const firstPageShown = inbox.data !== undefined || inbox.error !== undefined;
  const facets = useResource(
    () =>
      Promise.all([
        api.get<{ components: string[] }>(`/projects/${props.projectId}/components`),
        api.get<{ releases: Release[] }>(`/projects/${props.projectId}/releases`),
      ]).then(([components, releases]) => ({ components: components.components ?? [], releases: releases.releases ?? [] })),
    [props.projectId],
    firstPageShown,
  );
  const views = useResource(() => api.get<{ views: SavedView[] }>(`/projects/${props.projectId}/views`).then((body) => body.views), [props.projectId], firstPageShown);
  const [selected, setSelected] = useState(0);
  const [checked, setChecked] = useState<Set<string>>(new Set());
  const [picker, setPicker] = useState(false);
  const [notice, setNotice] = useState<{ kind: 'info' | 'error'; text: string }>();
  const [searchText, setSearchText] = useState(filters.q);
  const searchInput = useRef<HTMLInputElement>(null);
  const rows = inbox.data?.defects ?? [];
  const current = rows[Math.min(selected, rows.length - 1)];

  useEffect(() => setSearchText(filters.q), [filters.q]);
  useEffect(() => {
    setSelected(0);
    setChecked(new Set());
  }, [props.projectId, query]);

  // Live updates: a cheap cursor poll; the page reloads quietly when something changed. The
  // cursor survives filter changes (a ref), so an event between two polls is never missed.
  const cursor = useRef<string | null | undefined>(undefined);
  const reloadQuietly = useRef(inbox.reload);
  reloadQuietly.current = inbox.reload;
  useEffect(() => {
    if (!firstPageShown) return;
    cursor.current = undefined;
    const poll = async () => {
      if (document.hidden) return;
      try {
        const next = (await api.get<{ cursor: string | null }>(`/projects/${props.projectId}/activity`)).cursor;
        if (cursor.current !== undefined && next !== cursor.current) reloadQuietly.current({ quiet: true });
        cursor.current = next;
      } catch {
        // A missed poll is retried on the next tick.
      }
    };
    void poll();
    const timer = setInterval(poll, pollIntervalMs);
    return () => clearInterval(timer);
  }, [props.projectId, firstPageShown]);

  const setFilter = (changes: Partial<Record<(typeof filterKeys)[number], string>>) => {
    const next = new URLSearchParams(props.search);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    if (!('offset' in changes)) next.delete('offset');
    const text = next.toString();
    navigate(`/p/${props.projectId}${text ? `?${text}` : ''}`, { replace: true });
  };

  const run = async (label: string, action: () => Promise<unknown>) => {
    try {
      await action();
      setNotice({ kind: 'info', text: label });
      inbox.reload({ quiet: true });
    } catch (error) {
      setNotice({ kind: 'error', text: error instanceof ApiError ? error.message : 'The change failed.' });
    }
  };
  const targets = () => (checked.size ? [...checked] : current ? [current.id] : []);
  const bulk = (changes: { status?: DefectStatus; severity?: DefectSeverity }) =>
    run(`Updated ${targets().length} defect(s)`, () => api.post(`/projects/${props.projectId}/defects/bulk`, { defectIds: targets(), changes }));
  const mergeChecked = () => {
    if (!current) return;
    const sources = [...checked].filter((id) => id !== current.id);
    if (sources.length === 0) {
      setNotice({ kind: 'error', text: 'Check the defects to merge (x), then select the one to keep and press m.' });
      return;
    }
    if (!window.confirm(`Merge ${sources.length} defect(s) into ${current.key}? Their reports move to ${current.key}.`)) return;
    void run(`Merged ${sources.length} defect(s) into ${current.key}`, async () => {
      for (const id of sources) await api.post(`/projects/${props.projectId}/defects/${id}/merge`, { targetDefectId: current.id });
    });
  };

  // Keys are read by one listener that looks at the state of the latest render through a ref.
  // A listener re-registered by an effect lags a render behind (effects run after paint), so a
  // fast "j j Enter" used to open the row selected before the last j.
  const keyState = useRef({ rows, selected, picker, triager, mergeChecked });
  keyState.current = { rows, selected: Math.min(selected, rows.length - 1), picker, triager, mergeChecked };
  useEffect(() => {
    const select = (index: number) => {
      keyState.current.selected = index;
      setSelected(index);
    };
    const onKey = (event: KeyboardEvent) => {
      const state = keyState.current;
      if (state.picker) return;
      if (event.key === 'Escape' && isTyping(event)) (event.target as HTMLElement).blur();
      if (isTyping(event) || event.metaKey || event.ctrlKey || event.altKey) return;
      const row = state.rows[state.selected];
      if (event.key === 'j') select(Math.max(0, Math.min(state.selected + 1, state.rows.length - 1)));
      else if (event.key === 'k') select(Math.max(state.selected - 1, 0));
      else if (event.key === 'Enter' && row) navigate(`/p/${props.projectId}/defects/${row.key}`);
      else if (event.key === '/') searchInput.current?.focus();
      else if (event.key === 'x' && row && state.triager) toggle(row.id);
      else if (event.key === 's' && row && state.triager) setPicker(true);
      else if (event.key === 'm' && row && state.triager) state.mergeChecked();
      else return;
      event.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.projectId]);

  // Marks the moment the first rows are on screen; `npm run bench:inbox` reads it.
  const marked = useRef(false);
  useEffect(() => {
    if (inbox.data && !marked.current) {
      marked.current = true;
      performance.mark('bugloop:inbox-usable');
    }
  }, [inbox.data]);

  useEffect(() => {
    document.querySelector('.inbox-row.selected')?.scrollIntoView({ block: 'nearest' });
  }, [selected]);

  const toggle = (id: string) =>
    setChecked((previous) => {
      const next = new Set(previous);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const saveView = async () => {
    const name = window.prompt('Name this view (everyone in the project will see it):');
    if (!name) return;
    const saved = Object.fromEntries(filterKeys.filter((key) => key !== 'offset' && filters[key]).map((key) => [key, filters[key]]));
    try {
      await api.post(`/projects/${props.projectId}/views`, { name, query: saved });
      views.reload({ quiet: true });
      setNotice({ kind: 'info', text: `Saved the view "${name}"` });
    } catch (error) {
      setNotice({ kind: 'error', text: error instanceof ApiError ? error.message : 'Could not save the view.' });
    }
  };

  const offset = Number(filters.offset || 0);
  // The saved view whose filters are exactly the current ones, if any.
  const currentQuery = JSON.stringify(Object.fromEntries(filterKeys.filter((key) => key !== 'offset' && filters[key]).map((key) => [key, filters[key]])));
  const activeView = views.data?.find((view) => JSON.stringify(Object.fromEntries(filterKeys.filter((key) => view.query[key]).map((key) => [key, view.query[key]]))) === currentQuery && currentQuery !== '{}');
  const anyFilter = filterKeys.some((key) => key !== 'sort' && key !== 'offset' && filters[key]);
  return (
    <section class="inbox">
      <div class="inbox-head">
        <h1>Inbox</h1>
        {views.data && views.data.length > 0 && (
          <select
            aria-label="Saved views"
            value=""
            onChange={(event) => {
              const view = views.data!.find((entry) => entry.id === event.currentTarget.value);
              if (view) navigate(`/p/${props.projectId}${queryString(view.query)}`);
            }}
          >
            <option value="">Saved views…</option>
            {views.data.map((view) => (
              <option key={view.id} value={view.id}>
                {view.name}
              </option>
            ))}
          </select>
        )}
        {triager && activeView && (
          <button
            type="button"
            class="button ghost"
            onClick={() =>
              window.confirm(`Delete the saved view "${activeView.name}" for everyone?`) &&
              void api.delete(`/projects/${props.projectId}/views/${activeView.id}`).then(
                () => views.reload({ quiet: true }),
                (error: unknown) => setNotice({ kind: 'error', text: error instanceof ApiError ? error.message : 'Could not delete the view.' }),
              )
            }
          >
            Delete view “{activeView.name}”
          </button>
        )}
        {triager && (
          <button type="button" class="button" onClick={() => void saveView()}>
            Save view
          </button>
        )}
      </div>

      <form
        class="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          setFilter({ q: searchText });
        }}
      >
        <input
          ref={searchInput}
          type="search"
          class="search"
          placeholder="Search text, or a key like WEB-42   ( / )"
          aria-label="Search defects"
          value={searchText}
          onInput={(event) => setSearchText(event.currentTarget.value)}
        />
        <select aria-label="Status" value={filters.status} onChange={(event) => setFilter({ status: event.currentTarget.value })}>
          <option value="">Open</option>
          <option value="all">Any status</option>
          {settableStatuses.map((status) => (
            <option key={status} value={status}>
              {defectStatusLabels[status]}
            </option>
          ))}
          <option value="reopened">Reopened</option>
        </select>
        <select aria-label="Severity" value={filters.severity} onChange={(event) => setFilter({ severity: event.currentTarget.value })}>
          <option value="">Any severity</option>
          {severities.map((severity) => (
            <option key={severity} value={severity}>
              {severity}
            </option>
          ))}
          <option value="none">Not set</option>
        </select>
        <select aria-label="Component" value={filters.component} onChange={(event) => setFilter({ component: event.currentTarget.value })}>
          <option value="">Any component</option>
          {facets.data?.components.map((component) => (
            <option key={component} value={component}>
              {component}
            </option>
          ))}
        </select>
        <select aria-label="Release" value={filters.release} onChange={(event) => setFilter({ release: event.currentTarget.value })}>
          <option value="">Any release</option>
          {facets.data?.releases.map((release) => (
            <option key={release.id} value={release.id}>
              {release.version}
            </option>
          ))}
        </select>
        <select aria-label="Origin" value={filters.origin} onChange={(event) => setFilter({ origin: event.currentTarget.value })}>
          <option value="">Any origin</option>
          <option value="field">Field (users)</option>
          <option value="qa">QA</option>
          <option value="ci">CI</option>
        </select>
        <select aria-label="Assignee" value={filters.assignee} onChange={(event) => setFilter({ assignee: event.currentTarget.value })}>
          <option value="">Anyone</option>
          <option value="me">Assigned to me</option>
          <option value="none">Unassigned</option>
        </select>
        <select aria-label="Ticket" value={filters.hasTicket} onChange={(event) => setFilter({ hasTicket: event.currentTarget.value })}>
          <option value="">Ticket or not</option>
          <option value="true">Has a ticket</option>
          <option value="false">No ticket</option>
        </select>
        <label class="check">
          <input type="checkbox" checked={filters.coverageGap === 'true'} onChange={(event) => setFilter({ coverageGap: event.currentTarget.checked ? 'true' : '' })} />
          Coverage gap
        </label>
        <select aria-label="Sort" value={filters.sort} onChange={(event) => setFilter({ sort: event.currentTarget.value })}>
          <option value="">Sort: impact</option>
          <option value="last_seen">Sort: last seen</option>
          <option value="first_seen">Sort: first seen</option>
          <option value="reports">Sort: reports</option>
          <option value="users">Sort: affected users</option>
        </select>
        {anyFilter && (
          <button type="button" class="button ghost" onClick={() => navigate(`/p/${props.projectId}`, { replace: true })}>
            Clear
          </button>
        )}
      </form>

      {(facets.error || views.error) && (
        <p class="notice notice-error small" role="alert">
          {facets.error ? 'The component and release filters could not be loaded.' : 'Saved views could not be loaded.'}{' '}
          <button type="button" class="link-button" onClick={() => (facets.error ? facets.reload() : views.reload())}>
            Try again
          </button>
        </p>
      )}

      <DrillDownFilters search={props.search} />
      {triager && rows.length > 0 && (
        <div class="bulkbar">
          <span class="muted">{checked.size ? `${checked.size} checked` : current ? `Selected: ${current.key}` : ''}</span>
          <select aria-label="Set status" value="" onChange={(event) => event.currentTarget.value && void bulk({ status: event.currentTarget.value as DefectStatus })}>
            <option value="">Set status…</option>
            {settableStatuses.map((status) => (
              <option key={status} value={status}>
                {defectStatusLabels[status]}
              </option>
            ))}
          </select>
          <select aria-label="Set severity" value="" onChange={(event) => event.currentTarget.value && void bulk({ severity: event.currentTarget.value as DefectSeverity })}>
            <option value="">Set severity…</option>
            {severities.map((severity) => (
              <option key={severity} value={severity}>
                {severity}
              </option>
            ))}
          </select>
          <button type="button" class="button" disabled={checked.size === 0} onClick={mergeChecked} title="Merge the checked defects into the selected one (m)">
            Merge into selected
          </button>
        </div>
      )}

      {notice && (
        <p class={`notice notice-${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'}>
          {notice.text}{' '}
          <button type="button" class="link-button" onClick={() => setNotice(undefined)}>
            dismiss
          </button>
        </p>
      )}

      {inbox.error ? (
        <ErrorState error={inbox.error} onRetry={() => inbox.reload()} />
      ) : !inbox.data ? (
        <Loading label="Loading defects…" />
      ) : rows.length === 0 ? (
        anyFilter ? (
          <EmptyState title="No defect matches these filters">Loosen a filter or clear them all.</EmptyState>
        ) : (
          <EmptyState title="Nothing to triage">
            New reports from the widget appear here within seconds. Put the widget on your site (see{' '}
            <Link href={`/p/${props.projectId}/settings`}>Settings</Link>) or try the <a href="/demo">demo shop</a>.
          </EmptyState>
        )
      ) : (
        <>
          <table class={`inbox-table ${inbox.loading ? 'refreshing' : ''}`}>
            <thead>
              <tr>
                {triager && <th class="narrow" aria-label="Check" />}
                <th>Key</th>
                <th>Title</th>
                <th>Component</th>
                <th>Severity</th>
                <th class="number">Reports</th>
                <th class="number">Users</th>
                <th>First seen</th>
                <th>Last seen</th>
                <th>Release</th>
                <th>Status</th>
                <th>Ticket</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row, index) => (
                <tr
                  key={row.id}
                  class={`inbox-row ${index === selected ? 'selected' : ''} ${checked.has(row.id) ? 'checked' : ''}`}
                  onClick={() => setSelected(index)}
                  onDblClick={() => navigate(`/p/${props.projectId}/defects/${row.key}`)}
                >
                  {triager && (
                    <td class="narrow">
                      <input type="checkbox" aria-label={`Check ${row.key}`} checked={checked.has(row.id)} onClick={(event) => event.stopPropagation()} onChange={() => toggle(row.id)} />
                    </td>
                  )}
                  <td class="key">{row.key}</td>
                  <td class="title">
                    <Link href={`/p/${props.projectId}/defects/${row.key}`}>{row.title}</Link>
                    {row.coverageGap && (
                      <span class="tag tag-gap" title="Reported by users, and no test case is linked: the suite missed it">
                        coverage gap
                      </span>
                    )}
                    {row.origin !== 'field' && <span class="tag">{row.origin}</span>}
                  </td>
                  <td>{row.component ?? <span class="muted">—</span>}</td>
                  <td>
                    <SeverityBadge severity={row.severity} />
                  </td>
                  <td class="number">{formatNumber(row.reportCount)}</td>
                  <td class="number">{formatNumber(row.affectedUsers)}</td>
                  <td title={row.firstSeenAt}>{timeAgo(row.firstSeenAt)}</td>
                  <td title={row.lastSeenAt}>{timeAgo(row.lastSeenAt)}</td>
                  <td>{row.release ?? <span class="muted">—</span>}</td>
                  <td>
                    <StatusBadge status={row.status} />
                  </td>
                  <td>{row.ticket ? <span class="tag">{row.ticket.key ?? row.ticket.kind}</span> : <span class="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="pager">
            <span class="muted">
              {formatNumber(offset + 1)}–{formatNumber(offset + rows.length)} of {formatNumber(inbox.data.total)}
              {inbox.data.totalIsLowerBound ? '+' : ''}
            </span>
            <button type="button" class="button" disabled={offset === 0} onClick={() => setFilter({ offset: String(Math.max(0, offset - pageSize)) })}>
              Previous
            </button>
            <button type="button" class="button" disabled={!inbox.data.hasMore} onClick={() => setFilter({ offset: String(offset + pageSize) })}>
              Next
            </button>
          </div>
        </>
      )}
      {picker && current && (
        <StatusPicker
          title={checked.size ? `Set status of ${checked.size} defects` : `Set status of ${current.key}`}
          current={checked.size ? undefined : current.status}
          onClose={() => setPicker(false)}
          onPick={(status) => {
            setPicker(false);
            void bulk({ status });
          }}
        />
      )}
    </section>
  );
}
