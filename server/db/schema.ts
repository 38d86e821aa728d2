import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * TypeScript view of the tables, in camelCase (kysely's CamelCasePlugin maps to snake_case).
 * Keep in step with the migrations in ./migrations.
 */
type CreatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
/** jsonb: selected as parsed JSON; written as a JSON string or a value kysely serialises. */
type Json<T> = ColumnType<T, T | string, T | string>;
type JsonDefault<T> = ColumnType<T, T | string | undefined, T | string>;
/** bigint identity: pg returns int8 as a string so no precision is lost. */
type BigIntId = ColumnType<string, never, never>;

export type DefectStatus = 'new' | 'triaged' | 'in_progress' | 'resolved' | 'verified' | 'closed' | 'wont_fix' | 'reopened';
export type DefectSeverity = 'blocker' | 'critical' | 'major' | 'minor' | 'trivial';
export type DefectPriority = 'urgent' | 'high' | 'medium' | 'low' | 'none';
export type DefectOrigin = 'field' | 'qa' | 'ci';
export type ProjectRole = 'admin' | 'triager' | 'viewer';
export type JobState = 'pending' | 'running' | 'done' | 'dead';

export interface ProjectsTable {
  id: Generated<string>;
  name: string;
  keyPrefix: string;
  publicKey: string;
  allowedOrigins: ColumnType<string[], string[] | undefined, string[]>;
  settings: JsonDefault<Record<string, unknown>>;
  nextDefectNumber: Generated<number>;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
  archivedAt: NullableTimestamp;
}

export interface UsersTable {
  id: Generated<string>;
  email: string;
  name: string | null;
  passwordHash: string | null;
  isInstanceAdmin: Generated<boolean>;
  createdAt: CreatedAt;
  disabledAt: NullableTimestamp;
}

export interface ProjectMembersTable {
  projectId: string;
  userId: string;
  role: ProjectRole;
  createdAt: CreatedAt;
}

export interface SessionsTable {
  tokenHash: string;
  userId: string;
  csrfToken: string;
  createdAt: CreatedAt;
  lastSeenAt: CreatedAt;
  expiresAt: Timestamp;
  userAgent: string | null;
  ip: string | null;
}

export interface ApiTokensTable {
  id: Generated<string>;
  projectId: string;
  name: string;
  tokenHash: string;
  tokenPrefix: string;
  scopes: string[];
  createdBy: string | null;
  createdAt: CreatedAt;
  lastUsedAt: NullableTimestamp;
  revokedAt: NullableTimestamp;
}

export interface ReleasesTable {
  id: Generated<string>;
  projectId: string;
  version: string;
  semverMajor: number | null;
  semverMinor: number | null;
  semverPatch: number | null;
  semverPrerelease: string | null;
  releasedAt: NullableTimestamp;
  firstSeenAt: CreatedAt;
}

export interface ComponentRulesTable {
  id: Generated<string>;
  projectId: string;
  position: number;
  pattern: string;
  patternKind: 'glob' | 'regex';
  component: string;
  createdAt: CreatedAt;
}

export interface AttachmentBlobsTable {
  sha256: string;
  contentType: string;
  byteSize: number;
  width: number | null;
  height: number | null;
  data: Buffer;
  createdAt: CreatedAt;
}

export interface DefectsTable {
  id: Generated<string>;
  projectId: string;
  number: number;
  key: string;
  title: string;
  description: Generated<string>;
  status: ColumnType<DefectStatus, DefectStatus | undefined, DefectStatus>;
  severity: DefectSeverity | null;
  priority: DefectPriority | null;
  assigneeId: string | null;
  component: string | null;
  route: string | null;
  origin: DefectOrigin;
  foundInReleaseId: string | null;
  fixedInReleaseId: string | null;
  errorSignature: string | null;
  requestSignature: string | null;
  reportCount: Generated<number>;
  affectedUsers: Generated<number>;
  reopenCount: Generated<number>;
  firstSeenAt: CreatedAt;
  lastSeenAt: CreatedAt;
  resolvedAt: NullableTimestamp;
  mergedIntoId: string | null;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
  search: ColumnType<string, never, never>;
  /** Recency-weighted impact (generated; see migration 20261122_0200). */
  impact: ColumnType<number, never, never>;
}

export interface ReportsTable {
  id: Generated<string>;
  projectId: string;
  clientId: string;
  defectId: string | null;
  origin: ColumnType<DefectOrigin, DefectOrigin | undefined, DefectOrigin>;
  state: ColumnType<'received' | 'processed' | 'failed', 'received' | 'processed' | 'failed' | undefined, 'received' | 'processed' | 'failed'>;
  receivedAt: CreatedAt;
  processedAt: NullableTimestamp;
  payload: Json<Record<string, unknown>>;
  title: string | null;
  description: string;
  expected: string | null;
  steps: string | null;
  reporterEmail: string | null;
  reporterId: string | null;
  url: string | null;
  route: string | null;
  component: string | null;
  releaseId: string | null;
  environment: string | null;
  enrichment: JsonDefault<Record<string, unknown>>;
  errorSignature: string | null;
  requestSignature: string | null;
  candidates: JsonDefault<unknown[]>;
  embedding: number[] | null;
  clientIp: string | null;
  userAgent: string | null;
  reporterTokenHash: string | null;
  search: ColumnType<string, never, never>;
}

export interface ReportAttachmentsTable {
  id: Generated<string>;
  reportId: string;
  sha256: string;
  kind: Generated<string>;
  filename: string | null;
  createdAt: CreatedAt;
}

export interface DefectEventsTable {
  id: BigIntId;
  projectId: string;
  defectId: string;
  actorUserId: string | null;
  actorKind: 'user' | 'system' | 'integration' | 'api';
  kind: string;
  field: string | null;
  oldValue: Json<unknown> | null;
  newValue: Json<unknown> | null;
  createdAt: CreatedAt;
}

export interface DefectCommentsTable {
  id: Generated<string>;
  defectId: string;
  authorId: string | null;
  body: string;
  createdAt: CreatedAt;
}

export interface DefectNonDuplicatesTable {
  projectId: string;
  defectA: string;
  defectB: string;
  createdBy: string | null;
  createdAt: CreatedAt;
}

export interface TestCasesTable {
  id: Generated<string>;
  projectId: string;
  key: string;
  title: string;
  suite: string | null;
  component: string | null;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  priority: string | null;
  kind: 'manual' | 'automated';
  steps: JsonDefault<unknown[]>;
  expectedResult: string | null;
  identity: string | null;
  requirements: ColumnType<string[], string[] | undefined, string[]>;
  archivedAt: NullableTimestamp;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
}

export interface RequirementsTable {
  projectId: string;
  key: string;
  title: string | null;
  url: string | null;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
}

export interface TestCaseRevisionsTable {
  id: BigIntId;
  testCaseId: string;
  actorUserId: string | null;
  changes: Json<Record<string, unknown>>;
  createdAt: CreatedAt;
}

export interface TestRunsTable {
  id: Generated<string>;
  projectId: string;
  releaseId: string | null;
  build: string | null;
  environment: string | null;
  commitSha: string | null;
  source: string | null;
  total: Generated<number>;
  passed: Generated<number>;
  failed: Generated<number>;
  skipped: Generated<number>;
  startedAt: NullableTimestamp;
  createdAt: CreatedAt;
}

export interface TestResultsTable {
  id: BigIntId;
  testRunId: string;
  testCaseId: string;
  status: 'passed' | 'failed' | 'error' | 'skipped';
  durationMs: number | null;
  message: string | null;
  output: string | null;
  failureSignature: string | null;
  isFlaky: Generated<boolean>;
  createdAt: CreatedAt;
}

export interface DefectTestLinksTable {
  id: Generated<string>;
  defectId: string;
  testCaseId: string;
  kind: 'covers' | 'failed_in' | 'regression_test_added';
  testResultId: string | null;
  createdBy: string | null;
  createdAt: CreatedAt;
}

/** Derived from defect_events by a trigger (migration 20261122_0500); read by metrics, never written by code. */
export interface DefectStatesTable {
  defectId: string;
  projectId: string;
  validFrom: Date;
  validTo: Date;
  createdAt: Date;
  status: DefectStatus;
  isDone: boolean;
  origin: DefectOrigin;
  severity: DefectSeverity | null;
  component: string | null;
  foundInReleaseId: string | null;
  merged: boolean;
  reopenCount: number;
  resolvedAt: Date | null;
  firstResolvedAt: Date | null;
}

/** Reports per defect, kept by triggers on reports (migration 20261203_0100); read by metrics, never written by code. */
export interface DefectReportTalliesTable {
  defectId: string;
  projectId: string;
  reports: number;
  /** Bounds of the reports' received_at: never inside their span (they only widen). */
  firstReceivedAt: Date;
  lastReceivedAt: Date;
}

export interface DestinationsTable {
  id: Generated<string>;
  projectId: string;
  kind: string;
  name: string;
  config: JsonDefault<Record<string, unknown>>;
  encryptedSecrets: string | null;
  enabled: Generated<boolean>;
  /** Attempts before a delivery lands in the dead-letter list (migration 0400). */
  maxAttempts: Generated<number>;
  /** Per remote call (migration 0400). */
  timeoutMs: Generated<number>;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
}

export interface RoutingRulesTable {
  id: Generated<string>;
  projectId: string;
  position: number;
  name: string;
  triggers: string[];
  conditions: JsonDefault<Record<string, unknown>>;
  actions: JsonDefault<unknown[]>;
  enabled: Generated<boolean>;
  createdAt: CreatedAt;
}

export interface ExternalTicketsTable {
  id: Generated<string>;
  defectId: string;
  destinationId: string;
  destinationKind: string;
  externalKey: string | null;
  /** The tracker's own id (Jira issue id, Linear issue uuid) (migration 0400). */
  externalId: string | null;
  /** The remote state's name, e.g. "In Review" (migration 0400); `state` holds its category. */
  stateName: string | null;
  url: string | null;
  state: string | null;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
  lastSyncedAt: NullableTimestamp;
}

export interface JobsTable {
  id: BigIntId;
  kind: string;
  projectId: string | null;
  payload: JsonDefault<Record<string, unknown>>;
  state: ColumnType<JobState, JobState | undefined, JobState>;
  /** Attempts counted towards `maxAttempts`; reset when a person retries a dead job. */
  attempts: Generated<number>;
  maxAttempts: Generated<number>;
  /** Every start ever, never reset: above 1, an earlier attempt may have had its effect. */
  totalAttempts: Generated<number>;
  runAt: CreatedAt;
  lockedAt: NullableTimestamp;
  lockedBy: string | null;
  lastError: string | null;
  idempotencyKey: string | null;
  createdAt: CreatedAt;
  finishedAt: NullableTimestamp;
}

export interface InboundWebhookDeliveriesTable {
  source: string;
  deliveryId: string;
  receivedAt: CreatedAt;
}

export interface AuditLogTable {
  id: BigIntId;
  projectId: string | null;
  actorUserId: string | null;
  action: string;
  target: string | null;
  detail: JsonDefault<Record<string, unknown>>;
  createdAt: CreatedAt;
  /** Migration 20261201_1300: a person (user), the command line (cli) or the server itself (system). */
  actorKind: ColumnType<AuditActorKind, AuditActorKind | undefined, AuditActorKind>;
  requestId: string | null;
  before: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  after: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
}

export type AuditActorKind = 'user' | 'cli' | 'system';

/** Deduplication index (migration 20261122_0100): documents per project. */
export interface DedupCorpusTable {
  projectId: string;
  documentCount: number;
}

/** Deduplication index: document frequency of each term per project. */
export interface DedupTermsTable {
  projectId: string;
  term: string;
  documentFrequency: number;
}

/** Deduplication index: the vector norms of one indexed report. */
export interface DedupDocumentsTable {
  reportId: string;
  projectId: string;
  norm: number;
  titleNorm: number;
  receivedAt: Timestamp;
  embedding: number[] | null;
}

/** Deduplication index: which reports contain a term, newest first. */
export interface DedupPostingsTable {
  projectId: string;
  term: string;
  reportId: string;
  receivedAt: Timestamp;
  titleCount: number;
  bodyCount: number;
}

export interface Database {
  projects: ProjectsTable;
  users: UsersTable;
  projectMembers: ProjectMembersTable;
  sessions: SessionsTable;
  apiTokens: ApiTokensTable;
  releases: ReleasesTable;
  componentRules: ComponentRulesTable;
  attachmentBlobs: AttachmentBlobsTable;
  defects: DefectsTable;
  reports: ReportsTable;
  reportAttachments: ReportAttachmentsTable;
  defectEvents: DefectEventsTable;
  defectComments: DefectCommentsTable;
  defectNonDuplicates: DefectNonDuplicatesTable;
  testCases: TestCasesTable;
  testCaseRevisions: TestCaseRevisionsTable;
  requirements: RequirementsTable;
  testRuns: TestRunsTable;
  testResults: TestResultsTable;
  defectTestLinks: DefectTestLinksTable;
  defectStates: DefectStatesTable;
  defectReportTallies: DefectReportTalliesTable;
  destinations: DestinationsTable;
  routingRules: RoutingRulesTable;
  externalTickets: ExternalTicketsTable;
  jobs: JobsTable;
  inboundWebhookDeliveries: InboundWebhookDeliveriesTable;
  auditLog: AuditLogTable;
  dedupCorpus: DedupCorpusTable;
  dedupTerms: DedupTermsTable;
  dedupDocuments: DedupDocumentsTable;
  dedupPostings: DedupPostingsTable;
}

export type Project = Selectable<ProjectsTable>;
export type User = Selectable<UsersTable>;
export type Defect = Selectable<DefectsTable>;
export type NewDefect = Insertable<DefectsTable>;
export type DefectUpdate = Updateable<DefectsTable>;
export type ReportRow = Selectable<ReportsTable>;
export type Job = Selectable<JobsTable>;
export type DestinationRow = Selectable<DestinationsTable>;
export type ExternalTicket = Selectable<ExternalTicketsTable>;
export type RoutingRuleRow = Selectable<RoutingRulesTable>;
