import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { SharedSnapshotReader } from '../../server/db/shared-snapshot';
import { createDefect } from '../../server/defects/defect-service';
import { createProject } from '../../server/projects/project-service';
import { type MetricsQueryInput, computeMetrics, resolveMetricsQuery } from '../../server/metrics/metrics-service';
import { computeReadiness } from '../../server/metrics/readiness-service';
import { type SeededHistory, seedMetricsHistory, seededAsOf } from '../support/metrics-history';
import { createTestDatabase } from '../support/test-database';

// Lists are in defect-number order (D8 = WEB-1, D9 = WEB-2, D1 = WEB-3 …).
// Expected values are worked out by hand from the history described in test/support/metrics-history.ts.

let database: DatabaseHandle;
let history: SeededHistory;
beforeAll(async () => {
  database = await createTestDatabase();
  history = await seedMetricsHistory(database.db);
});
afterAll(() => database.close());

async function metrics(input: MetricsQueryInput, projectId = history.projectId) {
  const query = await resolveMetricsQuery(database.db, projectId, input);
  return (await computeMetrics(database.db, query)).metrics;
}

describe('defect leakage and detection percentage', () => {
  it('computes leakage for every release in semver order', async () => {
    const result = await metrics({ asOf: seededAsOf });
    expect(result.leakageByRelease.map(({ version, value, numerator, denominator }) => ({ version, value, numerator, denominator }))).toEqual([
      { version: '1.9.0', value: 0.5, numerator: 1, denominator: 2 },
      { version: '1.10.0', value: 0.75, numerator: 3, denominator: 4 },
      { version: '1.11.0', value: 0, numerator: 0, denominator: 2 },
    ]);
  });

  it('orders releases as the test pages do: a version that is not semver after the highest one seen before it', async () => {
    // The release order of server/releases/release-order.ts, so leakage by release, the readiness
    // page's previous release and the test pages agree: "1.0.0, nightly, 1.1.0" as it happened.
    const project = await createProject(database.db, { name: 'Nightlies', keyPrefix: 'NIGHT' });
    const release = async (version: string, semver: [number, number, number] | null, firstSeenAt: string) =>
      (
        await database.db
          .insertInto('releases')
          .values({ projectId: project.id, version, semverMajor: semver?.[0] ?? null, semverMinor: semver?.[1] ?? null, semverPatch: semver?.[2] ?? null, firstSeenAt: new Date(firstSeenAt) })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    const later = await release('1.1.0', [1, 1, 0], '2026-11-10T00:00:00Z');
    const nightly = await release('nightly-1105', null, '2026-11-05T00:00:00Z');
    const first = await release('1.0.0', [1, 0, 0], '2026-11-01T00:00:00Z');
    for (const [foundInReleaseId, origin] of [[first, 'qa'], [nightly, 'field'], [later, 'field'], [later, 'qa']] as const) {
      await database.db.transaction().execute((trx) =>
        createDefect(trx, { projectId: project.id, title: 'Checkout fails', origin, foundInReleaseId, firstSeenAt: new Date('2026-11-12T00:00:00Z') }),
      );
    }
    const result = await metrics({ asOf: seededAsOf }, project.id);
    expect(result.leakageByRelease.map(({ version, numerator, denominator }) => [version, numerator, denominator])).toEqual([
      ['1.0.0', 0, 1],
      ['nightly-1105', 1, 1],
      ['1.1.0', 1, 2],
    ]);
    const readiness = await computeReadiness(database.db, project.id, '1.1.0', new Date(seededAsOf));
    expect(readiness.previousRelease?.version).toBe('nightly-1105');
  });

  it('computes overall leakage and DDP over all counted defects when no release is chosen', async () => {
    const result = await metrics({ asOf: seededAsOf });
    expect(result.defectLeakage).toEqual({ value: 0.5, numerator: 4, denominator: 8 });
    expect(result.defectDetectionPercentage).toEqual({ value: 0.5, numerator: 4, denominator: 8 });
  });

  it('gives a release with only CI defects leakage 0 and DDP 1', async () => {
    const result = await metrics({ asOf: seededAsOf, release: '1.11.0' });
    expect(result.defectLeakage).toEqual({ value: 0, numerator: 0, denominator: 2 });
    expect(result.defectDetectionPercentage).toEqual({ value: 1, numerator: 2, denominator: 2 });
  });

  it('counts a defect moved to another release where it ends, and where it was before the move', async () => {
    const beforeMove = await metrics({ asOf: '2026-11-05T03:00:00Z', release: '1.9.0' });
    expect(beforeMove.defectLeakage).toEqual({ value: 0.6667, numerator: 2, denominator: 3 });
    const afterMove = await metrics({ asOf: seededAsOf, release: '1.9.0' });
    expect(afterMove.defectLeakage).toEqual({ value: 0.5, numerator: 1, denominator: 2 });
  });

  it('counts a merged defect until its merge and only the surviving one after', async () => {
    const beforeMerge = await metrics({ asOf: '2026-11-15T23:45:00Z', release: history.releases.r2 });
    expect(beforeMerge.defectLeakage).toEqual({ value: 0.8, numerator: 4, denominator: 5 });
    const afterMerge = await metrics({ asOf: '2026-11-16T12:00:00Z', release: history.releases.r2 });
    expect(afterMerge.defectLeakage).toEqual({ value: 0.75, numerator: 3, denominator: 4 });
  });
});

describe('escaped defects without coverage and ineffective tests', () => {
  it('counts escaped defects with no linked test', async () => {
    expect((await metrics({ asOf: seededAsOf })).escapedWithoutCoverage).toEqual({ value: 0.5, numerator: 2, denominator: 4 });
    expect((await metrics({ asOf: seededAsOf, release: '1.10.0' })).escapedWithoutCoverage).toEqual({ value: 0.6667, numerator: 2, denominator: 3 });
  });

  it('splits escaped defects and coverage gaps by component (the component map)', async () => {
    expect((await metrics({ asOf: seededAsOf })).escapedByComponent).toEqual([
      { component: 'cart', escaped: 2, withoutCoverage: { value: 0.5, numerator: 1, denominator: 2 } },
      { component: 'checkout', escaped: 2, withoutCoverage: { value: 0.5, numerator: 1, denominator: 2 } },
    ]);
    // 1.10.0: D3 (moved in, no test) and D5 (CHK-1) in checkout; D9 (no test) in cart.
    expect((await metrics({ asOf: seededAsOf, release: '1.10.0' })).escapedByComponent).toEqual([
      { component: 'checkout', escaped: 2, withoutCoverage: { value: 0.5, numerator: 1, denominator: 2 } },
      { component: 'cart', escaped: 1, withoutCoverage: { value: 1, numerator: 1, denominator: 1 } },
    ]);
    expect((await metrics({ asOf: seededAsOf, release: '1.11.0' })).escapedByComponent).toEqual([]);
  });

  it('treats a link created after asOf as not yet there', async () => {
    expect((await metrics({ asOf: '2026-11-03T00:00:00Z', release: '1.9.0' })).escapedWithoutCoverage).toEqual({ value: 1, numerator: 1, denominator: 1 });
  });

  it('names escaped defects whose linked test passed on their release before they were found', async () => {
    const result = await metrics({ asOf: seededAsOf });
    expect(result.ineffectiveTests).toEqual({
      value: 0.5,
      numerator: 1,
      denominator: 2,
      defects: [{ defectId: history.defects.d1.id, defectKey: history.defects.d1.key, testCaseKeys: ['CART-1'] }],
    });
  });
});

describe('MTTR', () => {
  it('gives median and mean hours from creation to the last resolution, by severity and component', async () => {
    const { mttr } = await metrics({ asOf: seededAsOf });
    expect(mttr.overall).toEqual({ medianHours: 36, meanHours: 36, numerator: 72, denominator: 2 });
    expect(mttr.bySeverity).toEqual([
      { severity: 'critical', medianHours: 48, meanHours: 48, numerator: 48, denominator: 1 },
      { severity: 'major', medianHours: 24, meanHours: 24, numerator: 24, denominator: 1 },
    ]);
    expect(mttr.byComponent).toEqual([{ component: 'cart', medianHours: 36, meanHours: 36, numerator: 72, denominator: 2 }]);
  });

  it('counts only repairs resolved inside the window', async () => {
    const { mttr } = await metrics({ asOf: seededAsOf, from: '2026-11-04' });
    expect(mttr.overall).toEqual({ medianHours: 48, meanHours: 48, numerator: 48, denominator: 1 });
  });
});

describe('reopen rate', () => {
  it('counts a defect reopened twice once, and every reopen in the total', async () => {
    expect((await metrics({ asOf: seededAsOf })).reopenRate).toEqual({ value: 0.5, numerator: 2, denominator: 4, reopens: 3 });
  });

  it('recomputes the reopens for a past instant', async () => {
    expect((await metrics({ asOf: '2026-11-06T12:00:00Z' })).reopenRate).toEqual({ value: 0.5, numerator: 2, denominator: 4, reopens: 2 });
  });
});

describe('defect age', () => {
  it('buckets open defects by age at asOf', async () => {
    const { defectAge } = await metrics({ asOf: seededAsOf });
    expect(defectAge.open).toBe(5);
    expect(defectAge.buckets.map((bucket) => bucket.count)).toEqual([2, 1, 1, 0, 1]);
  });
});

describe('defect density', () => {
  it('gives defects per component, per test case and per KLOC where sizes are supplied', async () => {
    expect((await metrics({ asOf: seededAsOf })).density).toEqual([
      { component: 'cart', share: { value: 0.5, numerator: 4, denominator: 8 }, perTestCase: { value: 2, numerator: 4, denominator: 2 }, perKloc: { value: 2, numerator: 4, denominator: 2 } },
      { component: 'checkout', share: { value: 0.25, numerator: 2, denominator: 8 }, perTestCase: { value: 2, numerator: 2, denominator: 1 }, perKloc: { value: 4, numerator: 2, denominator: 0.5 } },
      { component: 'search', share: { value: 0.25, numerator: 2, denominator: 8 }, perTestCase: { value: null, numerator: 2, denominator: 0 }, perKloc: null },
      { component: 'profile', share: { value: 0, numerator: 0, denominator: 8 }, perTestCase: { value: 0, numerator: 0, denominator: 1 }, perKloc: null },
    ]);
  });

  it('restricts every metric to a component', async () => {
    const result = await metrics({ asOf: seededAsOf, component: 'checkout' });
    expect(result.defectLeakage).toEqual({ value: 1, numerator: 2, denominator: 2 });
    expect(result.density.map((entry) => entry.component)).toEqual(['checkout']);
  });
});

describe('throughput', () => {
  it('counts created and resolved per ISO week in UTC', async () => {
    const { throughput } = await metrics({ from: '2026-11-02', to: '2026-11-22' });
    expect(throughput.weeks).toEqual([
      { week: '2026-W45', start: '2026-11-02', created: 3, resolved: 5 },
      { week: '2026-W46', start: '2026-11-09', created: 1, resolved: 0 },
      { week: '2026-W47', start: '2026-11-16', created: 2, resolved: 0 },
    ]);
  });

  it('puts a defect created late on Sunday UTC into the next week in Berlin', async () => {
    const { throughput } = await metrics({ from: '2026-11-02', to: '2026-11-22', tz: 'Europe/Berlin' });
    expect(throughput.weeks.map((week) => [week.week, week.created])).toEqual([['2026-W45', 3], ['2026-W46', 0], ['2026-W47', 3]]);
  });

  it('starts a calendar-day window at midnight of the chosen time zone', async () => {
    const utc = await metrics({ from: '2026-11-16', to: '2026-11-22' });
    expect(utc.throughput.weeks).toEqual([{ week: '2026-W47', start: '2026-11-16', created: 2, resolved: 0 }]);
    const berlin = await metrics({ from: '2026-11-16', to: '2026-11-22', tz: 'Europe/Berlin' });
    expect(berlin.throughput.weeks).toEqual([{ week: '2026-W47', start: '2026-11-16', created: 3, resolved: 0 }]);
  });
});

describe('duplicate rate', () => {
  it('counts reports per counted defect, a merged defect’s reports on the survivor', async () => {
    const result = await metrics({ asOf: seededAsOf });
    expect(result.reportsPerDefect).toEqual({ value: 2, numerator: 6, denominator: 3 });
    expect(result.duplicateRate).toEqual({ value: 0.5, numerator: 3, denominator: 6 });
  });

  it('counts only the reports received inside the window, also of defects with reports on both sides of its ends', async () => {
    // D1's reports at 11-02 10:00 (before), 11:00 and 11-03; D3's at 11-04; D5's moved one at
    // 11-10 and its own at 11-15 23:30 (after)
    const result = await metrics({ asOf: seededAsOf, from: '2026-11-02T10:30:00Z', to: '2026-11-12T00:00:00Z' });
    expect(result.reportsPerDefect).toEqual({ value: 1.3333, numerator: 4, denominator: 3 });
    expect(result.duplicateRate).toEqual({ value: 0.25, numerator: 1, denominator: 4 });
  });
});

describe('parts run at once on a shared snapshot (PostgreSQL)', () => {
  it.skipIf(process.env.DATABASE_URL === undefined)('answers exactly what the single statement answers, for every filter', async () => {
    const reader = new SharedSnapshotReader(database.db, 4);
    for (const input of [
      { asOf: seededAsOf },
      { asOf: seededAsOf, release: '1.10.0' },
      { asOf: seededAsOf, component: 'checkout' },
      { asOf: '2026-11-09T00:00:00Z', from: '2026-11-01', tz: 'Europe/Berlin' },
      { asOf: seededAsOf, from: '2026-11-02T10:30:00Z', to: '2026-11-12T00:00:00Z', release: '1.10.0' },
    ] satisfies MetricsQueryInput[]) {
      const query = await resolveMetricsQuery(database.db, history.projectId, input);
      const single = await computeMetrics(database.db, query);
      const parallel = await computeMetrics(database.db, query, { snapshotReader: reader });
      expect(parallel).toEqual(single);
    }
  });

  it.skipIf(process.env.DATABASE_URL === undefined)('answers the readiness exactly as in one transaction', async () => {
    const reader = new SharedSnapshotReader(database.db, 4);
    for (const [releaseReference, asOf] of [['1.10.0', seededAsOf], ['1.11.0', seededAsOf], ['1.9.0', '2026-11-09T00:00:00Z']]) {
      const single = await computeReadiness(database.db, history.projectId, releaseReference, new Date(asOf));
      expect(await computeReadiness(database.db, history.projectId, releaseReference, new Date(asOf), { snapshotReader: reader })).toEqual(single);
    }
  });

  it.skipIf(process.env.DATABASE_URL === undefined)('falls back to one statement when the reader has no connections to spare', async () => {
    const query = await resolveMetricsQuery(database.db, history.projectId, { asOf: seededAsOf });
    const starved = new SharedSnapshotReader(database.db, 1);
    expect(await computeMetrics(database.db, query, { snapshotReader: starved })).toEqual(await computeMetrics(database.db, query));
  });
});

describe('a project without defects', () => {
  it('answers every metric with empty denominators instead of failing or inventing zeros', async () => {
    const empty = await createProject(database.db, { name: 'Empty', keyPrefix: 'EMPTY' });
    const result = await metrics({ asOf: seededAsOf }, empty.id);
    const nothing = { value: null, numerator: 0, denominator: 0 };
    expect(result.defectLeakage).toEqual(nothing);
    expect(result.defectDetectionPercentage).toEqual(nothing);
    expect(result.leakageByRelease).toEqual([]);
    expect(result.escapedWithoutCoverage).toEqual(nothing);
    expect(result.ineffectiveTests).toEqual({ ...nothing, defects: [] });
    expect(result.mttr).toEqual({ overall: { medianHours: null, meanHours: null, numerator: 0, denominator: 0 }, bySeverity: [], byComponent: [] });
    expect(result.reopenRate).toEqual({ ...nothing, reopens: 0 });
    expect(result.defectAge.buckets.map((bucket) => bucket.count)).toEqual([0, 0, 0, 0, 0]);
    expect(result.density).toEqual([]);
    expect(result.throughput.weeks).toHaveLength(12);
    expect(result.throughput.weeks.every((week) => week.created === 0 && week.resolved === 0)).toBe(true);
    expect(result.reportsPerDefect).toEqual(nothing);
    expect(result.duplicateRate).toEqual(nothing);
  });
});

describe('release readiness', () => {
  it('reports tests planned vs executed, pass rate and failing tests by priority', async () => {
    const readiness = await computeReadiness(database.db, history.projectId, '1.10.0', new Date(seededAsOf));
    expect(readiness.previousRelease?.version).toBe('1.9.0');
    expect(readiness.tests).toMatchObject({
      runs: 2,
      builds: ['1.10.0+1', '1.10.0+2'],
      planned: 4,
      executed: { value: 0.75, numerator: 3, denominator: 4 },
      passRate: { value: 0.6667, numerator: 2, denominator: 3 },
      failingByPriority: [{ priority: 'urgent', count: 1 }],
    });
    expect(readiness.tests.failing.map((test) => [test.key, test.status, test.build])).toEqual([['CART-2', 'failed', '1.10.0+2']]);
  });

  it('lists open defects by severity, blockers first', async () => {
    const readiness = await computeReadiness(database.db, history.projectId, '1.10.0', new Date(seededAsOf));
    expect(readiness.openDefects.bySeverity).toEqual([
      { severity: 'blocker', count: 1 },
      { severity: 'major', count: 1 },
      { severity: 'minor', count: 1 },
    ]);
    expect(readiness.openDefects.blocking.map((defect) => defect.key)).toEqual([history.defects.d5.key]);
  });

  it('shows the previous release’s escaped defects and whether their tests now pass on this release', async () => {
    const readiness = await computeReadiness(database.db, history.projectId, '1.10.0', new Date(seededAsOf));
    expect(readiness.previousReleaseEscapes).toEqual({
      total: 1,
      withTests: 1,
      defects: [expect.objectContaining({ key: history.defects.d1.key, testCaseKeys: ['CART-1'], hasTest: true, testPassedOnRelease: true })],
    });
    const next = await computeReadiness(database.db, history.projectId, '1.11.0', new Date(seededAsOf));
    expect(next.previousReleaseEscapes.defects.map((escape) => [escape.key, escape.hasTest, escape.testPassedOnRelease])).toEqual([
      [history.defects.d9.key, false, false],
      [history.defects.d3.key, false, false],
      [history.defects.d5.key, true, false],
    ]);
  });

  it('gives the leakage trend up to the release and the go/no-go checks', async () => {
    const readiness = await computeReadiness(database.db, history.projectId, history.releases.r3, new Date(seededAsOf));
    expect(readiness.leakageTrend.map(({ version, value }) => [version, value])).toEqual([['1.9.0', 0.5], ['1.10.0', 0.75], ['1.11.0', 0]]);
    const checks = (await computeReadiness(database.db, history.projectId, '1.10.0', new Date(seededAsOf))).checks;
    expect(checks.map((check) => [check.name, check.passed])).toEqual([
      ['no_open_blockers', false],
      ['all_planned_tests_executed', false],
      ['no_failing_tests', false],
      ['previous_escapes_covered', true],
    ]);
  });

  it('has no previous release for the first one', async () => {
    const readiness = await computeReadiness(database.db, history.projectId, '1.9.0', new Date(seededAsOf));
    expect(readiness.previousRelease).toBeNull();
    expect(readiness.previousReleaseEscapes).toEqual({ total: 0, withTests: 0, defects: [] });
  });
});
