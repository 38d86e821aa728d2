import type { MetricsResponse, ReleasesResponse } from '../../../shared/quality-api';
import { api } from '../api';
import { percent } from '../components/figures';
import { browserTimeZone, inboxHref } from '../components/inbox-link';
import { EmptyState, ErrorState, Loading, useResource } from '../components/states';
import { dateTime } from '../components/format';
import type { QualityPageProps } from '../quality-routes';
import { Link } from '../router';
import '../quality.css';

/** Every release (newest first) with its leakage, leading to its readiness and traceability pages. */
export function ReleasesPage(props: QualityPageProps) {
  const { projectId } = props;
  const releases = useResource(
    () =>
      Promise.all([
        api.get<ReleasesResponse>(`/projects/${projectId}/releases`),
        api.get<MetricsResponse>(`/projects/${projectId}/metrics?tz=${encodeURIComponent(browserTimeZone())}`),
      ]).then(([list, metrics]) => ({ releases: list.releases, leakage: new Map(metrics.metrics.leakageByRelease.map((entry) => [entry.releaseId, entry])) })),
    [projectId],
  );
  return (
    <section class="quality-page">
      <div class="page-head">
        <h1>Releases</h1>
      </div>
      {releases.error ? (
        <ErrorState error={releases.error} onRetry={() => releases.reload()} />
      ) : !releases.data ? (
        <Loading label="Loading releases…" />
      ) : releases.data.releases.length === 0 ? (
        <EmptyState title="No releases yet">
          A release appears when a report carries a release (the widget’s <code>release</code> option) or a test run is imported with <code>--release</code>.
        </EmptyState>
      ) : (
        <table class="inbox-table releases-table">
          <thead>
            <tr>
              <th>Release</th>
              <th>First seen</th>
              <th class="number">Defects found</th>
              <th class="number">Escaped</th>
              <th class="number">Leakage</th>
              <th>Evidence</th>
            </tr>
          </thead>
          <tbody>
            {releases.data.releases.map((release) => {
              const leakage = releases.data!.leakage.get(release.id);
              return (
                <tr key={release.id} class="release-row">
                  <td class="title">
                    <Link href={`/p/${projectId}/releases/${release.id}`}>{release.version}</Link>
                  </td>
                  <td title={release.firstSeenAt}>{dateTime(release.firstSeenAt)}</td>
                  <td class="number">
                    <Link href={inboxHref(projectId, { release: release.id, status: 'all' })}>{leakage?.denominator ?? 0}</Link>
                  </td>
                  <td class="number">
                    <Link href={inboxHref(projectId, { release: release.id, status: 'all', origin: 'field' })}>{leakage?.numerator ?? 0}</Link>
                  </td>
                  <td class="number">{percent(leakage)}</td>
                  <td>
                    <Link href={`/p/${projectId}/releases/${release.id}`}>Readiness</Link> ·{' '}
                    <Link href={`/p/${projectId}/traceability?release=${encodeURIComponent(release.version)}`}>Traceability</Link> ·{' '}
                    <Link href={`/p/${projectId}/test-runs?release=${encodeURIComponent(release.version)}`}>Runs</Link>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
