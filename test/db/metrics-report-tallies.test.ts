import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { createDefect } from '../../server/defects/defect-service';
import { reportsReceivedBetween } from '../../server/metrics/report-tallies';
import { createProject } from '../../server/projects/project-service';
import { createTestDatabase } from '../support/test-database';

// defect_report_tallies (migration 20261203_0100) against the reports themselves: after random
// histories of inserts, moves, re-timings and deletes, the tally-based count of reports received
// in a window equals counting the reports, for every defect and window.

let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

const base = Date.UTC(2026, 0, 1);
const hour = 3_600_000;
const defectsPerRun = 3;

/** One change to the reports; `defect` is an index into the run's defects, null = no defect. */
type Operation =
  | { kind: 'insert'; defect: number | null; hours: number[] }
  | { kind: 'move'; report: number; defect: number | null }
  | { kind: 'retime'; report: number; hours: number }
  | { kind: 'delete'; report: number }
  | { kind: 'merge'; from: number; to: number };

const defectIndex = fc.option(fc.integer({ min: 0, max: defectsPerRun - 1 }), { nil: null, freq: 4 });
const hours = fc.integer({ min: 0, max: 48 });
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), defect: defectIndex, hours: fc.array(hours, { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('move' as const), report: fc.nat(), defect: defectIndex }),
  fc.record({ kind: fc.constant('retime' as const), report: fc.nat(), hours }),
  fc.record({ kind: fc.constant('delete' as const), report: fc.nat() }),
  fc.record({ kind: fc.constant('merge' as const), from: fc.integer({ min: 0, max: defectsPerRun - 1 }), to: fc.integer({ min: 0, max: defectsPerRun - 1 }) }),
);
const window = fc.tuple(fc.integer({ min: -2, max: 50 }), fc.integer({ min: -2, max: 50 })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const);

let run = 0;
async function replay(operations: Operation[]) {
  const { db } = database;
  run += 1;
  const projectId = (await createProject(db, { name: `Tallies ${run}`, keyPrefix: `TL${run}` })).id;
  const defects: string[] = [];
  for (let index = 0; index < defectsPerRun; index += 1) {
    defects.push((await db.transaction().execute((trx) => createDefect(trx, { projectId, title: `Defect ${index}`, origin: 'field' }))).id);
  }
  const reportIds = async () =>
    (await db.selectFrom('reports').select('id').where('projectId', '=', projectId).orderBy('id').execute()).map((row) => row.id);
  const defectOf = (index: number | null) => (index === null ? null : defects[index]);
  for (const step of operations) {
    const reports = await reportIds();
    const report = 'report' in step && reports.length > 0 ? reports[step.report % reports.length] : null;
    if (step.kind === 'insert') {
      // one statement for several reports, as a bulk import writes them
      await db
        .insertInto('reports')
        .values(step.hours.map((offset) => ({
          projectId, clientId: crypto.randomUUID(), defectId: defectOf(step.defect), description: 'report', payload: '{}',
          receivedAt: new Date(base + offset * hour),
        })))
        .execute();
    } else if (step.kind === 'move' && report) {
      await db.updateTable('reports').set({ defectId: defectOf(step.defect) }).where('id', '=', report).execute();
    } else if (step.kind === 'retime' && report) {
      await db.updateTable('reports').set({ receivedAt: new Date(base + step.hours * hour) }).where('id', '=', report).execute();
    } else if (step.kind === 'delete' && report) {
      await db.deleteFrom('reports').where('id', '=', report).execute();
    } else if (step.kind === 'merge' && step.from !== step.to) {
      // a merge moves every report of one defect in one statement
      await db.updateTable('reports').set({ defectId: defects[step.to] }).where('defectId', '=', defects[step.from]).execute();
    }
    // an update that touches none of the tallied columns changes nothing
    await db.updateTable('reports').set({ state: 'processed' }).where('projectId', '=', projectId).execute();
  }
  return { projectId, defects };
}

async function countsInWindow(projectId: string, defects: string[], start: Date, end: Date) {
  const { rows } = await sql<{ defectId: string; fromTally: number; fromReports: number }>`
    select d.id as defect_id,
           ${reportsReceivedBetween('t', sql.ref('d.id'), projectId, start, end)} as from_tally,
           (select count(*)::int from reports r where r.defect_id = d.id and r.project_id = ${projectId} and r.received_at between ${start} and ${end}) as from_reports
    from defects d left join defect_report_tallies t on t.defect_id = d.id and t.project_id = ${projectId}
    where d.id in (${sql.join(defects)})
    order by d.id
  `.execute(database.db);
  return rows;
}

describe('defect_report_tallies', () => {
  it('counts the reports of every defect in every window exactly as counting the reports does, after random histories', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 12 }), fc.array(window, { minLength: 1, maxLength: 4 }), async (operations, windows) => {
        const { projectId, defects } = await replay(operations);
        for (const [startHours, endHours] of [...windows, [-1000, 1000] as const]) {
          const rows = await countsInWindow(projectId, defects, new Date(base + startHours * hour), new Date(base + endHours * hour));
          for (const row of rows) expect(row.fromTally).toBe(row.fromReports);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('keeps the total and bounds around every report of a defect', async () => {
    const { projectId, defects } = await replay([
      { kind: 'insert', defect: 0, hours: [5, 10, 20] },
      { kind: 'retime', report: 0, hours: 30 },
      { kind: 'delete', report: 1 },
    ]);
    const tally = await database.db.selectFrom('defectReportTallies').selectAll().where('defectId', '=', defects[0]).executeTakeFirstOrThrow();
    const reports = await database.db.selectFrom('reports').select('receivedAt').where('projectId', '=', projectId).execute();
    expect(tally.reports).toBe(reports.length);
    for (const { receivedAt } of reports) {
      expect(receivedAt.getTime()).toBeGreaterThanOrEqual(tally.firstReceivedAt.getTime());
      expect(receivedAt.getTime()).toBeLessThanOrEqual(tally.lastReceivedAt.getTime());
    }
  });

  it('drops a deleted defect’s tally with it', async () => {
    const { defects } = await replay([{ kind: 'insert', defect: 1, hours: [1] }]);
    await database.db.deleteFrom('defects').where('id', '=', defects[1]).execute();
    expect(await database.db.selectFrom('defectReportTallies').selectAll().where('defectId', '=', defects[1]).execute()).toEqual([]);
  });
});
