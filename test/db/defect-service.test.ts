import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { attachReportToDefect, createDefect, updateDefect } from '../../server/defects/defect-service';
import { createProject } from '../../server/projects/project-service';
import { createTestDatabase } from '../support/test-database';

let database: DatabaseHandle;
let projectId: string;
beforeAll(async () => {
  database = await createTestDatabase();
  projectId = (await createProject(database.db, { name: 'Defects', keyPrefix: 'WEB' })).id;
});
afterAll(() => database.close());

const newDefect = (title = 'Checkout fails') =>
  database.db.transaction().execute((trx) => createDefect(trx, { projectId, title, origin: 'field' }));

describe('defect keys', () => {
  it('number defects per project without gaps, also under concurrency', async () => {
    const defects = await Promise.all(Array.from({ length: 8 }, (_, index) => newDefect(`Bug ${index}`)));
    const numbers = defects.map((defect) => defect.number).sort((a, b) => a - b);
    expect(numbers).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(defects.find((defect) => defect.number === 3)!.key).toBe('WEB-3');
  });
});

describe('updateDefect', () => {
  it('writes one history event per changed field and none for unchanged ones', async () => {
    const defect = await newDefect();
    await database.db.transaction().execute((trx) =>
      updateDefect(trx, defect.id, { status: 'triaged', severity: 'major', title: defect.title }, { kind: 'user' }),
    );
    const events = await database.db.selectFrom('defectEvents').selectAll().where('defectId', '=', defect.id).orderBy('id').execute();
    expect(events.map((event) => [event.kind, event.field, event.newValue])).toEqual([
      ['created', null, expect.objectContaining({ status: 'new', origin: 'field' })],
      ['status_changed', 'status', 'triaged'],
      ['field_changed', 'severity', 'major'],
    ]);
  });

  it('turns a done defect set back to work into a counted reopen', async () => {
    const defect = await newDefect();
    const change = (status: 'resolved' | 'in_progress') =>
      database.db.transaction().execute((trx) => updateDefect(trx, defect.id, { status }, { kind: 'integration' }));
    const resolved = await change('resolved');
    expect(resolved.resolvedAt).toBeInstanceOf(Date);
    const reopened = await change('in_progress');
    expect(reopened).toMatchObject({ status: 'reopened', reopenCount: 1, resolvedAt: null });
    await change('resolved');
    expect((await change('in_progress')).reopenCount).toBe(2);
  });
});

describe('attachReportToDefect', () => {
  it('keeps report count and distinct affected users right', async () => {
    const defect = await newDefect();
    const insertReport = (reporter: { reporterId?: string; reporterEmail?: string }) =>
      database.db
        .insertInto('reports')
        .values({ projectId, clientId: crypto.randomUUID(), description: 'broken', payload: '{}', ...reporter })
        .returning('id')
        .executeTakeFirstOrThrow();
    const reports = [
      await insertReport({ reporterId: 'u1' }),
      await insertReport({ reporterId: 'u1' }),
      await insertReport({ reporterEmail: 'A@x.org' }),
      await insertReport({ reporterEmail: 'a@x.org' }),
      await insertReport({}),
    ];
    for (const report of reports) await database.db.transaction().execute((trx) => attachReportToDefect(trx, report.id, defect.id));
    const after = await database.db.selectFrom('defects').selectAll().where('id', '=', defect.id).executeTakeFirstOrThrow();
    expect(after.reportCount).toBe(5);
    expect(after.affectedUsers).toBe(3);
  });
});
