/**
 * Wire types of the quality APIs the dashboard's metrics, release and test pages read:
 * `GET …/metrics`, `GET …/releases/:release/readiness`, the test catalog, test runs and
 * traceability. Dates travel as ISO strings. Definitions of every figure: docs/metrics.md.
 */

/** A figure that can be audited: value = numerator ÷ denominator, null when nothing to divide by. */
export interface Ratio {
  value: number | null;
  numerator: number;
  denominator: number;
}

/** Median and mean hours to repair; the mean is numerator (total hours) ÷ denominator (defects). */
export interface RepairTime {
  medianHours: number | null;
  meanHours: number | null;
  numerator: number;
  denominator: number;
}

export interface ReleaseRef {
  id: string;
  version: string;
  releasedAt?: string | null;
}

/** `GET /api/v1/projects/:projectId/metrics`. */
export interface MetricsResponse {
  projectId: string;
  asOf: string;
  timeZone: string;
  filters: { release: ReleaseRef | null; component: string | null; from: string | null; to: string | null };
  metrics: {
    defectLeakage: Ratio;
    defectDetectionPercentage: Ratio;
    leakageByRelease: (Ratio & { releaseId: string; version: string })[];
    escapedWithoutCoverage: Ratio;
    escapedByComponent: { component: string | null; escaped: number; withoutCoverage: Ratio }[];
    ineffectiveTests: Ratio & { defects: { defectId: string; defectKey: string; testCaseKeys: string[] }[] };
    mttr: {
      overall: RepairTime;
      bySeverity: (RepairTime & { severity: string | null })[];
      byComponent: (RepairTime & { component: string | null })[];
    };
    reopenRate: Ratio & { reopens: number };
    defectAge: { open: number; buckets: { label: string; minDays: number; maxDays: number | null; count: number }[] };
    density: { component: string | null; share: Ratio; perTestCase: Ratio; perKloc: Ratio | null }[];
    throughput: { weeks: { week: string; start: string; created: number; resolved: number }[] };
    reportsPerDefect: Ratio;
    duplicateRate: Ratio;
  };
}

/** `GET /api/v1/projects/:projectId/releases/:release/readiness`. */
export interface ReadinessResponse {
  projectId: string;
  asOf: string;
  release: ReleaseRef;
  previousRelease: ReleaseRef | null;
  tests: {
    runs: number;
    builds: string[];
    planned: number;
    executed: Ratio;
    passRate: Ratio;
    failingByPriority: { priority: string | null; count: number }[];
    failing: { testCaseId: string; key: string; title: string; priority: string | null; component: string | null; status: 'failed' | 'error'; build: string | null; at: string }[];
  };
  openDefects: {
    total: number;
    bySeverity: { severity: string | null; count: number }[];
    blocking: { defectId: string; key: string; title: string; severity: string | null; status: string }[];
  };
  previousReleaseEscapes: {
    total: number;
    withTests: number;
    defects: { defectId: string; key: string; title: string; status: string; testCaseKeys: string[]; hasTest: boolean; testPassedOnRelease: boolean }[];
  };
  leakageTrend: (Ratio & { releaseId: string; version: string })[];
  checks: { name: 'no_open_blockers' | 'all_planned_tests_executed' | 'no_failing_tests' | 'previous_escapes_covered'; passed: boolean; detail: string }[];
}

/** `GET /api/v1/projects/:projectId/releases`: newest first. */
export interface ReleasesResponse {
  releases: { id: string; version: string; releasedAt: string | null; firstSeenAt: string }[];
}

export interface TestStep {
  action: string;
  expected?: string | null;
}

