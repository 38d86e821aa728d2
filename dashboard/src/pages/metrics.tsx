import { type InboxQuery, type Release, inboxAgeBuckets, noComponent } from '../../../shared/dashboard-api';
import type { MetricsResponse } from '../../../shared/quality-api';
import { api, queryString } from '../api';
import { Chart } from '../components/chart';
import { ChartFigure, RatioFigure, SmallError, duration, percent } from '../components/figures';
import { addDays, browserTimeZone, inboxHref, withQueryChanges } from '../components/inbox-link';
import { EmptyState, ErrorState, Loading, useResource } from '../components/states';
import type { QualityPageProps } from '../quality-routes';
import { Link, navigate } from '../router';
import '../quality.css';

const filterKeys = ['release', 'component', 'from', 'to'] as const;
type MetricsFilters = Record<(typeof filterKeys)[number], string>;
const repairedStatuses = 'resolved,verified,closed';

/** The metrics API path for the page's filters (the page URL carries the same keys). */
export function metricsApiPath(projectId: string, filters: MetricsFilters, timeZone: string): string {
  return `/projects/${projectId}/metrics${queryString({ ...filters, tz: timeZone })}`;
}

/**
 * Quality metrics: leakage and DDP by release, the component map of escaped defects and coverage
 * gaps, MTTR by severity, open-defect ages, created vs resolved per week, and the ratio figures.
 * Filters live in the URL; every chart point and table row links to the defects behind it.
 */
export function MetricsPage(props: QualityPageProps) {
  const { projectId } = props;
  const filters = Object.fromEntries(filterKeys.map((key) => [key, props.search.get(key) ?? ''])) as MetricsFilters;
  const timeZone = props.search.get('tz') || browserTimeZone();
  const path = metricsApiPath(projectId, filters, timeZone);
  const metrics = useResource(() => api.get<MetricsResponse>(path), [path]);
  const facets = useResource(
    () =>
      Promise.all([api.get<{ releases: Release[] }>(`/projects/${projectId}/releases`), api.get<{ components: string[] }>(`/projects/${projectId}/components`)]).then(
        ([releases, components]) => ({ releases: releases.releases, components: components.components }),
      ),
    [projectId],
  );

  const setFilter = (changes: Partial<MetricsFilters>) => navigate(withQueryChanges(`/p/${projectId}/metrics`, props.search, changes), { replace: true });

  // "The defects behind it": the inbox with the page's release and component filters plus the figure's own.
  const scope: InboxQuery = { release: metrics.data?.filters.release?.id, component: filters.component || undefined };
  const behind = (query: InboxQuery) => inboxHref(projectId, { ...scope, ...query });
  const componentQuery = (component: string | null) => ({ component: component ?? noComponent });
  const window: InboxQuery = filters.from || filters.to ? { resolvedFrom: filters.from || undefined, resolvedTo: filters.to || undefined, tz: timeZone } : {};

  return (
    <section class="quality-page metrics-page">
      <div class="page-head">
        <h1>Quality metrics</h1>
        <span class="spacer" />
        <a class="button" href={`/api/v1${path}`} download="metrics.json">
          Download JSON
        </a>
      </div>
      <form class="filters" aria-label="Metrics filters" onSubmit={(event) => event.preventDefault()}>
        <select aria-label="Release" value={filters.release} onChange={(event) => setFilter({ release: event.currentTarget.value })}>
          <option value="">All releases</option>
          {facets.data?.releases.map((release) => (
            <option key={release.id} value={release.id}>
              {release.version}
            </option>
          ))}
        </select>
        <select aria-label="Component" value={filters.component} onChange={(event) => setFilter({ component: event.currentTarget.value })}>
          <option value="">All components</option>
          {facets.data?.components.map((component) => (
            <option key={component} value={component}>
              {component}
            </option>
          ))}
        </select>
        <label class="field inline">
          From <input type="date" name="from" value={filters.from} max={filters.to || undefined} onChange={(event) => setFilter({ from: event.currentTarget.value })} />
        </label>
        <label class="field inline">
          To <input type="date" name="to" value={filters.to} min={filters.from || undefined} onChange={(event) => setFilter({ to: event.currentTarget.value })} />
        </label>
        {filterKeys.some((key) => filters[key]) && (
          <button type="button" class="button ghost" onClick={() => navigate(`/p/${projectId}/metrics`, { replace: true })}>
            Clear
          </button>
        )}
        <span class="muted small">Days and weeks in {timeZone}. From/to bound MTTR, reopen rate, throughput and duplicates.</span>
      </form>
      {facets.error && <SmallError what="the releases and components to filter by" onRetry={() => facets.reload()} />}

      {metrics.error ? (
        <ErrorState error={metrics.error} onRetry={() => metrics.reload()} />
      ) : !metrics.data ? (
        <Loading label="Computing metrics…" />
      ) : (
        <MetricsBody projectId={projectId} report={metrics.data} behind={behind} componentQuery={componentQuery} window={window} timeZone={timeZone} to={filters.to} />
      )}
    </section>
  );
}

