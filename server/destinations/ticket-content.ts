import type { Kysely, Transaction } from 'kysely';
import { UAParser } from 'ua-parser-js';
import type { Database } from '../db/schema';
import type { Screenshot, TicketContent } from './destination';

type Executor = Kysely<Database> | Transaction<Database>;

const maxQuotes = 3;
/**
 * Caps per field, so a ticket stays well under Jira's 32,767-character description limit
 * (the ADF of a defect at every cap is about 25 KB; see `npm run bench:integrations`).
 */
export const ticketFieldLimits = { quote: 1000, steps: 4000, expected: 2000, actual: 2000 } as const;

function clip(value: string | null, limit: number): string | null {
  if (value === null) return null;
  return value.length > limit ? `${value.slice(0, limit - 1)}…` : value;
}
const maxLines = 10;
const reportsConsidered = 50;

/** Where a defect lives in the dashboard; the one place that builds the link. */
export function defectUrl(publicUrl: string, projectId: string, defectId: string): string {
  return `${publicUrl}/p/${projectId}/defects/${defectId}`;
}

/** The marker put on tickets (Jira label, Linear description) so a create that timed out is found again. */
export function defectMarker(defectId: string): string {
  return `bugloop-${defectId}`;
}

interface ConsoleLine {
  level?: string;
  message?: string;
  stack?: string;
}
interface NetworkLine {
  method?: string;
  url?: string;
  status?: number;
  durationMs?: number;
  error?: string;
}

/**
 * Gathers everything a ticket is pre-filled with: the defect, a few reporters' quotes, steps,
 * expected vs actual, an environment table (browsers, systems, devices, pages, releases),
 * console errors and failed requests, counts, linked test cases, and whether a screenshot exists.
 */
