import type { Kysely } from 'kysely';
import type { Database, DefectOrigin, DefectSeverity, DefectStatus } from '../../server/db/schema';
import { type DefectChanges, createDefect, recordDefectEvent, updateDefect } from '../../server/defects/defect-service';
import { createProject } from '../../server/projects/project-service';

/**
 * A hand-built project history whose metric values are worked out by hand in
 * docs-style comments below and asserted in test/db/metrics-history.test.ts and the API tests.
 * Everything goes through the defect service with explicit times, so the metrics read the same
 * `defect_events` the product writes.
 *
 * Releases (inserted out of order; semver order is 1.9.0 < 1.10.0 < 1.11.0):
 *   R1 1.9.0, R2 1.10.0, R3 1.11.0 (only CI defects).
 * Defects (times UTC):
 *   D1 field R1 cart major     created 11-02 10:00, resolved 11-03 10:00 (24 h); linked to CART-1 on 11-04,
 *                               which passed on an R1 run on 11-01 (an ineffective test). 3 reports.
 *   D2 qa    R1 cart critical  created 11-02 12:00, resolved 11-02 18:00, reopened 11-03 00:00, closed 11-04 12:00 (48 h).
 *   D3 field R1→R2 (moved 11-05) checkout minor, created 11-04 00:00, resolved 11-05, reopened 11-06,
 *                               resolved 11-07, reopened 11-08: open, reopened twice. 1 report.
 *   D4 field R2 checkout blocker created 11-10 00:00, merged into D5 on 11-16 00:00 (its report moves to D5).
 *   D5 field R2 checkout blocker created 11-15 23:30 (Sunday in UTC, Monday 00:30 in Berlin); linked to
 *                               CHK-1 on 11-17, which passed on R2 only on 11-18 (after). 1 report + D4's.
 *   D6 ci    R3 search major    created 11-19 23:30, open.
 *   D7 ci    R3 search trivial  created 11-20 11:00, open.
 *   D8 qa    R2 cart major      created 08-01 00:00, open (over 90 days old).
 *   D9 field R2 cart major      created 10-01 00:00, wont_fix 10-02 00:00.
 * Test cases: CART-1 (cart, high), CART-2 (cart, urgent), CHK-1 (checkout, medium), PROF-1 (profile, low),
 *   SRCH-1 (search, archived 11-01).
 * Runs: R1 "1.9.0+1" 11-01: CART-1 passed. R2 "1.10.0+1" 11-10: CART-1 passed, CART-2 failed, CHK-1 skipped.
 *   R2 "1.10.0+2" 11-18: CART-2 failed, CHK-1 passed.
 * Project settings: componentSizes { cart: 2, checkout: 0.5 }.
 */
export interface SeededHistory {
  projectId: string;
  releases: { r1: string; r2: string; r3: string };
  defects: Record<'d1' | 'd2' | 'd3' | 'd4' | 'd5' | 'd6' | 'd7' | 'd8' | 'd9', { id: string; key: string }>;
}

/** The instant most assertions look at: Friday 2026-11-20 12:00 UTC. */
export const seededAsOf = '2026-11-20T12:00:00Z';

const at = (text: string) => new Date(`2026-${text}:00Z`);
const user = { kind: 'user' as const };