function MetricsBody(props: {
  projectId: string;
  report: MetricsResponse;
  behind: (query: InboxQuery) => string;
  componentQuery: (component: string | null) => InboxQuery;
  window: InboxQuery;
  timeZone: string;
  to: string;
}) {
  const { report, behind, componentQuery, window } = props;
  const m = report.metrics;
  const releaseName = report.filters.release ? ` in ${report.filters.release.version}` : '';
  const counted = m.leakageByRelease.reduce((total, entry) => total + entry.denominator, 0) + m.defectLeakage.denominator;
  if (counted === 0 && m.defectAge.open === 0 && m.density.length === 0) {
    return (
      <EmptyState title="No defects to measure yet">
        Metrics appear once defects exist: put the widget on your site (see <Link href={`/p/${props.projectId}/settings`}>Settings</Link>), send QA/CI defects through
        the report API, or import test results (<Link href={`/p/${props.projectId}/test-runs`}>test runs</Link>). With filters set, loosen them.
      </EmptyState>
    );
  }
  const severityKey = (severity: string | null) => severity ?? 'none';
  return (
    <>
      {props.to && (
        <p class="notice notice-info small">
          Figures are as of the end of {props.to}; the linked defect lists show those defects as they are now.
        </p>
      )}
      <div class="figure-grid">
        <RatioFigure id="figure-leakage" name={`Defect leakage${releaseName}`} ratio={m.defectLeakage} numerator="escaped (reported by users)" denominator="defects found" href={behind({ origin: 'field', status: 'all' })} />
        <RatioFigure id="figure-ddp" name="Defect detection percentage" ratio={m.defectDetectionPercentage} numerator="found by QA or CI" denominator="defects found" href={behind({ origin: 'qa,ci', status: 'all' })} />
        <RatioFigure id="figure-without-coverage" name="Escaped without a test" ratio={m.escapedWithoutCoverage} numerator="escaped with no linked test" denominator="escaped" href={behind({ coverageGap: 'true', status: 'all' })} />
        <RatioFigure id="figure-ineffective" name="Ineffective tests" ratio={m.ineffectiveTests} numerator="escaped although a linked test passed" denominator="escaped with a linked test">
          {m.ineffectiveTests.defects.length > 0 && (
            <ul class="plain-list small">
              {m.ineffectiveTests.defects.map((defect) => (
                <li key={defect.defectId}>
                  <Link href={`/p/${props.projectId}/defects/${defect.defectKey}`}>{defect.defectKey}</Link> ←{' '}
                  {defect.testCaseKeys.map((key) => (
                    <Link key={key} class="key" href={`/p/${props.projectId}/test-cases/${encodeURIComponent(key)}`}>
                      {key}{' '}
                    </Link>
                  ))}
                </li>
              ))}
            </ul>
          )}
        </RatioFigure>
        <RatioFigure id="figure-reopen" name="Reopen rate" ratio={m.reopenRate} numerator={`reopened (${m.reopenRate.reopens} reopens)`} denominator="resolved" href={behind({ reopened: 'true', status: 'all' })} />
        <RatioFigure id="figure-duplicates" name="Duplicate rate" ratio={m.duplicateRate} numerator="duplicate reports" denominator="reports" href={behind({ status: 'all', sort: 'reports' })}>
          <div class="small muted">
            {m.reportsPerDefect.value ?? '—'} reports per defect ({m.reportsPerDefect.numerator} ÷ {m.reportsPerDefect.denominator})
          </div>
        </RatioFigure>
        <div class="figure-card" id="figure-mttr" data-figure="MTTR">
          <div class="figure-name">Mean time to repair</div>
          <div class="figure-value">{duration(m.mttr.overall.medianHours)}</div>
          <div class="figure-trail small">
            median; mean {duration(m.mttr.overall.meanHours)} = <span class="numerator">{m.mttr.overall.numerator}</span> h ÷ <span class="denominator">{m.mttr.overall.denominator}</span> repaired
          </div>
          <Link class="small" href={behind({ status: repairedStatuses, ...window })}>
            Show the defects →
          </Link>
        </div>
      </div>

      <div class="chart-grid">
        <ChartFigure
          id="chart-leakage"
          title="Leakage by release"
          description="Defects found per release: escaped (reported by users) against caught by QA or CI before release. Leakage = escaped ÷ all; DDP = 1 − leakage."
          empty={m.leakageByRelease.length === 0 && 'No defect has a found-in release yet. Releases come from the widget’s release option or test runs.'}
        >
          <Chart
            kind="bar"
            stacked
            label="Stacked bars per release: escaped and caught defects"
            labels={m.leakageByRelease.map((entry) => entry.version)}
            series={[
              { name: 'Escaped', values: m.leakageByRelease.map((entry) => entry.numerator), hrefs: m.leakageByRelease.map((entry) => inboxRelease(props, entry.releaseId, { origin: 'field' })) },
              {
                name: 'Caught by QA/CI',
                values: m.leakageByRelease.map((entry) => entry.denominator - entry.numerator),
                hrefs: m.leakageByRelease.map((entry) => inboxRelease(props, entry.releaseId, { origin: 'qa,ci' })),
              },
            ]}
          />
          <table class="compact data-table">
            <thead>
              <tr>
                <th>Release</th>
                <th class="number">Escaped</th>
                <th class="number">All found</th>
                <th class="number">Leakage</th>
                <th class="number">DDP</th>
              </tr>
            </thead>
            <tbody>
              {m.leakageByRelease.map((entry) => (
                <tr key={entry.releaseId}>
                  <td>
                    <Link href={`/p/${props.projectId}/releases/${entry.releaseId}`}>{entry.version}</Link>
                  </td>
                  <td class="number">
                    <Link href={inboxRelease(props, entry.releaseId, { origin: 'field' })}>{entry.numerator}</Link>
                  </td>
                  <td class="number">
                    <Link href={inboxRelease(props, entry.releaseId, {})}>{entry.denominator}</Link>
                  </td>
                  <td class="number">{percent(entry)}</td>
                  <td class="number">{entry.value === null ? '—' : percent({ value: 1 - entry.value })}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ChartFigure>

        <ChartFigure
          id="chart-components"
          title="Escaped defects and coverage gaps by component"
          description="Per component: defects users found, and how many of them have no linked test case (a coverage gap)."
          empty={m.escapedByComponent.length === 0 && 'No escaped defects: nothing users reported in this selection.'}
        >
          <Chart
            kind="bar"
            label="Bars per component: escaped defects and coverage gaps"
            labels={m.escapedByComponent.map((entry) => entry.component ?? '(no component)')}
            series={[
              { name: 'Escaped', values: m.escapedByComponent.map((entry) => entry.escaped), hrefs: m.escapedByComponent.map((entry) => behind({ ...componentQuery(entry.component), origin: 'field', status: 'all' })) },
              {
                name: 'Coverage gaps',
                values: m.escapedByComponent.map((entry) => entry.withoutCoverage.numerator),
                hrefs: m.escapedByComponent.map((entry) => behind({ ...componentQuery(entry.component), coverageGap: 'true', status: 'all' })),
              },
            ]}
          />
          <table class="compact data-table">
            <thead>
              <tr>
                <th>Component</th>
                <th class="number">Escaped</th>
                <th class="number">Without a test</th>
                <th class="number">Gap share</th>
              </tr>
            </thead>
            <tbody>
              {m.escapedByComponent.map((entry) => (
                <tr key={entry.component ?? ''}>
                  <td>{componentName(entry.component)}</td>
                  <td class="number">
                    <Link href={behind({ ...componentQuery(entry.component), origin: 'field', status: 'all' })}>{entry.escaped}</Link>
                  </td>
                  <td class="number">
                    <Link href={behind({ ...componentQuery(entry.component), coverageGap: 'true', status: 'all' })}>{entry.withoutCoverage.numerator}</Link>
                  </td>
                  <td class="number">{percent(entry.withoutCoverage)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ChartFigure>

        <ChartFigure
          id="chart-mttr"
          title="Time to repair by severity"
          description="Hours from creation to the last resolution, for defects resolved, verified or closed (won’t fix left out). Median and mean."
          empty={m.mttr.bySeverity.length === 0 && 'Nothing repaired in this selection yet. Resolve defects (or widen the dates) to see repair times.'}
        >
          <Chart
            kind="bar"
            label="Bars per severity: median and mean hours to repair"
            labels={m.mttr.bySeverity.map((entry) => entry.severity ?? 'not set')}
            format={(value) => duration(value)}
            series={[
              { name: 'Median hours', values: m.mttr.bySeverity.map((entry) => entry.medianHours), hrefs: m.mttr.bySeverity.map((entry) => behind({ severity: severityKey(entry.severity), status: repairedStatuses, ...window })) },
              { name: 'Mean hours', values: m.mttr.bySeverity.map((entry) => entry.meanHours), hrefs: m.mttr.bySeverity.map((entry) => behind({ severity: severityKey(entry.severity), status: repairedStatuses, ...window })) },
            ]}
          />
          <table class="compact data-table">
            <thead>
              <tr>
                <th>Severity</th>
                <th class="number">Repaired</th>
                <th class="number">Median</th>
                <th class="number">Mean</th>
                <th class="number">Total hours</th>
              </tr>
            </thead>
            <tbody>
              {m.mttr.bySeverity.map((entry) => (
                <tr key={entry.severity ?? ''}>
                  <td>{entry.severity ?? 'not set'}</td>
                  <td class="number">
                    <Link href={behind({ severity: severityKey(entry.severity), status: repairedStatuses, ...window })}>{entry.denominator}</Link>
                  </td>
                  <td class="number">{entry.medianHours ?? '—'} h</td>
                  <td class="number">{entry.meanHours ?? '—'} h</td>
                  <td class="number">{entry.numerator}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {m.mttr.byComponent.length > 0 && (
            <details class="small">
              <summary>By component</summary>
              <table class="compact data-table">
                <tbody>
                  {m.mttr.byComponent.map((entry) => (
                    <tr key={entry.component ?? ''}>
                      <td>{componentName(entry.component)}</td>
                      <td class="number">
                        <Link href={behind({ ...componentQuery(entry.component), status: repairedStatuses, ...window })}>{entry.denominator}</Link>
                      </td>
                      <td class="number">median {entry.medianHours ?? '—'} h</td>
                      <td class="number">mean {entry.meanHours ?? '—'} h</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </details>
          )}
        </ChartFigure>

        <ChartFigure
          id="chart-age"
          title="Open defects by age"
          description={`${m.defectAge.open} open defects by time since they were created.`}
          empty={m.defectAge.open === 0 && 'No open defects in this selection. Nothing is waiting.'}
        >
          <Chart
            kind="bar"
            label="Histogram of open defects by age bucket"
            labels={m.defectAge.buckets.map((bucket) => bucket.label)}
            series={[{ name: 'Open defects', values: m.defectAge.buckets.map((bucket) => bucket.count), hrefs: m.defectAge.buckets.map((bucket) => behind({ age: ageKey(bucket) })) }]}
          />
          <table class="compact data-table">
            <thead>
              <tr>
                <th>Age</th>
                <th class="number">Open defects</th>
              </tr>
            </thead>
            <tbody>
              {m.defectAge.buckets.map((bucket) => (
                <tr key={bucket.label}>
                  <td>{bucket.label}</td>
                  <td class="number">
                    <Link href={behind({ age: ageKey(bucket) })}>{bucket.count}</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </ChartFigure>

        <ChartFigure
          id="chart-throughput"
          title="Created vs resolved per week"
          description={`ISO weeks in ${report.timeZone}. Resolved counts every entry into a done status; the linked list shows defects whose latest resolution is in that week.`}
          empty={m.throughput.weeks.length === 0 && 'No weeks in this window.'}
        >
          <Chart
            kind="line"
            label="Lines per week: defects created and resolved"
            labels={m.throughput.weeks.map((week) => week.week)}
            series={[
              { name: 'Created', values: m.throughput.weeks.map((week) => week.created), hrefs: m.throughput.weeks.map((week) => behind(weekQuery('created', week.start, report.timeZone))) },
              { name: 'Resolved', values: m.throughput.weeks.map((week) => week.resolved), hrefs: m.throughput.weeks.map((week) => behind(weekQuery('resolved', week.start, report.timeZone))) },
            ]}
          />
          <table class="compact data-table">
            <thead>
              <tr>
                <th>Week</th>
                <th>Starts</th>
                <th class="number">Created</th>
                <th class="number">Resolved</th>
              </tr>
            </thead>
            <tbody>
              {m.throughput.weeks.map((week) => (
                <tr key={week.week}>
                  <td>{week.week}</td>
                  <td>{week.start}</td>
                  <td class="number">
                    <Link href={behind(weekQuery('created', week.start, report.timeZone))}>{week.created}</Link>
                  </td>
                  <td class="number">
                    <Link href={behind(weekQuery('resolved', week.start, report.timeZone))}>{week.resolved}</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </ChartFigure>

        <ChartFigure
          id="table-density"
          title="Defect density by component"
          description="Share of all counted defects, defects per active test case, and per KLOC where the project’s settings give component sizes."
          empty={m.density.length === 0 && 'No components yet: component rules (Settings) or test cases with components fill this table.'}
        >
          <table class="compact data-table">
            <thead>
              <tr>
                <th>Component</th>
                <th class="number">Defects</th>
                <th class="number">Share</th>
                <th class="number">Per test case</th>
                <th class="number">Per KLOC</th>
              </tr>
            </thead>
            <tbody>
              {m.density.map((entry) => (
                <tr key={entry.component ?? ''}>
                  <td>{componentName(entry.component)}</td>
                  <td class="number">
                    <Link href={behind({ ...componentQuery(entry.component), status: 'all' })}>{entry.share.numerator}</Link>
                  </td>
                  <td class="number">
                    {percent(entry.share)} <span class="muted">of {entry.share.denominator}</span>
                  </td>
                  <td class="number">
                    {entry.perTestCase.value ?? '—'} <span class="muted">({entry.perTestCase.numerator} ÷ {entry.perTestCase.denominator} tests)</span>
                  </td>
                  <td class="number">{entry.perKloc ? `${entry.perKloc.value} (${entry.perKloc.numerator} ÷ ${entry.perKloc.denominator})` : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ChartFigure>
      </div>
      <p class="muted small">
        As of {new Date(report.asOf).toLocaleString()} · definitions and formulas: docs/metrics.md · <Link href={`/p/${props.projectId}/releases`}>release readiness</Link>
      </p>
    </>
  );
}

function inboxRelease(props: { projectId: string; behind: (query: InboxQuery) => string }, releaseId: string, query: InboxQuery): string {
  return props.behind({ ...query, release: releaseId, status: 'all' });
}

function componentName(component: string | null) {
  return component ?? <span class="muted">(no component)</span>;
}

function ageKey(bucket: { minDays: number; maxDays: number | null }): string {
  return inboxAgeBuckets.find((entry) => entry.minDays === bucket.minDays && entry.maxDays === bucket.maxDays)?.key ?? '';
}

/** The inbox filter for one ISO week (Monday to Sunday, whole days in the report's zone). */
function weekQuery(kind: 'created' | 'resolved', start: string, timeZone: string): InboxQuery {
  const end = addDays(start, 6);
  return kind === 'created' ? { createdFrom: start, createdTo: end, tz: timeZone, status: 'all' } : { resolvedFrom: start, resolvedTo: end, tz: timeZone, status: 'all' };
}
