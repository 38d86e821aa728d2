import type { Report } from '../../shared/report-schema';
import { type ComponentRule, componentForRoute } from './component-rules';
import { draftSteps, draftTitle } from './drafts';
import { errorSignature, failedRequestKey, normalizeErrorMessage, primaryError, requestSignature } from './signatures';
import { routePattern } from './route-pattern';
import { type DeviceSummary, summarizeDevice } from './user-agent';

/** What enrichment adds to a report; stored in `reports.enrichment` and in indexed columns. */
export interface Enrichment {
  route: string | null;
  component: string;
  errorSignature: string | null;
  requestSignature: string | null;
  details: {
    /** Drafted from the first sentence when the user gave no title. */
    title: string;
    /** Drafted from breadcrumbs; null when there were none. */
    steps: string | null;
    device: DeviceSummary;
    /** Normalized message of the primary error, for display and grouping. */
    error: string | null;
    /** "POST /api/orders/:id → 500" for the first failed request. */
    failedRequest: string | null;
    consoleErrorCount: number;
    failedRequestCount: number;
  };
}

/**
 * Turns raw context into triage facts. Pure and deterministic: the same report and rules
 * always give the same result, so it is unit-tested and re-runnable.
 */
export function enrichReport(report: Report, rules: readonly ComponentRule[], headerUserAgent?: string | null): Enrichment {
  const route = report.url ? routePattern(report.url) : null;
  const error = primaryError(report.console);
  return {
    route,
    component: componentForRoute(route, rules),
    errorSignature: errorSignature(report.console),
    requestSignature: requestSignature(report.network),
    details: {
      title: report.title?.trim() || draftTitle(report.description),
      steps: report.steps?.trim() ? null : draftSteps(report.breadcrumbs, report.url),
      device: summarizeDevice(report.browser?.userAgent ?? headerUserAgent ?? undefined, report.browser?.clientHints),
      error: error ? normalizeErrorMessage(error.message) : null,
      failedRequest: failedRequestKey(report.network),
      consoleErrorCount: (report.console ?? []).filter((entry) => entry.level === 'error').length,
      failedRequestCount: (report.network ?? []).filter((entry) => entry.status === 0 || entry.status >= 400).length,
    },
  };
}
