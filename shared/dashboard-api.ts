/**
 * Wire types of the dashboard API (`/api/v1`), shared by the server routes' tests and the
 * dashboard client. Dates travel as ISO strings.
 */

export type ProjectRole = 'admin' | 'triager' | 'viewer';
export type DefectStatus = 'new' | 'triaged' | 'in_progress' | 'resolved' | 'verified' | 'closed' | 'wont_fix' | 'reopened';
export type DefectSeverity = 'blocker' | 'critical' | 'major' | 'minor' | 'trivial';
export type DefectPriority = 'urgent' | 'high' | 'medium' | 'low' | 'none';

export const defectStatusLabels: Record<DefectStatus, string> = {
  new: 'New',
  triaged: 'Triaged',
  in_progress: 'In progress',
  resolved: 'Resolved',
  verified: 'Verified',
  closed: 'Closed',
  wont_fix: "Won't fix",
  reopened: 'Reopened',
};
export const settableStatuses: DefectStatus[] = ['new', 'triaged', 'in_progress', 'resolved', 'verified', 'closed', 'wont_fix'];
export const severities: DefectSeverity[] = ['blocker', 'critical', 'major', 'minor', 'trivial'];
export const priorities: DefectPriority[] = ['urgent', 'high', 'medium', 'low', 'none'];

export interface MeResponse {
  user: { id: string; email: string; name: string | null; isInstanceAdmin: boolean };
  projects: { id: string; name: string; keyPrefix: string; role: ProjectRole }[];
  csrfToken: string;
}

export interface ProjectResponse {
  project: { id: string; name: string; keyPrefix: string; publicKey: string; allowedOrigins: string[]; settings: Record<string, unknown>; createdAt: string };
  role: ProjectRole | 'token';
}

export interface InboxRow {
  id: string;
  key: string;
  title: string;
  status: DefectStatus;
  severity: DefectSeverity | null;
  priority: DefectPriority | null;
  component: string | null;
  origin: 'field' | 'qa' | 'ci';
  reportCount: number;
  affectedUsers: number;
  firstSeenAt: string;
  lastSeenAt: string;
  release: string | null;
  assigneeEmail: string | null;
  ticket: { kind: string; key: string | null; url: string | null; state: string | null } | null;
  coverageGap: boolean;
}

export interface InboxResponse {
  defects: InboxRow[];
  total: number;
  totalIsLowerBound: boolean;
  offset: number;
  limit: number;
  hasMore: boolean;
}

export interface DefectDetailResponse {
  defect: {
    id: string;
    key: string;
    title: string;
    description: string;
    status: DefectStatus;
    severity: DefectSeverity | null;
    priority: DefectPriority | null;
    assigneeId: string | null;
    assigneeEmail: string | null;
    component: string | null;
    route: string | null;
    origin: 'field' | 'qa' | 'ci';
    foundInReleaseId: string | null;
    foundInRelease: string | null;
    fixedInReleaseId: string | null;
    fixedInRelease: string | null;
    reportCount: number;
    affectedUsers: number;
    reopenCount: number;
    firstSeenAt: string;
    lastSeenAt: string;
    mergedIntoId: string | null;
    mergedIntoKey: string | null;
    coverageGap: boolean;
  };
  breakdown: Record<'browser' | 'os' | 'device', { name: string; count: number }[]>;
  tests: { id: string; kind: string; key: string; title: string; testCaseId: string; resultStatus: string | null }[];
  tickets: { id: string; destinationKind: string; externalKey: string | null; url: string | null; state: string | null }[];
}

export interface ReportAttachment {
  id: string;
  kind: string;
  filename: string | null;
  contentType: string;
  byteSize: number;
  width: number | null;
  height: number | null;
}

export interface DefectReport {
  id: string;
  origin: string;
  receivedAt: string;
  title: string | null;
  description: string;
  expected: string | null;
  steps: string | null;
  reporterEmail: string | null;
  url: string | null;
  route: string | null;
  component: string | null;
  environment: string | null;
  release: string | null;
  payload: Record<string, unknown>;
  enrichment: Record<string, unknown>;
  attachments: ReportAttachment[];
}

export interface DefectEvent {
  id: string;
  kind: string;
  field: string | null;
  oldValue: unknown;
  newValue: unknown;
  actorKind: string;
  actorEmail: string | null;
  createdAt: string;
}

export interface DefectComment {
  id: string;
  body: string;
  createdAt: string;
  authorEmail: string | null;
  authorName: string | null;
}

/** From the deduplication routes: a possible duplicate with its score and the signals behind it. */
export interface DuplicateCandidate {
  defectId: string;
  key: string;
  title: string;
  status: DefectStatus;
  reportCount: number;
  score: number;
  signals: Record<string, number>;
}

export interface Member {
  userId: string;
  email: string;
  name: string | null;
  role: ProjectRole;
}

export interface ComponentRule {
  id: string;
  position: number;
  pattern: string;
  patternKind: 'glob' | 'regex';
  component: string;
}

export interface ApiTokenSummary {
  id: string;
  name: string;
  tokenPrefix: string;
  scopes: string[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  createdByEmail: string | null;
}

export interface SavedView {
  id: string;
  name: string;
  query: Record<string, string>;
}

export interface Release {
  id: string;
  version: string;
}

/**
 * The inbox's query parameters (`GET …/defects` and the inbox page URL `/p/:projectId?…`). The
 * metrics, readiness and test pages link to "the defects behind a figure" with these.
 */
export interface InboxQuery {
  q?: string;
  /** `open` (default), `all`, or a comma list of statuses. */
  status?: string;
  /** Comma list of severities; `none` = not set. */
  severity?: string;
  /** A component name, or `noComponent` for defects without one. */
  component?: string;
  /** Found-in release id. */
  release?: string;
  /** One origin or a comma list (`qa,ci`: found before release). */
  origin?: string;
  assignee?: string;
  hasTicket?: 'true' | 'false';
  coverageGap?: 'true' | 'false';
  /** Reopened at least once (the reopen rate's numerator). */
  reopened?: 'true' | 'false';
  /** Creation and last resolution windows: a day (whole day in `tz`) or a date-time with a zone; both ends inclusive. */
  createdFrom?: string;
  createdTo?: string;
  resolvedFrom?: string;
  resolvedTo?: string;
  /** IANA zone for the days above (default UTC). */
  tz?: string;
  /** Open-defect age bucket, a key of `inboxAgeBuckets`. */
  age?: string;
  sort?: string;
  offset?: string;
}

/** The component filter value meaning "no component set" (in parentheses, so unlike any real component name). */
export const noComponent = '(none)';

/** Age buckets of open defects in days, [minDays, maxDays): the same edges as the metrics' `defectAge`. */
export const inboxAgeBuckets = [
  { key: '0-1', label: 'under 1 day', minDays: 0, maxDays: 1 },
  { key: '1-7', label: '1–7 days', minDays: 1, maxDays: 7 },
  { key: '7-30', label: '7–30 days', minDays: 7, maxDays: 30 },
  { key: '30-90', label: '30–90 days', minDays: 30, maxDays: 90 },
  { key: '90-', label: 'over 90 days', minDays: 90, maxDays: null },
] as const;
