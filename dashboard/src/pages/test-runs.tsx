import type { TestRun, TestRunDetailResponse } from '../../../shared/quality-api';
import { ApiError, api, queryString } from '../api';
import { dateTime, formatNumber, timeAgo } from '../components/format';
import { EmptyState, ErrorState, Loading, useResource } from '../components/states';
import { ResultBadge, TestsNav } from '../components/tests-nav';
import type { QualityPageProps } from '../quality-routes';
import { Link, navigate } from '../router';
import '../quality.css';

/** Imported test runs, newest first (the latest 100), with their counts; `?release=` narrows to one release. */
export function TestRunsPage(props: QualityPageProps) {
  const { projectId } = props;
  const release = props.search.get('release') ?? '';
  const runs = useResource(() => api.get<{ items: TestRun[] }>(`/projects/${projectId}/test-runs${queryString({ release })}`), [projectId, release]);
  return (
    <section class="quality-page">
      <TestsNav projectId={projectId} current="runs" />
      <div class="page-head">
        <h1>Test runs{release && ` of ${release}`}</h1>
        {release && (
          <Link class="button ghost" href={`/p/${projectId}/test-runs`}>
            All releases
          </Link>
        )}
      </div>
      {runs.error ? (
        <ErrorState error={runs.error} onRetry={() => runs.reload()} />
      ) : !runs.data ? (
        <Loading label="Loading test runs…" />
      ) : runs.data.items.length === 0 ? (
        <EmptyState title={release ? `No test run of ${release}` : 'No test runs yet'}>
          Send JUnit XML from CI: <code>bugloop import-junit 'reports/**/*.xml' --release 1.4.0 --build $BUILD</code>, or POST it to <code>/api/v1/test-runs</code> with an API token
          (scope test-runs:write, Settings → API tokens).
        </EmptyState>
      ) : (
        <table class="inbox-table test-runs-table">
          <thead>
            <tr>
              <th>Imported</th>
              <th>Release</th>
              <th>Build</th>
              <th>Environment</th>
              <th>Commit</th>
              <th class="number">Tests</th>
              <th class="number">Passed</th>
              <th class="number">Failed</th>
              <th class="number">Skipped</th>
              <th class="number">Flaky</th>
            </tr>
          </thead>
          <tbody>
            {runs.data.items.map((run) => (
              <tr key={run.id} class="test-run-row">
                <td title={run.createdAt}>
                  <Link href={`/p/${projectId}/test-runs/${run.id}`}>{timeAgo(run.createdAt)}</Link>
                </td>
                <td>{run.release ? <Link href={`/p/${projectId}/releases/${run.releaseId}`}>{run.release}</Link> : <span class="muted">—</span>}</td>
                <td>{run.build ?? <span class="muted">—</span>}</td>
                <td>{run.environment ?? <span class="muted">—</span>}</td>
                <td class="key">{run.commitSha?.slice(0, 10) ?? '—'}</td>
                <td class="number">{formatNumber(run.total)}</td>
                <td class="number">{formatNumber(run.passed)}</td>
                <td class={`number ${run.failed ? 'status-code' : ''}`}>{formatNumber(run.failed)}</td>
                <td class="number">{formatNumber(run.skipped)}</td>
                <td class="number">{formatNumber(run.flaky)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** One run: its facts and counts, then failed and flaky results with their messages (or every result). */
export function TestRunPage(props: QualityPageProps) {
  const { projectId } = props;
  const runId = props.params.runId;
  const show = props.search.get('show') === 'all' ? 'all' : 'problems';
  const path = `/projects/${projectId}/test-runs/${encodeURIComponent(runId)}${show === 'all' ? '' : '?status=failed,error&flaky=true'}`;
  const detail = useResource(() => api.get<TestRunDetailResponse>(path), [path]);
  if (detail.error) {
    return detail.error instanceof ApiError && detail.error.status === 404 ? (
      <EmptyState title="Test run not found">
        Back to the <Link href={`/p/${projectId}/test-runs`}>test runs</Link>.
      </EmptyState>
    ) : (
      <ErrorState error={detail.error} onRetry={() => detail.reload()} />
    );
  }
  if (!detail.data) return <Loading label="Loading the run…" />;
  const { run, results } = detail.data;
  return (
    <section class="quality-page test-run-page">
      <TestsNav projectId={projectId} current="runs" />
      <nav class="crumbs small">
        <Link href={`/p/${projectId}/test-runs`}>Test runs</Link> ›
      </nav>
      <div class="page-head">
        <h1>
          Run {run.build ?? run.id.slice(0, 8)}
          {run.release && ` · ${run.release}`}
        </h1>
      </div>
      <p class="muted small">
        Imported {dateTime(run.createdAt)} · {run.source ?? 'api'}
        {run.environment && ` · ${run.environment}`}
        {run.commitSha && ` · commit ${run.commitSha}`}
      </p>
      <div class="figure-grid run-counts">
        {(
          [
            ['Tests', run.total],
            ['Passed', run.passed],
            ['Failed', run.failed],
            ['Skipped', run.skipped],
            ['Flaky', run.flaky],
          ] as const
        ).map(([name, count]) => (
          <div key={name} class="figure-card" data-figure={name}>
            <div class="figure-name">{name}</div>
            <div class="figure-value">{formatNumber(count)}</div>
          </div>
        ))}
      </div>
      <div class="filters">
        <select aria-label="Results shown" value={show} onChange={(event) => navigate(`/p/${projectId}/test-runs/${runId}${event.currentTarget.value === 'all' ? '?show=all' : ''}`, { replace: true })}>
          <option value="problems">Failed, errors and flaky</option>
          <option value="all">Every result (first 1,000)</option>
        </select>
      </div>
      {results.length === 0 ? (
        <EmptyState title={show === 'all' ? 'This run has no results' : 'Nothing failed and nothing was flaky'}>
          {show === 'all' ? 'The report had no test cases.' : 'Every test in this run passed or was skipped.'}
        </EmptyState>
      ) : (
        <table class="inbox-table run-results">
          <thead>
            <tr>
              <th>Result</th>
              <th>Test</th>
              <th>Suite</th>
              <th class="number">Duration</th>
              <th>Message</th>
            </tr>
          </thead>
          <tbody>
            {results.map((result) => (
              <tr key={result.id} class="run-result-row">
                <td>
                  <ResultBadge status={result.status} flaky={result.isFlaky} />
                </td>
                <td>
                  <Link class="key" href={`/p/${projectId}/test-cases/${result.testCaseId}`}>
                    {result.key}
                  </Link>{' '}
                  {result.title}
                </td>
                <td class="small">{result.suite ?? '—'}</td>
                <td class="number">{result.durationMs === null ? '—' : `${formatNumber(result.durationMs)} ms`}</td>
                <td>{result.message ? <pre class="result-message">{result.message}</pre> : <span class="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
