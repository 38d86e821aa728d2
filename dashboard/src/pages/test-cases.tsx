import { useEffect, useState } from 'preact/hooks';
import type { TestCaseFacets, TestCaseListResponse } from '../../../shared/quality-api';
import { api, queryString } from '../api';
import { formatNumber } from '../components/format';
import { withQueryChanges } from '../components/inbox-link';
import { SmallError } from '../components/figures';
import { EmptyState, ErrorState, Loading, useResource } from '../components/states';
import { TestsNav } from '../components/tests-nav';
import type { QualityPageProps } from '../quality-routes';
import { Link, navigate } from '../router';
import { canTriage, useProjectRole } from '../session';
import '../quality.css';

const filterKeys = ['q', 'suite', 'component', 'tag', 'kind', 'priority', 'archived', 'offset'] as const;
type CatalogFilters = Record<(typeof filterKeys)[number], string>;
const pageSize = 50;

/** The test-case catalog: filters in the URL, pages of 50; triagers and admins create and import. */
export function TestCasesPage(props: QualityPageProps) {
  const { projectId } = props;
  const triager = canTriage(useProjectRole(projectId));
  const filters = Object.fromEntries(filterKeys.map((key) => [key, props.search.get(key) ?? ''])) as CatalogFilters;
  const path = `/projects/${projectId}/test-cases${queryString({ ...filters, limit: pageSize })}`;
  const list = useResource(() => api.get<TestCaseListResponse>(path), [path]);
  const facets = useResource(() => api.get<TestCaseFacets>(`/projects/${projectId}/test-case-facets`), [projectId]);
  const [text, setText] = useState(filters.q);
  useEffect(() => setText(filters.q), [filters.q]);

  const setFilter = (changes: Partial<CatalogFilters>) => navigate(withQueryChanges(`/p/${projectId}/test-cases`, props.search, changes), { replace: true });
  const anyFilter = filterKeys.some((key) => key !== 'offset' && filters[key]);
  const offset = Number(filters.offset || 0);
  const select = (key: 'suite' | 'component' | 'tag' | 'priority', label: string, values: string[] | undefined) => (
    <select aria-label={label} value={filters[key]} onChange={(event) => setFilter({ [key]: event.currentTarget.value })}>
      <option value="">Any {label.toLowerCase()}</option>
      {values?.map((value) => (
        <option key={value} value={value}>
          {value}
        </option>
      ))}
    </select>
  );

  return (
    <section class="quality-page">
      <TestsNav projectId={projectId} current="catalog" />
      <div class="page-head">
        <h1>Test cases</h1>
        <span class="spacer" />
        {triager && (
          <>
            <Link class="button" href={`/p/${projectId}/test-cases/import`}>
              Import CSV
            </Link>
            <Link class="button primary" href={`/p/${projectId}/test-cases/new`}>
              New test case
            </Link>
          </>
        )}
      </div>
      <form
        class="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          setFilter({ q: text });
        }}
      >
        <input type="search" class="search" placeholder="Search title, key or suite" aria-label="Search test cases" value={text} onInput={(event) => setText(event.currentTarget.value)} />
        {select('suite', 'Suite', facets.data?.suites)}
        {select('component', 'Component', facets.data?.components)}
        {select('tag', 'Tag', facets.data?.tags)}
        {select('priority', 'Priority', facets.data?.priorities)}
        <select aria-label="Kind" value={filters.kind} onChange={(event) => setFilter({ kind: event.currentTarget.value })}>
          <option value="">Manual or automated</option>
          <option value="manual">Manual</option>
          <option value="automated">Automated</option>
        </select>
        <select aria-label="Status" value={filters.archived} onChange={(event) => setFilter({ archived: event.currentTarget.value })}>
          <option value="">Active</option>
          <option value="only">Archived</option>
          <option value="true">Active and archived</option>
        </select>
        {anyFilter && (
          <button type="button" class="button ghost" onClick={() => navigate(`/p/${projectId}/test-cases`, { replace: true })}>
            Clear
          </button>
        )}
      </form>
      {facets.error && <SmallError what="the suites, components, tags and priorities to filter by" onRetry={() => facets.reload()} />}
      {list.error ? (
        <ErrorState error={list.error} onRetry={() => list.reload()} />
      ) : !list.data ? (
        <Loading label="Loading test cases…" />
      ) : list.data.items.length === 0 ? (
        anyFilter ? (
          <EmptyState title="No test case matches these filters">Loosen a filter or clear them all.</EmptyState>
        ) : (
          <EmptyState title="No test cases yet">
            {triager ? (
              <>
                <Link href={`/p/${projectId}/test-cases/new`}>Write one</Link>, <Link href={`/p/${projectId}/test-cases/import`}>import a CSV</Link> from TestRail, Qase or Kiwi TCMS, or
                import JUnit results (<code>bugloop import-junit</code>): automated tests join the catalog by themselves.
              </>
            ) : (
              'Test cases appear here when your team writes or imports them, or when CI results are imported.'
            )}
          </EmptyState>
        )
      ) : (
        <>
          <table class={`inbox-table test-cases-table ${list.loading ? 'refreshing' : ''}`}>
            <thead>
              <tr>
                <th>Key</th>
                <th>Title</th>
                <th>Suite</th>
                <th>Component</th>
                <th>Priority</th>
                <th>Kind</th>
                <th>Tags</th>
                <th>Requirements</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((testCase) => (
                <tr key={testCase.id} class="test-case-row">
                  <td class="key">{testCase.key}</td>
                  <td class="title">
                    <Link href={`/p/${projectId}/test-cases/${testCase.id}`}>{testCase.title}</Link>
                    {testCase.archivedAt && <span class="tag">archived</span>}
                  </td>
                  <td>{testCase.suite ?? <span class="muted">—</span>}</td>
                  <td>{testCase.component ?? <span class="muted">—</span>}</td>
                  <td>{testCase.priority ?? <span class="muted">—</span>}</td>
                  <td>{testCase.kind}</td>
                  <td>
                    {testCase.tags.map((tag) => (
                      <span key={tag} class="tag">
                        {tag}
                      </span>
                    ))}
                  </td>
                  <td class="small">{testCase.requirements.join(', ') || <span class="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="pager">
            <span class="muted">
              {formatNumber(offset + 1)}–{formatNumber(offset + list.data.items.length)} of {formatNumber(list.data.total)}
            </span>
            <button type="button" class="button" disabled={offset === 0} onClick={() => setFilter({ offset: String(Math.max(0, offset - pageSize)) })}>
              Previous
            </button>
            <button type="button" class="button" disabled={offset + list.data.items.length >= list.data.total} onClick={() => setFilter({ offset: String(offset + pageSize) })}>
              Next
            </button>
          </div>
        </>
      )}
    </section>
  );
}
