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

/** `GET …/defects/:defectId/integrations`: one entry per tracker destination of the project. */
export interface TrackerDelivery {
  destinationId: string;
  kind: string;
  name: string;
  /** delivered: a ticket exists; pending: queued or retrying; failed: dead letter; not_sent. */
  delivery: 'delivered' | 'pending' | 'failed' | 'not_sent';
  ticket: { key: string | null; url: string | null; state: string | null; stateName: string | null; lastSyncedAt: string | null } | null;
  lastError: string | null;
  deadLetterId: string | null;
  /** A pre-filled "create issue" page of the tracker, offered when delivery failed for good. */
  createIssueUrl: string | null;
}

/** A destination a defect can be sent to by hand ("Send to…"). */
export interface SendTarget {
  destinationId: string;
  kind: string;
  name: string;
  role: 'tracker' | 'notifier';
  enabled: boolean;
  configured: boolean;
  /**
   * Notifiers: the newest "Send to…" of this defect: queued (or being retried, `error` then says
   * why the last attempt failed), sent, or failed for good (a dead letter). Null for trackers
   * (their state is in `trackers`) and for a notifier never sent to by hand.
   */
  lastSend: { state: 'queued' | 'sent' | 'failed'; queuedAt: string; sentAt: string | null; error: string | null; deadLetterId: string | null } | null;
}

export interface DefectIntegrationsResponse {
  trackers: TrackerDelivery[];
  sendTargets: SendTarget[];
  possibleRegressionAt: string | null;
}

export type TestLinkKind = 'covers' | 'failed_in' | 'regression_test_added';
export const testLinkKindLabels: Record<TestLinkKind, string> = {
  covers: 'covers',
  failed_in: 'failed in',
  regression_test_added: 'regression test added',
};

/** `GET …/defects/:defectId/test-links`. */
export interface DefectTestLinksResponse {
  items: {
    id: string;
    kind: TestLinkKind;
    testCaseId: string;
    testCaseKey: string;
    testCaseTitle: string;
    resultStatus: string | null;
    latestStatus: string | null;
    latestAt: string | null;
  }[];
  verifiedByTest: boolean;
  verification: { testCaseKey: string | null; release: string | null; fixedInRelease: string } | null;
  /** Covering tests that passed on the release this defect escaped in. */
  ineffective: { testCaseKey: string; testCaseTitle: string; foundInRelease: string; passedAt: string }[];
}

/** `GET …/defects/:defectId/test-suggestions`: best first, with reasons a person can check. */
export interface TestSuggestion {
  testCase: { id: string; key: string; title: string; suite: string | null; component: string | null; kind: string };
  score: number;
  reasons: string[];
}

/** `GET /integrations/kinds`: what each destination kind needs. */
export interface DestinationKindInfo {
  kind: string;
  label: string;
  role: 'tracker' | 'notifier';
  /** JSON Schema of its config (zod's toJSONSchema, input side). */
  configSchema: JsonSchema;
  /** Names of its secrets (write-only). */
  secrets: string[];
}

/** The part of JSON Schema the settings form understands. */
export interface JsonSchema {
  type?: string;
  format?: string;
  enum?: string[];
  default?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  propertyNames?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
}

/** A destination as the API shows it: secrets by name only, never their values. */
export interface Destination {
  id: string;
  kind: string;
  name: string;
  role: 'tracker' | 'notifier';
  config: Record<string, unknown>;
  secretsSet: string[];
  configured: boolean;
  enabled: boolean;
  maxAttempts: number;
  timeoutMs: number;
  inboundWebhookUrl: string | null;
}

export const routingTriggers = ['defect_created', 'threshold_crossed', 'reopened', 'manual'] as const;
export type RoutingTrigger = (typeof routingTriggers)[number];
export const routingTriggerLabels: Record<RoutingTrigger, string> = {
  defect_created: 'a defect is created',
  threshold_crossed: 'reports reach the threshold',
  reopened: 'a defect is reopened',
  manual: 'someone clicks "Send to…" without a destination',
};

export interface RoutingConditions {
  components?: string[];
  severities?: DefectSeverity[];
  origins?: ('field' | 'qa' | 'ci')[];
  releases?: string[];
  minReports?: number;
  text?: string;
}

export type RoutingAction =
  | { type: 'create_ticket' | 'notify_slack' | 'call_webhook' | 'send_email'; destinationId: string }
  | { type: 'stop' };

export interface RoutingRule {
  id: string;
  name: string;
  position: number;
  triggers: RoutingTrigger[];
  conditions: RoutingConditions;
  actions: RoutingAction[];
  enabled: boolean;
}

/** A delivery that failed for good (`GET …/dead-letters`). */
export interface DeadLetter {
  id: string;
  kind: string;
  payload: { destinationId?: string; defectId?: string; trigger?: string };
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  createdAt: string;
  finishedAt: string | null;
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
