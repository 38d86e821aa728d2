import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { createProject } from '../../server/projects/project-service';
import { ReportWriter, type ReportToStore, processReportJobKind, storeReports } from '../../server/reports/report-ingest';
import { checkImage } from '../../server/reports/image-check';
import { makePng } from '../support/images';
import { createTestDatabase } from '../support/test-database';

let database: DatabaseHandle;
let projectId: string;
beforeAll(async () => {
  database = await createTestDatabase();
  projectId = (await createProject(database.db, { name: 'Group commit', keyPrefix: 'GC' })).id;
});
afterAll(() => database.close());

const report = (description: string, id: string = randomUUID()): ReportToStore => ({
  projectId,
  origin: 'field',
  report: { id, description },
});

async function storedRows(clientIds: readonly string[]) {
  const rows = await sql<{ id: string; clientId: string; description: string; receivedAt: Date; jobId: string | null }>`
    select r.id, r.client_id, r.description, r.received_at, j.id as job_id
    from reports r left join jobs j on j.idempotency_key = ${`${processReportJobKind}:`} || r.id::text
    where r.client_id = any(${[...clientIds]}::uuid[])
    order by r.received_at
  `.execute(database.db);
  return rows.rows.map((row) => ({ ...row, receivedAt: new Date(row.receivedAt) }));
}

describe('storing reports together (group commit)', () => {
  it('stores each report of a batch once, with its job, in the order given', async () => {
    const batch = Array.from({ length: 5 }, (_, index) => report(`report number ${index}`));
    const answers = await storeReports(database.db, batch);
    expect(answers.map((answer) => answer.duplicate)).toEqual([false, false, false, false, false]);
    expect(answers.map((answer) => answer.clientId)).toEqual(batch.map((input) => input.report.id));
    const rows = await storedRows(batch.map((input) => input.report.id));
    expect(rows.map((row) => row.description)).toEqual(batch.map((input) => input.report.description));
    expect(rows.map((row) => row.id)).toEqual(answers.map((answer) => answer.id));
    expect(rows.every((row) => row.jobId !== null)).toBe(true);
    // Stamped by the clock row by row: processing orders by arrival.
    expect(new Set(rows.map((row) => row.receivedAt.getTime())).size).toBeGreaterThan(1);
  });

  it('answers a twin in the same batch, and a retry of a stored report, with the first id', async () => {
    const stored = report('sent before');
    const [first] = await storeReports(database.db, [stored]);
    const twinId = randomUUID();
    const answers = await storeReports(database.db, [report('twin', twinId), report('retry', stored.report.id.toUpperCase()), report('twin again', twinId)]);
    expect(answers[0].duplicate).toBe(false);
    expect(answers[2]).toMatchObject({ id: answers[0].id, duplicate: true });
    expect(answers[1]).toMatchObject({ id: first.id, duplicate: true });
    expect(await storedRows([twinId, stored.report.id])).toHaveLength(2);
  });

  it('stores images with their reports, one blob per content', async () => {
    const bytes = makePng(40, 30);
    const checked = checkImage(bytes);
    const withImage = (description: string): ReportToStore => ({ ...report(description), image: { bytes, checked, filename: 'shot.png' } });
    const batch = [withImage('first with image'), report('no image'), withImage('second with the same image')];
    const answers = await storeReports(database.db, batch);
    const attachments = await database.db
      .selectFrom('reportAttachments')
      .select(['reportId', 'sha256', 'filename'])
      .where('reportId', 'in', answers.map((answer) => answer.id))
      .execute();
    expect(attachments.map((attachment) => attachment.reportId).sort()).toEqual([answers[0].id, answers[2].id].sort());
    const blobs = await database.db.selectFrom('attachmentBlobs').select(['byteSize']).where('sha256', '=', attachments[0].sha256).execute();
    expect(blobs).toEqual([{ byteSize: bytes.length }]);
  });

  it('writes reports that arrive while a store is in flight in one statement', async () => {
    let batches = 0;
    const writer = new ReportWriter(database.db, { maxInFlight: 1, maxBatch: 64, maxBatchBytes: 1024 * 1024 }, () => (batches += 1));
    const flood = Array.from({ length: 30 }, (_, index) => report(`flood ${index}`));
    const answers = await Promise.all(flood.map((input) => writer.store(input)));
    expect(answers.map((answer) => answer.clientId)).toEqual(flood.map((input) => input.report.id));
    expect(await storedRows(flood.map((input) => input.report.id))).toHaveLength(30);
    // The first went alone (nothing was in flight); the 29 that waited for it went together.
    expect(batches).toBe(2);
  });

  it('splits a batch by image bytes and by count', async () => {
    let batches = 0;
    const bytes = makePng(200, 200);
    const checked = checkImage(bytes);
    const writer = new ReportWriter(database.db, { maxInFlight: 1, maxBatch: 4, maxBatchBytes: bytes.length * 2 }, () => (batches += 1));
    const withImages = Array.from({ length: 7 }, (_, index) => ({ ...report(`image ${index}`), image: { bytes, checked } }));
    await Promise.all(withImages.map((input) => writer.store(input)));
    // 1 alone, then 6 waiting: two images per statement.
    expect(batches).toBe(4);
    const plain = Array.from({ length: 9 }, (_, index) => report(`plain ${index}`));
    batches = 0;
    await Promise.all(plain.map((input) => writer.store(input)));
    // 1 alone, then 8 waiting: four per statement.
    expect(batches).toBe(3);
  });

  it('fails a bad report alone when its batch fails', async () => {
    const writer = new ReportWriter(database.db, { maxInFlight: 1, maxBatch: 64, maxBatchBytes: 1024 * 1024 });
    const good = Array.from({ length: 20 }, (_, index) => report(`with a bad neighbour ${index}`));
    // A report of a project that does not exist breaks its batch's statement (foreign key).
    const bad: ReportToStore = { ...report('no such project'), projectId: randomUUID() };
    const results = await Promise.allSettled([...good.slice(0, 10), bad, ...good.slice(10)].map((input) => writer.store(input)));
    expect(results.map((result) => result.status === 'rejected')).toEqual([...Array(10).fill(false), true, ...Array(10).fill(false)]);
    expect(await storedRows(good.map((input) => input.report.id))).toHaveLength(20);
  });
});
