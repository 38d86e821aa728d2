import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { defectCandidates } from '../../server/dedup/defect-candidates';
import { markNotDuplicate, mergeDefects, splitReport } from '../../server/dedup/duplicate-actions';
import type { Actor } from '../../server/defects/defect-service';
import { createProject } from '../../server/projects/project-service';
import { processReport } from '../support/dedup-reports';
import { createTestDatabase } from '../support/test-database';

let database: DatabaseHandle;
let projectId: string;
const triager: Actor = { kind: 'user' };

beforeAll(async () => {
  database = await createTestDatabase();
  projectId = (await createProject(database.db, { name: 'Actions', keyPrefix: 'ACT' })).id;
});
afterAll(() => database.close());

const day = 86_400_000;
const base = Date.parse('2026-10-01T00:00:00Z');

/** A report on its own new defect (auto-merge off, so the test controls grouping). */
async function ownDefect(title: string, description: string, extra: { reporterId?: string; daysAfter?: number } = {}) {
  const { report, assignment } = await processReport(
    database.db,
    projectId,
    { title, description, reporterId: extra.reporterId ?? null, receivedAt: new Date(base + (extra.daysAfter ?? 0) * day) },
    { autoMerge: false },
  );
  return { reportId: report.id, defectId: assignment.defectId };
}

const defect = (id: string) => database.db.selectFrom('defects').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const events = (id: string) => database.db.selectFrom('defectEvents').selectAll().where('defectId', '=', id).orderBy('id').execute();

describe('assignReportToDefect', () => {
  it('puts each report on exactly one defect and stores at most 10 scored candidates', async () => {
    const made = [];
    for (let index = 0; index < 12; index += 1) made.push(await ownDefect(`Cart total wrong after coupon ${index}`, 'The cart total ignores the coupon code'));
    const report = await database.db.selectFrom('reports').selectAll().where('id', '=', made[11].reportId).executeTakeFirstOrThrow();
    expect(report.defectId).toBe(made[11].defectId);
    const candidates = report.candidates as { defectId: string; score: number; signals: Record<string, number> }[];
    expect(candidates).toHaveLength(10);
    expect(candidates.map((candidate) => candidate.defectId)).not.toContain(made[11].defectId);
    expect(candidates[0].score).toBeGreaterThanOrEqual(candidates[9].score);
    expect(candidates[0].signals.text).toBeGreaterThan(0.5);
  });

  it('uses the drafted title from enrichment when the reporter gave none', async () => {
    const { assignment } = await processReport(
      database.db,
      projectId,
      { title: null, description: 'nothing loads', enrichment: { title: 'Dashboard never finishes loading' } },
      { autoMerge: false },
    );
    expect((await defect(assignment.defectId)).title).toBe('Dashboard never finishes loading');
  });
});

describe('mergeDefects', () => {
  it('moves the reports, records both histories and recomputes counts and affected users', async () => {
    const source = await ownDefect('Invoice PDF is blank', 'Downloading the invoice gives an empty PDF', { reporterId: 'ann', daysAfter: 5 });
    const target = await ownDefect('Blank invoice download', 'The invoice PDF has no content', { reporterId: 'bob', daysAfter: 2 });
    const merged = await database.db.transaction().execute((trx) => mergeDefects(trx, { projectId, sourceId: source.defectId, targetId: target.defectId, actor: triager }));
    expect(merged).toMatchObject({ id: target.defectId, reportCount: 2, affectedUsers: 2 });
    expect(merged.lastSeenAt.getTime()).toBe(base + 5 * day);
    expect(await defect(source.defectId)).toMatchObject({ mergedIntoId: target.defectId, reportCount: 0 });
    const report = await database.db.selectFrom('reports').select('defectId').where('id', '=', source.reportId).executeTakeFirstOrThrow();
    expect(report.defectId).toBe(target.defectId);
    expect((await events(source.defectId)).map((event) => event.kind)).toContain('merged_into');
    const mergedFrom = (await events(target.defectId)).find((event) => event.kind === 'merged_from');
    expect(mergedFrom?.newValue).toMatchObject({ defectId: source.defectId, reportIds: [source.reportId] });
  });

  it('never suggests a merged defect again', async () => {
    const source = await ownDefect('Coupon field rejects valid codes', 'Valid coupon code SUMMER says invalid');
    const target = await ownDefect('Valid coupon code rejected', 'Coupon SUMMER is refused as invalid');
    const third = await ownDefect('Coupon SUMMER invalid', 'Entering the coupon code SUMMER says invalid coupon');
    await database.db.transaction().execute((trx) => mergeDefects(trx, { projectId, sourceId: source.defectId, targetId: target.defectId, actor: triager }));
    const candidates = await defectCandidates(database.db, projectId, third.defectId);
    expect(candidates.map((candidate) => candidate.defectId)).toContain(target.defectId);
    expect(candidates.map((candidate) => candidate.defectId)).not.toContain(source.defectId);
  });

  it('refuses to merge into itself or into a merged defect', async () => {
    const a = await ownDefect('Map does not load', 'The store map is grey');
    const b = await ownDefect('Store map grey', 'Map tiles missing');
    const c = await ownDefect('Map tiles missing', 'grey map');
    const merge = (sourceId: string, targetId: string) =>
      database.db.transaction().execute((trx) => mergeDefects(trx, { projectId, sourceId, targetId, actor: triager }));
    await expect(merge(a.defectId, a.defectId)).rejects.toMatchObject({ code: 'invalid_request' });
    await merge(a.defectId, b.defectId);
    await expect(merge(c.defectId, a.defectId)).rejects.toMatchObject({ code: 'conflict' });
    await expect(merge(a.defectId, c.defectId)).rejects.toMatchObject({ code: 'conflict' });
  });
});

