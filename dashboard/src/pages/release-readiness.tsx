import type { ReadinessResponse } from '../../../shared/quality-api';
import { api } from '../api';
import { Chart } from '../components/chart';
import { ChartFigure, RatioFigure, percent } from '../components/figures';
import { inboxHref } from '../components/inbox-link';
import { ErrorState, Loading, useResource } from '../components/states';
import type { QualityPageProps } from '../quality-routes';
import { Link } from '../router';
import '../quality.css';

const checkNames: Record<ReadinessResponse['checks'][number]['name'], string> = {
  no_open_blockers: 'No open blockers',
  all_planned_tests_executed: 'Every planned test executed',
  no_failing_tests: 'No failing tests',
  previous_escapes_covered: 'Last release’s escapes have tests',
};

/**
 * The go/no-go evidence for one release: tests planned vs executed and the pass rate, failing
 * tests by priority, open defects by severity (blockers first), the previous release's escapes
 * and whether they have tests now, and the leakage trend. Printable as one page; CSV and JSON
 * exports come from the API itself.
 */
export function ReleaseReadinessPage(props: QualityPageProps) {
  const { projectId } = props;
  const release = props.params.release;
  const apiPath = `/projects/${projectId}/releases/${encodeURIComponent(release)}/readiness`;
  const readiness = useResource(() => api.get<ReadinessResponse>(apiPath), [apiPath]);
  if (readiness.error) return <ErrorState error={readiness.error} onRetry={() => readiness.reload()} />;
  if (!readiness.data) return <Loading label="Gathering the release evidence…" />;
  const report = readiness.data;
  const releaseId = report.release.id;
  const severityHref = (severity: string | null) => inboxHref(projectId, { release: releaseId, severity: severity ?? 'none' });
  const noTests = report.tests.runs === 0;
  return (
    <section class="quality-page readiness-page">
      <nav class="crumbs small no-print">
        <Link href={`/p/${projectId}/releases`}>Releases</Link> ›
      </nav>
      <div class="page-head">
        <h1>Release {report.release.version}: readiness</h1>
        <span class="spacer" />
        <div class="no-print export-buttons">
          <button type="button" class="button" onClick={() => window.print()}>
            Print
          </button>
          <a class="button" href={`/api/v1${apiPath}?format=csv`} download>
            Export CSV
          </a>
          <a class="button" href={`/api/v1${apiPath}?format=json`} download>
            Export JSON
          </a>
        </div>
      </div>
      <p class="muted small">
        As of {new Date(report.asOf).toLocaleString()} · previous release {report.previousRelease ? <Link href={`/p/${projectId}/releases/${report.previousRelease.id}`}>{report.previousRelease.version}</Link> : 'none'} ·{' '}
        {report.tests.runs} test run(s){report.tests.builds.length > 0 && `, builds ${report.tests.builds.join(', ')}`} ·{' '}
        <Link href={`/p/${projectId}/traceability?release=${encodeURIComponent(report.release.version)}`}>traceability</Link>
      </p>

      <ul class="checks" aria-label="Evidence">
        {report.checks.map((check) => (
          <li key={check.name} class={check.passed ? 'check-pass' : 'check-fail'} data-check={check.name}>
            <span class="check-mark" aria-hidden="true">
              {check.passed ? '✓' : '✗'}
            </span>
            <strong>{checkNames[check.name]}</strong> <span class="sr-only">{check.passed ? 'passed' : 'not met'}</span>
            <span class="muted small"> {check.detail}</span>
          </li>
        ))}
      </ul>

      <div class="figure-grid">
        <div class="figure-card" id="figure-planned" data-figure="Planned">
          <div class="figure-name">Tests planned</div>
          <div class="figure-value">{report.tests.planned}</div>
          <div class="figure-trail small">active test cases</div>
        </div>
        <RatioFigure id="figure-executed" name="Executed" ratio={report.tests.executed} numerator="executed" denominator="planned" />
        <RatioFigure id="figure-pass-rate" name="Pass rate" ratio={report.tests.passRate} numerator="passing (latest result)" denominator="executed" />
        <div class="figure-card" id="figure-open" data-figure="Open defects">
          <div class="figure-name">Open defects</div>
          <div class="figure-value">{report.openDefects.total}</div>
          <Link class="small" href={inboxHref(projectId, { release: releaseId })}>
            Show the defects →
          </Link>
        </div>
      </div>
      {noTests && (
        <p class="notice notice-info small">
          No test run names this release yet. Import results with <code>bugloop import-junit report.xml --release {report.release.version}</code> or POST them to{' '}
          <code>/api/v1/test-runs</code>.
        </p>
      )}

      <div class="chart-grid readiness-grid">
        <ChartFigure
          id="chart-open-severity"
          title="Open defects by severity"
          description="Defects found in this release that are still open, blockers first."
          empty={report.openDefects.total === 0 && 'No open defects found in this release.'}
        >
          <Chart
            kind="bar"
            label="Bars per severity: open defects"
            labels={report.openDefects.bySeverity.map((row) => row.severity ?? 'not set')}
            series={[{ name: 'Open defects', values: report.openDefects.bySeverity.map((row) => row.count), hrefs: report.openDefects.bySeverity.map((row) => severityHref(row.severity)) }]}
            height={160}
          />
          <table class="compact data-table">
            <tbody>
              {report.openDefects.bySeverity.map((row) => (
                <tr key={row.severity ?? ''}>
                  <td>{row.severity ?? 'not set'}</td>
                  <td class="number">
                    <Link href={severityHref(row.severity)}>{row.count}</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {report.openDefects.blocking.length > 0 && (
            <>
              <h3>Open blockers and criticals</h3>
              <ul class="plain-list small blocking-list">
                {report.openDefects.blocking.map((defect) => (
                  <li key={defect.defectId}>
                    <span class={`severity severity-${defect.severity}`}>{defect.severity}</span> <Link href={`/p/${projectId}/defects/${defect.key}`}>{defect.key}</Link> {defect.title}{' '}
                    <span class="muted">({defect.status})</span>
                  </li>
                ))}
              </ul>
            </>
          )}
        </ChartFigure>

        <ChartFigure
          id="chart-failing-priority"
          title="Failing tests by priority"
          description="Test cases whose latest result on this release’s builds is failed or error."
          empty={report.tests.failing.length === 0 && (noTests ? 'No results yet for this release.' : 'No failing tests on this release’s builds.')}
        >
          <Chart
            kind="bar"
            label="Bars per priority: failing test cases"
            labels={report.tests.failingByPriority.map((row) => row.priority ?? 'no priority')}
            series={[{ name: 'Failing tests', values: report.tests.failingByPriority.map((row) => row.count) }]}
            height={160}
          />
          <table class="compact data-table failing-tests">
            <thead>
              <tr>
                <th>Test</th>
                <th>Priority</th>
                <th>Result</th>
                <th>Build</th>
              </tr>
            </thead>
            <tbody>
              {report.tests.failing.map((test) => (
                <tr key={test.testCaseId}>
                  <td>
                    <Link class="key" href={`/p/${projectId}/test-cases/${test.testCaseId}`}>
                      {test.key}
                    </Link>{' '}
                    {test.title}
                  </td>
                  <td>{test.priority ?? '—'}</td>
                  <td>
                    <span class={`result result-${test.status}`}>{test.status}</span>
                  </td>
                  <td>{test.build ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ChartFigure>

        <ChartFigure
          id="table-previous-escapes"
          title={`Escaped defects of ${report.previousRelease?.version ?? 'the previous release'}`}
          description={`${report.previousReleaseEscapes.withTests} of ${report.previousReleaseEscapes.total} have a linked test now; ✓ where that test passed on ${report.release.version}.`}
          empty={
            !report.previousRelease ? 'This is the first release: there is no previous one.' : report.previousReleaseEscapes.total === 0 && `Users reported no defects in ${report.previousRelease.version}.`
          }
        >
          <table class="compact data-table">
            <thead>
              <tr>
                <th>Defect</th>
                <th>Status</th>
                <th>Tests now</th>
                <th>Passed on {report.release.version}</th>
              </tr>
            </thead>
            <tbody>
              {report.previousReleaseEscapes.defects.map((defect) => (
                <tr key={defect.defectId} class={defect.hasTest ? '' : 'row-gap'}>
                  <td>
                    <Link href={`/p/${projectId}/defects/${defect.key}`}>{defect.key}</Link> {defect.title}
                  </td>
                  <td>{defect.status}</td>
                  <td>
                    {defect.hasTest ? (
                      defect.testCaseKeys.map((key) => (
                        <Link key={key} class="key" href={`/p/${projectId}/test-cases/${encodeURIComponent(key)}`}>
                          {key}{' '}
                        </Link>
                      ))
                    ) : (
                      <span class="tag tag-gap">no test</span>
                    )}
                  </td>
                  <td>{defect.testPassedOnRelease ? '✓ yes' : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ChartFigure>

        <ChartFigure id="chart-leakage-trend" title="Leakage trend" description="Escaped ÷ all defects found, for the last releases up to this one." empty={report.leakageTrend.length === 0 && 'No releases to compare.'}>
          <Chart
            kind="line"
            percent
            label="Line of leakage per release"
            labels={report.leakageTrend.map((point) => point.version)}
            format={(value) => `${Math.round(value * 1000) / 10}%`}
            series={[{ name: 'Leakage', values: report.leakageTrend.map((point) => point.value), hrefs: report.leakageTrend.map((point) => inboxHref(projectId, { release: point.releaseId, origin: 'field', status: 'all' })) }]}
            height={160}
          />
          <table class="compact data-table">
            <tbody>
              {report.leakageTrend.map((point) => (
                <tr key={point.releaseId}>
                  <td>{point.version}</td>
                  <td class="number">{percent(point)}</td>
                  <td class="number muted">
                    <Link href={inboxHref(projectId, { release: point.releaseId, origin: 'field', status: 'all' })}>{point.numerator}</Link> of{' '}
                    <Link href={inboxHref(projectId, { release: point.releaseId, status: 'all' })}>{point.denominator}</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </ChartFigure>
      </div>
    </section>
  );
}
