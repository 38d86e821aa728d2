import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import type { ReportRow } from '../../server/db/schema';
import { AssignmentBatch, type Assignment, assignReportToDefect, reportRowFeatures } from '../../server/dedup/assign-report';
import { createProject } from '../../server/projects/project-service';
import { refreshDefectCounts } from '../../server/defects/defect-service';
import { inAppReports } from '../fixtures/in-app-reports';
import { processReport } from '../support/dedup-reports';
import { createTestDatabase } from '../support/test-database';

/**
 * Report processing reads dedup's corpus statistics once per batch and writes each assignment
 * (defect, report, history, index) in one statement. The same reports, assigned one per
 * transaction with statistics read from the database each time, must come out the same way.
 */
let database: DatabaseHandle;
const start = Date.parse('2026-11-01T09:00:00Z');
const receivedAt = (index: number) => new Date(start + index * 3_600_000);
let oneByOne: Assignment[] = [];
let batched: Assignment[] = [];
let batchProjectId: string;
let batchReports: ReportRow[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  const { db } = database;
  const singleProject = (await createProject(db, { name: 'One by one', keyPrefix: 'ONE' })).id;
  for (const [index, fixture] of inAppReports.entries()) {
    oneByOne.push((await processReport(db, singleProject, { ...fixture, receivedAt: receivedAt(index) })).assignment);
  }

  batchProjectId = (await createProject(db, { name: 'Batched', keyPrefix: 'BAT' })).id;
  batchReports = [];
  for (const [index, fixture] of inAppReports.entries()) {
    batchReports.push(
      await db
        .insertInto('reports')
        .values({
          projectId: batchProjectId,
          clientId: crypto.randomUUID(),
          payload: JSON.stringify({ description: fixture.description }),
          title: fixture.title,
          description: fixture.description,
          receivedAt: receivedAt(index),
        })
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
  }
  batched = await db.transaction().execute(async (trx) => {
    // Enrichment as processing would have found it; written by the assignment's own update.
    const enriched = batchReports.map((report, index) => ({
      ...report,
      route: inAppReports[index].route,
      errorSignature: inAppReports[index].errorSignature ?? null,
      requestSignature: inAppReports[index].requestSignature ?? null,
      enrichment: { browser: 'Firefox' },
    }));
    const batch = await AssignmentBatch.start(trx, batchProjectId, enriched.map((report) => reportRowFeatures(report)));
    const assignments: Assignment[] = [];
    for (const report of enriched) assignments.push(await assignReportToDefect(trx, report, { batch, completion: report }));
    await batch.flush(trx);
    return assignments;
  });
});
afterAll(() => database.close());