describe('splitReport', () => {
  it('moves a report to a new defect, keeps both counts right and marks the pair not a duplicate', async () => {
    const first = await ownDefect('Password reset email never arrives', 'No reset email', { reporterId: 'cy' });
    const second = await ownDefect('Reset email missing', 'Password reset mail not received', { reporterId: 'di' });
    await database.db.transaction().execute((trx) => mergeDefects(trx, { projectId, sourceId: second.defectId, targetId: first.defectId, actor: triager }));
    expect((await defect(first.defectId)).reportCount).toBe(2);

    const created = await database.db.transaction().execute((trx) => splitReport(trx, { projectId, reportId: second.reportId, actor: triager }));
    expect(created.id).not.toBe(first.defectId);
    expect(created).toMatchObject({ reportCount: 1, affectedUsers: 1, title: 'Reset email missing' });
    expect(await defect(first.defectId)).toMatchObject({ reportCount: 1, affectedUsers: 1 });
    expect((await events(first.defectId)).at(-1)?.kind).toBe('report_split');
    expect((await events(created.id)).map((event) => event.kind)).toEqual(['created', 'report_added']);
    const candidates = await defectCandidates(database.db, projectId, created.id);
    expect(candidates.map((candidate) => candidate.defectId)).not.toContain(first.defectId);
  });

  it('moves a report onto another existing defect', async () => {
    const from = await ownDefect('Dark mode text unreadable', 'Grey on black text');
    const to = await ownDefect('Contrast too low in dark mode', 'Cannot read labels');
    const moved = await database.db.transaction().execute((trx) => splitReport(trx, { projectId, reportId: from.reportId, targetDefectId: to.defectId, actor: triager }));
    expect(moved).toMatchObject({ id: to.defectId, reportCount: 2 });
    expect((await defect(from.defectId)).reportCount).toBe(0);
  });
});

describe('markNotDuplicate', () => {
  it('stores the pair smaller id first, records both histories, and the pair is never suggested again', async () => {
    const a = await ownDefect('Export to CSV fails', 'CSV export button gives an error');
    const b = await ownDefect('CSV export error', 'Export to CSV shows an error');
    expect((await defectCandidates(database.db, projectId, a.defectId)).map((candidate) => candidate.defectId)).toContain(b.defectId);
    await database.db.transaction().execute((trx) => markNotDuplicate(trx, { projectId, defectId: b.defectId, otherDefectId: a.defectId, actor: triager }));
    await database.db.transaction().execute((trx) => markNotDuplicate(trx, { projectId, defectId: a.defectId, otherDefectId: b.defectId, actor: triager }));
    const pairs = await database.db.selectFrom('defectNonDuplicates').selectAll().where('defectA', 'in', [a.defectId, b.defectId]).execute();
    expect(pairs).toHaveLength(1);
    expect(pairs[0].defectA < pairs[0].defectB).toBe(true);
    expect((await events(a.defectId)).filter((event) => event.kind === 'marked_not_duplicate')).toHaveLength(1);
    expect((await events(b.defectId)).filter((event) => event.kind === 'marked_not_duplicate')).toHaveLength(1);
    expect((await defectCandidates(database.db, projectId, a.defectId)).map((candidate) => candidate.defectId)).not.toContain(b.defectId);
    expect((await defectCandidates(database.db, projectId, b.defectId)).map((candidate) => candidate.defectId)).not.toContain(a.defectId);
  });
});
