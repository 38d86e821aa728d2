import type { ComponentType } from 'preact';
import { LazyPage } from './components/lazy-page';
import { Link, matchPath } from './router';

/** Props every quality page gets: the project, the path's parameters and the query string. */
export interface QualityPageProps {
  projectId: string;
  params: Record<string, string>;
  search: URLSearchParams;
}

type Loader = () => Promise<ComponentType<QualityPageProps>>;

/**
 * The metrics, release and test pages, each loaded on first visit as its own chunk, so the
 * dashboard's first load (sign-in, inbox) stays small; the charting library is a further chunk
 * that only the chart pages load. More specific patterns come first (`/test-cases/new` before
 * `/test-cases/:caseId`).
 */
const routes: { pattern: string; load: Loader }[] = [
  { pattern: '/p/:projectId/metrics', load: () => import('./pages/metrics').then((module) => module.MetricsPage) },
  { pattern: '/p/:projectId/releases', load: () => import('./pages/releases').then((module) => module.ReleasesPage) },
  { pattern: '/p/:projectId/releases/:release', load: () => import('./pages/release-readiness').then((module) => module.ReleaseReadinessPage) },
  { pattern: '/p/:projectId/test-cases', load: () => import('./pages/test-cases').then((module) => module.TestCasesPage) },
  { pattern: '/p/:projectId/test-cases/new', load: () => import('./pages/test-case').then((module) => module.NewTestCasePage) },
  { pattern: '/p/:projectId/test-cases/import', load: () => import('./pages/test-case-import').then((module) => module.TestCaseImportPage) },
  { pattern: '/p/:projectId/test-cases/:caseId', load: () => import('./pages/test-case').then((module) => module.TestCasePage) },
  { pattern: '/p/:projectId/test-runs', load: () => import('./pages/test-runs').then((module) => module.TestRunsPage) },
  { pattern: '/p/:projectId/test-runs/:runId', load: () => import('./pages/test-runs').then((module) => module.TestRunPage) },
  { pattern: '/p/:projectId/traceability', load: () => import('./pages/traceability').then((module) => module.TraceabilityPage) },
];

/** The quality page for a path, or undefined when the path is not one of them. */
export function qualityPage(path: string, search: URLSearchParams) {
  for (const route of routes) {
    const params = matchPath(route.pattern, path);
    if (params) return <LazyPage key={route.pattern} load={route.load} props={{ projectId: params.projectId, params, search }} />;
  }
  return undefined;
}

/** Top-bar entries for the quality pages. */
export function QualityNavLinks(props: { projectId: string; path: string }) {
  const base = `/p/${props.projectId}`;
  const active = (...prefixes: string[]) => (prefixes.some((prefix) => props.path.startsWith(`${base}/${prefix}`)) ? 'active' : '');
  return (
    <>
      <Link href={`${base}/metrics`} class={active('metrics')}>
        Metrics
      </Link>
      <Link href={`${base}/releases`} class={active('releases')}>
        Releases
      </Link>
      <Link href={`${base}/test-cases`} class={active('test-cases', 'test-runs', 'traceability')}>
        Tests
      </Link>
    </>
  );
}