/** A catalog entry as the test-case routes answer it. */
export interface TestCase {
  id: string;
  projectId: string;
  key: string;
  title: string;
  suite: string | null;
  component: string | null;
  tags: string[];
  priority: string | null;
  kind: 'manual' | 'automated';
  steps: TestStep[];
  expectedResult: string | null;
  identity: string | null;
  requirements: string[];
  archivedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** `GET …/test-cases`. */
export interface TestCaseListResponse {
  items: TestCase[];
  total: number;
}

/** `GET …/test-case-facets`. */
export interface TestCaseFacets {
  suites: string[];
  components: string[];
  tags: string[];
  priorities: string[];
}

export type TestResultStatus = 'passed' | 'failed' | 'error' | 'skipped';

/** `GET …/test-cases/:caseId`. */
export interface TestCaseDetailResponse extends TestCase {
  revisions: { id: string; actorUserId: string | null; actorEmail: string | null; changes: Record<string, unknown>; createdAt: string }[];
  recentResults: {
    id: string;
    status: TestResultStatus;
    durationMs: number | null;
    message: string | null;
    isFlaky: boolean;
    createdAt: string;
    runId: string;
    build: string | null;
    commitSha: string | null;
    release: string | null;
  }[];
  latestByRelease: { releaseId: string; release: string; status: TestResultStatus; isFlaky: boolean; message: string | null; createdAt: string; runId: string; build: string | null }[];
  defectLinks: { id: string; kind: string; defectId: string; defectKey: string; defectTitle: string; origin: 'field' | 'qa' | 'ci'; status: string }[];
}

/** A test run as listed (`GET …/test-runs`) and shown (`GET …/test-runs/:runId`). */
export interface TestRun {
  id: string;
  projectId: string;
  releaseId: string | null;
  release?: string | null;
  build: string | null;
  environment: string | null;
  commitSha: string | null;
  source: string | null;
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  flaky: number;
  startedAt: string | null;
  createdAt: string;
}

export interface TestRunDetailResponse {
  run: TestRun;
  results: {
    id: string;
    status: TestResultStatus;
    durationMs: number | null;
    message: string | null;
    isFlaky: boolean;
    failureSignature: string | null;
    testCaseId: string;
    key: string;
    title: string;
    suite: string | null;
  }[];
}

/** `GET …/test-releases`: releases in release order (oldest first). */
export interface TestReleasesResponse {
  items: { id: string; version: string; order: number; firstSeenAt: string }[];
}

export type RequirementStatus = 'no_tests' | 'failing' | 'not_run' | 'passing';

/** `GET …/traceability?release=`. */
export interface TraceabilityResponse {
  release: { id: string; version: string } | null;
  requirements: {
    requirement: string;
    title: string | null;
    url: string | null;
    status: RequirementStatus;
    tests: { id: string; key: string; title: string; kind: string; latestStatus: string | null; flaky: boolean; latestAt: string | null }[];
    defects: { id: string; key: string; title: string; origin: string; status: string; linkKind: string; testCaseKey: string }[];
  }[];
}

/** Catalog fields a CSV column can fill (`?map.<field>=<column>`). */
export const csvImportTargets = ['key', 'title', 'suite', 'component', 'tags', 'priority', 'kind', 'steps', 'expected', 'preconditions', 'requirements'] as const;
export type CsvImportTarget = (typeof csvImportTargets)[number];
export type CsvImportPreset = 'testrail' | 'qase' | 'kiwi' | 'generic';

/** `POST …/test-cases/import?dryRun=true`. */
export interface CsvPreviewResponse {
  preset: CsvImportPreset;
  headers: string[];
  columns: Partial<Record<CsvImportTarget, string>>;
  total: number;
  cases: (Omit<TestCase, 'id' | 'projectId' | 'identity' | 'archivedAt' | 'createdAt' | 'updatedAt' | 'key' | 'suite' | 'component' | 'priority' | 'expectedResult'> & {
    key?: string;
    suite?: string | null;
    component?: string | null;
    priority?: string | null;
    expectedResult?: string | null;
  })[];
}

/** `POST …/test-cases/import`. */
export interface CsvImportResponse {
  preset: CsvImportPreset;
  created: number;
  updated: number;
  unchanged: number;
  keys: string[];
}