describe('dedup within one processing batch', () => {
  it('opens and merges the same defects as one report per transaction', () => {
    const shape = (assignments: Assignment[]) => assignments.map((assignment) => assignments.findIndex((other) => other.defectId === assignment.defectId));
    expect(batched.map((assignment) => assignment.created)).toEqual(oneByOne.map((assignment) => assignment.created));
    expect(shape(batched)).toEqual(shape(oneByOne));
    // The fixtures do merge: the test would not notice a batch that only ever opens defects.
    expect(new Set(batched.map((assignment) => assignment.defectId)).size).toBeLessThan(batched.length);
  });

  it('scores every candidate exactly as with statistics read from the database', () => {
    const positionOf = (assignments: Assignment[], defectId: string) => assignments.findIndex((assignment) => assignment.defectId === defectId);
    for (const [index, assignment] of batched.entries()) {
      const expected = oneByOne[index].candidates.map((candidate) => ({ ...candidate, defectId: positionOf(oneByOne, candidate.defectId), reportId: undefined }));
      const actual = assignment.candidates.map((candidate) => ({ ...candidate, defectId: positionOf(batched, candidate.defectId), reportId: undefined }));
      expect(actual).toEqual(expected);
    }
  });

  it('leaves the corpus statistics a fresh read shows', async () => {
    const corpus = await database.db.selectFrom('dedupCorpus').select('documentCount').where('projectId', '=', batchProjectId).executeTakeFirstOrThrow();
    expect(corpus.documentCount).toBe(inAppReports.length);
    const [single] = await database.db.selectFrom('projects').select('id').where('keyPrefix', '=', 'ONE').execute();
    const terms = (projectId: string) =>
      database.db.selectFrom('dedupTerms').select(['term', 'documentFrequency']).where('projectId', '=', projectId).orderBy('term').execute();
    expect(await terms(batchProjectId)).toEqual(await terms(single.id));
  });

  it('writes each report once with its defect, candidates, enrichment and state, and the defect counts', async () => {
    const rows = await database.db.selectFrom('reports').selectAll().where('projectId', '=', batchProjectId).orderBy('receivedAt').execute();
    for (const [index, row] of rows.entries()) {
      expect(row.defectId).toBe(batched[index].defectId);
      expect(row.state).toBe('processed');
      expect(row.processedAt).not.toBeNull();
      expect(row.route).toBe(inAppReports[index].route);
      expect(row.enrichment).toEqual({ browser: 'Firefox' });
      expect(row.candidates).toEqual(JSON.parse(JSON.stringify(batched[index].candidates)));
    }
    const defects = await database.db.selectFrom('defects').selectAll().where('projectId', '=', batchProjectId).orderBy('number').execute();
    expect(defects.map((defect) => defect.key)).toEqual(defects.map((_, index) => `BAT-${index + 1}`));
    for (const defect of defects) {
      const own = rows.filter((row) => row.defectId === defect.id);
      expect(defect.reportCount).toBe(own.length);
      expect(defect.affectedUsers).toBe(own.length);
      expect(defect.lastSeenAt.getTime()).toBe(Math.max(...own.map((row) => row.receivedAt.getTime())));
      expect(defect.firstSeenAt.getTime()).toBe(Math.min(...own.map((row) => row.receivedAt.getTime())));
      const events = await database.db.selectFrom('defectEvents').select('kind').where('defectId', '=', defect.id).orderBy('id').execute();
      expect(events.map((event) => event.kind)).toEqual(['created', ...own.map(() => 'report_added')]);
    }
    const states = await database.db.selectFrom('defectStates').select('defectId').where('projectId', '=', batchProjectId).execute();
    expect(new Set(states.map((state) => state.defectId)).size).toBe(defects.length);
  });
});

describe('counts of a defect moved on report by report', () => {
  it('counts each reporter once, anonymous reports as one user each, and agrees with a recount', async () => {
    const { db } = database;
    const projectId = (await createProject(db, { name: 'Reporters', keyPrefix: 'REP' })).id;
    const senders = [
      { reporterId: 'user-1' },
      { reporterId: 'user-1' },
      { reporterEmail: 'Ana@Example.com' },
      { reporterEmail: 'ana@example.com' },
      {},
      {},
      { reporterId: 'user-2' },
    ];
    const assignments: Assignment[] = [];
    for (const [index, sender] of senders.entries()) {
      const { assignment } = await processReport(db, projectId, {
        title: 'Checkout button does nothing',
        description: 'Pressing pay on the checkout page does nothing at all',
        route: '/checkout',
        errorSignature: 'e-checkout',
        receivedAt: new Date(start + index * 60_000),
        ...sender,
      });
      assignments.push(assignment);
    }
    // They are one problem: all on the first report's defect (else the counts below test nothing).
    expect(new Set(assignments.map((assignment) => assignment.defectId))).toEqual(new Set([assignments[0].defectId]));
    const read = () =>
      db.selectFrom('defects').select(['reportCount', 'affectedUsers', 'firstSeenAt', 'lastSeenAt']).where('id', '=', assignments[0].defectId).executeTakeFirstOrThrow();
    const moved = await read();
    expect(moved).toEqual({ reportCount: 7, affectedUsers: 5, firstSeenAt: new Date(start), lastSeenAt: new Date(start + 6 * 60_000) });
    await refreshDefectCounts(db, assignments[0].defectId);
    expect(await read()).toEqual(moved);
  });
});