export async function loadTicketContent(db: Executor, defectId: string, publicUrl: string): Promise<TicketContent> {
  const defect = await db
    .selectFrom('defects')
    .leftJoin('releases as found', 'found.id', 'defects.foundInReleaseId')
    .leftJoin('releases as fixed', 'fixed.id', 'defects.fixedInReleaseId')
    .selectAll('defects')
    .select(['found.version as foundIn', 'fixed.version as fixedIn'])
    .where('defects.id', '=', defectId)
    .executeTakeFirstOrThrow();
  const reports = await db
    .selectFrom('reports')
    .leftJoin('releases', 'releases.id', 'reports.releaseId')
    .select([
      'reports.id',
      'reports.description',
      'reports.expected',
      'reports.steps',
      'reports.url',
      'reports.environment',
      'reports.userAgent',
      'reports.payload',
      'reports.enrichment',
      'reports.receivedAt',
      'releases.version as release',
    ])
    .where('reports.defectId', '=', defectId)
    .orderBy('reports.receivedAt', 'desc')
    .limit(reportsConsidered)
    .execute();

  const quotes: TicketContent['quotes'] = [];
  const seenQuotes = new Set<string>();
  for (const report of reports) {
    const normalized = report.description.trim().toLowerCase();
    if (!normalized || seenQuotes.has(normalized)) continue;
    seenQuotes.add(normalized);
    quotes.push({ text: clip(report.description.trim(), ticketFieldLimits.quote)!, receivedAt: report.receivedAt, release: report.release });
    if (quotes.length === maxQuotes) break;
  }
  const oldestFirst = [...reports].reverse();
  const enrichedSteps = oldestFirst.map((report) => (report.enrichment as { steps?: unknown }).steps).find((steps) => typeof steps === 'string' && steps);
  const steps = oldestFirst.find((report) => report.steps)?.steps ?? (enrichedSteps as string | undefined) ?? null;
  const expected = oldestFirst.find((report) => report.expected)?.expected ?? null;
  const actual = oldestFirst[0]?.description ?? null;

  const browsers = new Set<string>();
  const systems = new Set<string>();
  const devices = new Set<string>();
  const pages = new Set<string>();
  const releases = new Set<string>();
  const environments = new Set<string>();
  const consoleErrors = new Set<string>();
  const failedRequests = new Set<string>();
  for (const report of reports) {
    const payload = report.payload as { browser?: { userAgent?: string }; console?: ConsoleLine[]; network?: NetworkLine[] };
    const agent = report.userAgent ?? payload.browser?.userAgent;
    if (agent) {
      const parsed = UAParser(agent);
      if (parsed.browser.name) browsers.add(`${parsed.browser.name} ${parsed.browser.major ?? ''}`.trim());
      if (parsed.os.name) systems.add(`${parsed.os.name} ${parsed.os.version ?? ''}`.trim());
      devices.add(parsed.device.type ? `${parsed.device.type}${parsed.device.model ? ` (${parsed.device.vendor ?? ''} ${parsed.device.model})` : ''}` : 'desktop');
    }
    if (report.url) pages.add(stripQuery(report.url));
    if (report.release) releases.add(report.release);
    if (report.environment) environments.add(report.environment);
    for (const line of payload.console ?? []) {
      if (line.level !== 'error' || !line.message) continue;
      const firstFrames = line.stack ? `\n${line.stack.split('\n').slice(0, 3).join('\n')}` : '';
      consoleErrors.add(`${line.message.slice(0, 500)}${firstFrames}`);
    }
    for (const request of payload.network ?? []) {
      if (request.status === undefined || (request.status !== 0 && request.status < 400)) continue;
      const outcome = request.status === 0 ? `no response${request.error ? ` (${request.error})` : ''}` : String(request.status);
      failedRequests.add(`${request.method ?? 'GET'} ${stripQuery(request.url ?? '')} → ${outcome}${request.durationMs !== undefined ? ` in ${Math.round(request.durationMs)} ms` : ''}`);
    }
  }
  const environment: TicketContent['environment'] = [];
  const row = (label: string, values: Set<string>) => {
    if (values.size > 0) environment.push({ label, value: [...values].slice(0, 5).join(', ') + (values.size > 5 ? ` (+${values.size - 5} more)` : '') });
  };
  row('Browsers', browsers);
  row('Operating systems', systems);
  row('Devices', devices);
  row('Pages', pages);
  row('Releases', releases);
  row('Environments', environments);
  if (defect.component) environment.push({ label: 'Component', value: defect.component });

  const testCases = await db
    .selectFrom('defectTestLinks')
    .innerJoin('testCases', 'testCases.id', 'defectTestLinks.testCaseId')
    .select(['testCases.id', 'testCases.key', 'testCases.title'])
    .where('defectTestLinks.defectId', '=', defectId)
    .orderBy('testCases.key')
    .execute();
  const screenshot = await findBestScreenshot(db, defectId);

  return {
    defectId,
    projectId: defect.projectId,
    defectKey: defect.key,
    marker: defectMarker(defectId),
    title: defect.title,
    summary: defect.description.split(/\n{2,}/)[0]?.slice(0, 1000) ?? '',
    status: defect.status,
    severity: defect.severity,
    priority: defect.priority,
    component: defect.component,
    origin: defect.origin,
    quotes,
    steps: clip(steps, ticketFieldLimits.steps),
    expected: clip(expected, ticketFieldLimits.expected),
    actual: clip(actual, ticketFieldLimits.actual),
    environment,
    consoleErrors: [...consoleErrors].slice(0, maxLines),
    failedRequests: [...failedRequests].slice(0, maxLines),
    reportCount: defect.reportCount,
    affectedUsers: defect.affectedUsers,
    foundIn: defect.foundIn,
    fixedIn: defect.fixedIn,
    defectUrl: defectUrl(publicUrl, defect.projectId, defectId),
    testCases: testCases.map((testCase) => ({ key: testCase.key, title: testCase.title, url: `${publicUrl}/p/${defect.projectId}/test-cases/${testCase.id}` })),
    hasScreenshot: Boolean(screenshot),
  };
}

function stripQuery(url: string): string {
  return url.replace(/[?#].*$/, '');
}

/**
 * The screenshot to attach: the newest one of the defect's reports, as the likeliest to show the
 * current state. Returns the id only; `loadScreenshot` fetches the bytes when the upload runs.
 */
async function findBestScreenshot(db: Executor, defectId: string) {
  return db
    .selectFrom('reportAttachments')
    .innerJoin('reports', 'reports.id', 'reportAttachments.reportId')
    .innerJoin('attachmentBlobs', 'attachmentBlobs.sha256', 'reportAttachments.sha256')
    .select(['reportAttachments.sha256', 'reportAttachments.filename', 'attachmentBlobs.contentType'])
    .where('reports.defectId', '=', defectId)
    .where('reportAttachments.kind', '=', 'screenshot')
    .orderBy('reports.receivedAt', 'desc')
    .orderBy('reportAttachments.createdAt', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** The best screenshot with its bytes, or undefined when the defect has none. */
export async function loadScreenshot(db: Executor, defectId: string): Promise<Screenshot | undefined> {
  const best = await findBestScreenshot(db, defectId);
  if (!best) return undefined;
  const blob = await db.selectFrom('attachmentBlobs').select(['data', 'contentType']).where('sha256', '=', best.sha256).executeTakeFirstOrThrow();
  const extension = blob.contentType.split('/')[1]?.replace('jpeg', 'jpg') ?? 'png';
  return { filename: best.filename ?? `screenshot-${best.sha256.slice(0, 8)}.${extension}`, contentType: blob.contentType, data: Buffer.from(blob.data), sha256: best.sha256 };
}
