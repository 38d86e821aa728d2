import type { Report } from '../../shared/report-schema';
import { scrubText, scrubUrl } from './scrub';

/**
 * Scrubs the automatically captured parts of a report (URLs, console, network, breadcrumbs).
 * The user's own words (description, expected, steps, title) and the email they chose to give
 * are kept as written.
 */
export function scrubReport(report: Report): Report {
  return {
    ...report,
    url: report.url && scrubUrl(report.url),
    referrer: report.referrer && scrubUrl(report.referrer),
    console: report.console?.map((entry) => ({ ...entry, message: scrubText(entry.message), stack: entry.stack && scrubText(entry.stack) })),
    network: report.network?.map((entry) => ({ ...entry, url: scrubUrl(entry.url), error: entry.error && scrubText(entry.error) })),
    breadcrumbs: report.breadcrumbs?.map((crumb) => ({
      ...crumb,
      text: crumb.text && scrubText(crumb.text),
      from: crumb.from && scrubUrl(crumb.from),
      to: crumb.to && scrubUrl(crumb.to),
      message: crumb.message && scrubText(crumb.message),
    })),
  };
}