export async function seedMetricsHistory(db: Kysely<Database>, keyPrefix = 'WEB'): Promise<SeededHistory> {
  const project = await createProject(db, { name: `Metrics ${keyPrefix}`, keyPrefix, settings: { componentSizes: { cart: 2, checkout: 0.5 } } });
  const projectId = project.id;
  const release = async (version: string, major: number, minor: number, firstSeen: string) =>
    (
      await db
        .insertInto('releases')
        .values({ projectId, version, semverMajor: major, semverMinor: minor, semverPatch: 0, firstSeenAt: at(firstSeen) })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  // Inserted so that neither insertion order nor text order equals release order.
  const r2 = await release('1.10.0', 1, 10, '10-01T00:00');
  const r3 = await release('1.11.0', 1, 11, '11-19T00:00');
  const r1 = await release('1.9.0', 1, 9, '09-01T00:00');

  const create = (input: { origin: DefectOrigin; release: string; component: string; severity: DefectSeverity; at: string }) =>
    db.transaction().execute((trx) =>
      createDefect(trx, {
        projectId,
        title: `${input.component} ${input.severity}`,
        origin: input.origin,
        component: input.component,
        severity: input.severity,
        foundInReleaseId: input.release,
        firstSeenAt: at(input.at),
      }),
    );
  const change = (defectId: string, when: string, changes: DefectChanges) =>
    db.transaction().execute((trx) => updateDefect(trx, defectId, changes, user, { at: at(when) }));
  const status = (defectId: string, when: string, next: DefectStatus) => change(defectId, when, { status: next });

  const d8 = await create({ origin: 'qa', release: r2, component: 'cart', severity: 'major', at: '08-01T00:00' });
  const d9 = await create({ origin: 'field', release: r2, component: 'cart', severity: 'major', at: '10-01T00:00' });
  await status(d9.id, '10-02T00:00', 'wont_fix');

  const d1 = await create({ origin: 'field', release: r1, component: 'cart', severity: 'major', at: '11-02T10:00' });
  await status(d1.id, '11-03T10:00', 'resolved');

  const d2 = await create({ origin: 'qa', release: r1, component: 'cart', severity: 'critical', at: '11-02T12:00' });
  await status(d2.id, '11-02T18:00', 'resolved');
  await status(d2.id, '11-03T00:00', 'in_progress');
  await status(d2.id, '11-04T12:00', 'closed');

  const d3 = await create({ origin: 'field', release: r1, component: 'checkout', severity: 'minor', at: '11-04T00:00' });
  await status(d3.id, '11-05T00:00', 'resolved');
  await change(d3.id, '11-05T06:00', { foundInReleaseId: r2 });
  await status(d3.id, '11-06T00:00', 'in_progress');
  await status(d3.id, '11-07T00:00', 'resolved');
  await status(d3.id, '11-08T00:00', 'triaged');

  const d4 = await create({ origin: 'field', release: r2, component: 'checkout', severity: 'blocker', at: '11-10T00:00' });
  const d5 = await create({ origin: 'field', release: r2, component: 'checkout', severity: 'blocker', at: '11-15T23:30' });
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('defects').set({ mergedIntoId: d5.id }).where('id', '=', d4.id).execute();
    await recordDefectEvent(trx, { projectId, defectId: d4.id, actor: user, kind: 'merged', field: 'mergedIntoId', oldValue: null, newValue: d5.id, at: at('11-16T00:00') });
  });

  const d6 = await create({ origin: 'ci', release: r3, component: 'search', severity: 'major', at: '11-19T23:30' });
  const d7 = await create({ origin: 'ci', release: r3, component: 'search', severity: 'trivial', at: '11-20T11:00' });

  const report = (defectId: string, receivedAt: string) =>
    db
      .insertInto('reports')
      .values({ projectId, clientId: crypto.randomUUID(), defectId, description: 'broken', payload: '{}', receivedAt: at(receivedAt) })
      .returning('id')
      .executeTakeFirstOrThrow();
  await report(d1.id, '11-02T10:00');
  await report(d1.id, '11-02T11:00');
  await report(d1.id, '11-03T09:00');
  await report(d3.id, '11-04T00:00');
  const movedReport = await report(d4.id, '11-10T00:00');
  await report(d5.id, '11-15T23:30');
  await db.updateTable('reports').set({ defectId: d5.id }).where('id', '=', movedReport.id).execute();

  const testCase = async (key: string, component: string, priority: string, archivedAt?: string) =>
    (
      await db
        .insertInto('testCases')
        .values({ projectId, key, title: `${key} test`, component, priority, kind: 'automated', createdAt: at('10-01T00:00'), archivedAt: archivedAt ? at(archivedAt) : null })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  const cart1 = await testCase('CART-1', 'cart', 'high');
  const cart2 = await testCase('CART-2', 'cart', 'urgent');
  const checkout1 = await testCase('CHK-1', 'checkout', 'medium');
  await testCase('PROF-1', 'profile', 'low');
  await testCase('SRCH-1', 'search', 'high', '11-01T00:00');

  const run = async (releaseId: string, build: string, when: string, results: [string, 'passed' | 'failed' | 'skipped'][]) => {
    const testRun = await db.insertInto('testRuns').values({ projectId, releaseId, build, createdAt: at(when) }).returning('id').executeTakeFirstOrThrow();
    for (const [testCaseId, result] of results) {
      await db.insertInto('testResults').values({ testRunId: testRun.id, testCaseId, status: result, createdAt: at(when) }).execute();
    }
  };
  await run(r1, '1.9.0+1', '11-01T00:00', [[cart1, 'passed']]);
  await run(r2, '1.10.0+1', '11-10T00:00', [[cart1, 'passed'], [cart2, 'failed'], [checkout1, 'skipped']]);
  await run(r2, '1.10.0+2', '11-18T00:00', [[cart2, 'failed'], [checkout1, 'passed']]);

  const link = (defectId: string, testCaseId: string, when: string) =>
    db.insertInto('defectTestLinks').values({ defectId, testCaseId, kind: 'covers', createdAt: at(when) }).execute();
  await link(d1.id, cart1, '11-04T00:00');
  await link(d5.id, checkout1, '11-17T00:00');

  const pick = (defect: { id: string; key: string }) => ({ id: defect.id, key: defect.key });
  return {
    projectId,
    releases: { r1, r2, r3 },
    defects: { d1: pick(d1), d2: pick(d2), d3: pick(d3), d4: pick(d4), d5: pick(d5), d6: pick(d6), d7: pick(d7), d8: pick(d8), d9: pick(d9) },
  };
}
