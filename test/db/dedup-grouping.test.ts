import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import type { Assignment } from '../../server/dedup/assign-report';
import { refreshDefectCounts } from '../../server/defects/defect-service';
import { createProject } from '../../server/projects/project-service';
import { inAppReports } from '../fixtures/in-app-reports';
import { processReport } from '../support/dedup-reports';
import { createTestDatabase } from '../support/test-database';

let database: DatabaseHandle;
const assignments: Assignment[] = [];
const defectOf = (index: number) => assignments[index].defectId;
const indexesOf = (group: string) => inAppReports.flatMap((report, index) => (report.group === group ? [index] : []));

beforeAll(async () => {
  database = await createTestDatabase();
  const projectId = (await createProject(database.db, { name: 'Shop', keyPrefix: 'SHOP' })).id;
  const start = Date.parse('2026-11-01T09:00:00Z');
  for (const [index, fixture] of inAppReports.entries()) {
    const { assignment } = await processReport(database.db, projectId, { ...fixture, receivedAt: new Date(start + index * 3_600_000) });
    assignments.push(assignment);
  }
});
afterAll(() => database.close());

describe('grouping of short in-app reports', () => {
  it('puts the same crash described in different words on one defect (same error signature)', () => {
    const [first, ...rest] = indexesOf('pay-does-nothing');
    for (const index of rest) expect(defectOf(index)).toBe(defectOf(first));
  });

  it('puts the same failed upload on one defect (same failed request)', () => {
    const [first, second] = indexesOf('avatar-upload');
    expect(defectOf(second)).toBe(defectOf(first));
  });

  it('keeps a different bug in similar words apart (save vs pay, different error)', () => {
    const [save] = indexesOf('settings-save');
    const [pay] = indexesOf('pay-does-nothing');
    expect(defectOf(save)).not.toBe(defectOf(pay));
  });

  it('keeps a layout problem on the same page apart from the crash there', () => {
    const [hidden] = indexesOf('pay-hidden-mobile');
    expect(assignments[hidden].created).toBe(true);
    for (const index of indexesOf('pay-does-nothing')) expect(defectOf(index)).not.toBe(defectOf(hidden));
  });

  it('suggests the earlier report first when the words alone match (no signatures)', () => {
    const [first, second] = indexesOf('search-empty');
    expect(assignments[second].candidates[0]?.defectId).toBe(defectOf(first));
  });

  it('opens exactly one defect per real problem where signatures agree', () => {
    const defects = new Set([...indexesOf('pay-does-nothing'), ...indexesOf('avatar-upload')].map(defectOf));
    expect(defects.size).toBe(2);
  });

  it('a report that opens a defect has consistent counts, first seen and both events (recomputing changes nothing)', async () => {
    const { db } = database;
    const opened = assignments.filter((assignment) => assignment.created).map((assignment) => assignment.defectId);
    expect(opened.length).toBeGreaterThan(3);
    const read = () => db.selectFrom('defects').select(['id', 'reportCount', 'affectedUsers', 'firstSeenAt', 'lastSeenAt']).where('id', 'in', opened).orderBy('id').execute();
    const stored = await read();
    // Recomputing the counts from the reports (what attachReportToDefect does) changes nothing.
    for (const defectId of opened) await refreshDefectCounts(db, defectId);
    expect(await read()).toEqual(stored);
    for (const defect of stored) {
      const reports = await db.selectFrom('reports').select(['id', 'receivedAt']).where('defectId', '=', defect.id).orderBy('receivedAt').execute();
      expect(defect.reportCount).toBe(reports.length);
      expect(defect.firstSeenAt).toEqual(reports[0].receivedAt);
      const events = await db.selectFrom('defectEvents').select(['kind', 'newValue']).where('defectId', '=', defect.id).orderBy('id').execute();
      expect(events[0].kind).toBe('created');
      expect(events.filter((event) => event.kind === 'report_added').map((event) => (event.newValue as { reportId: string }).reportId).sort()).toEqual(
        reports.map((report) => report.id).sort(),
      );
    }
    const states = await db.selectFrom('defectStates').select('defectId').where('defectId', 'in', opened).execute();
    expect(new Set(states.map((state) => state.defectId)).size).toBe(opened.length);
  });
});
