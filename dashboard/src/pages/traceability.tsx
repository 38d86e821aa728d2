import type { RequirementStatus, TestReleasesResponse, TraceabilityResponse } from '../../../shared/quality-api';
import { api, queryString } from '../api';
import { SmallError } from '../components/figures';
import { isWebAddress } from '../components/user-text';
import { EmptyState, ErrorState, Loading, useResource } from '../components/states';
import { ResultBadge, TestsNav } from '../components/tests-nav';
import type { QualityPageProps } from '../quality-routes';
import { Link, navigate } from '../router';
import '../quality.css';

const statusLabels: Record<RequirementStatus, string> = { no_tests: 'No tests', failing: 'Failing', not_run: 'Not run', passing: 'Passing' };

/**
 * Requirements on one release: the tests that cover each, their latest results on that release,
 * and the defects (field, QA, CI) linked to those tests. Uncovered and failing requirements come
 * first (the API's order). `?release=` picks the release (newest when absent); CSV export.
 */
export function TraceabilityPage(props: QualityPageProps) {
  const { projectId } = props;
  const release = props.search.get('release') ?? '';
  const query = queryString({ release });
  const view = useResource(() => api.get<TraceabilityResponse>(`/projects/${projectId}/traceability${query}`), [projectId, query]);
  const releases = useResource(() => api.get<TestReleasesResponse>(`/projects/${projectId}/test-releases`), [projectId]);
  const counts = new Map<RequirementStatus, number>();
  for (const row of view.data?.requirements ?? []) counts.set(row.status, (counts.get(row.status) ?? 0) + 1);
  const shownRelease = view.data?.release?.version ?? release;
  return (
    <section class="quality-page traceability-page">
      <TestsNav projectId={projectId} current="traceability" />
      <div class="page-head">
        <h1>Traceability{shownRelease && ` · ${shownRelease}`}</h1>
        <span class="spacer" />
        <select
          aria-label="Release"
          value={shownRelease}
          onChange={(event) => navigate(`/p/${projectId}/traceability${queryString({ release: event.currentTarget.value })}`, { replace: true })}
        >
          {!shownRelease && <option value="">No release</option>}
          {[...(releases.data?.items ?? [])].reverse().map((entry) => (
            <option key={entry.id} value={entry.version}>
              {entry.version}
            </option>
          ))}
        </select>
        <a class="button" href={`/api/v1/projects/${projectId}/traceability${queryString({ release: shownRelease, format: 'csv' })}`} download>
          Export CSV
        </a>
      </div>
      {releases.error && <SmallError what="the list of releases" onRetry={() => releases.reload()} />}
      {view.error ? (
        <ErrorState error={view.error} onRetry={() => view.reload()} />
      ) : !view.data ? (
        <Loading label="Tracing requirements…" />
      ) : view.data.requirements.length === 0 ? (
        <EmptyState title="No requirements yet">
          Add requirement keys (like SHOP-12) or URLs to test cases (the <Link href={`/p/${projectId}/test-cases`}>catalog</Link>, a CSV “References” column, a JUnit{' '}
          <code>requirement</code> property or a <code>[REQ:SHOP-12]</code> tag), or register requirements with <code>PUT /api/v1/projects/:id/requirements</code>.
        </EmptyState>
      ) : (
        <>
          <p class="trace-summary small">
            {(['no_tests', 'failing', 'not_run', 'passing'] as const).map((status) => (
              <span key={status} class={`trace-status trace-${status}`} data-status={status}>
                {statusLabels[status]}: <strong>{counts.get(status) ?? 0}</strong>
              </span>
            ))}
          </p>
          <table class="inbox-table traceability-table">
            <thead>
              <tr>
                <th>Requirement</th>
                <th>Status</th>
                <th>Tests and latest results{view.data.release ? ` on ${view.data.release.version}` : ''}</th>
                <th>Linked defects</th>
              </tr>
            </thead>
            <tbody>
              {view.data.requirements.map((row) => (
                <tr key={row.requirement} id={`requirement-${encodeURIComponent(row.requirement)}`} class={`trace-row trace-row-${row.status}`} data-requirement={row.requirement}>
                  <td>
                    {isWebAddress(row.url) ? (
                      <a href={row.url} target="_blank" rel="noopener noreferrer">
                        {row.requirement}
                      </a>
                    ) : (
                      <strong>{row.requirement}</strong>
                    )}
                    {row.title && <div class="small muted">{row.title}</div>}
                  </td>
                  <td>
                    <span class={`trace-status trace-${row.status}`}>{statusLabels[row.status]}</span>
                  </td>
                  <td>
                    {row.tests.length === 0 ? (
                      <span class="muted small">No test covers this requirement.</span>
                    ) : (
                      <ul class="plain-list">
                        {row.tests.map((test) => (
                          <li key={test.id}>
                            <Link class="key" href={`/p/${projectId}/test-cases/${test.id}`}>
                              {test.key}
                            </Link>{' '}
                            {test.title} <ResultBadge status={test.latestStatus} flaky={test.flaky} />
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td>
                    {row.defects.length === 0 ? (
                      <span class="muted">—</span>
                    ) : (
                      <ul class="plain-list small">
                        {row.defects.map((defect) => (
                          <li key={`${defect.id}-${defect.linkKind}`}>
                            <Link href={`/p/${projectId}/defects/${defect.key}`}>{defect.key}</Link> {defect.title} <span class="tag">{defect.origin}</span> <span class="muted">{defect.status}</span>
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
