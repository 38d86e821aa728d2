import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { createDefect, recordDefectEvent, updateDefect } from '../../server/defects/defect-service';
import { createProject } from '../../server/projects/project-service';
import { createTestDatabase } from '../support/test-database';

// The trigger that replays defect_events into defect_states, on the real database.

let database: DatabaseHandle;
let projectId: string;
beforeAll(async () => {
  database = await createTestDatabase();
  projectId = (await createProject(database.db, { name: 'States', keyPrefix: 'ST' })).id;
});
afterAll(() => database.close());

const at = (text: string) => new Date(`2026-${text}:00Z`);
const user = { kind: 'user' as const };
const newDefect = (component: string | null = 'cart') =>
  database.db.transaction().execute((trx) => createDefect(trx, { projectId, title: 'Broken', origin: 'field', component, firstSeenAt: at('01-01T00:00') }));
const states = (defectId: string) =>
  database.db
    .selectFrom('defectStates')
    .select(['validFrom', 'validTo', 'status', 'component', 'reopenCount', 'resolvedAt', 'merged'])
    .where('defectId', '=', defectId)
    .orderBy('validFrom')
    .execute();

describe('defect_states', () => {
  it('starts one open interval when a defect is created', async () => {
    const defect = await newDefect();
    expect(await states(defect.id)).toEqual([
      { validFrom: at('01-01T00:00'), validTo: Infinity, status: 'new', component: 'cart', reopenCount: 0, resolvedAt: null, merged: false },
    ]);
  });

  it('adds no interval for an event that changes nothing it tracks', async () => {
    const defect = await newDefect();
    await recordDefectEvent(database.db, { projectId, defectId: defect.id, actor: user, kind: 'report_added', newValue: { reportId: 'x' }, at: at('01-02T00:00') });
    expect(await states(defect.id)).toHaveLength(1);
  });

  it('places a back-dated event inserted last where it belongs in time', async () => {
    const defect = await newDefect();
    await database.db.transaction().execute((trx) => updateDefect(trx, defect.id, { status: 'resolved' }, user, { at: at('01-10T00:00') }));
    // a change that happened earlier, recorded afterwards (an import)
    await recordDefectEvent(database.db, {
      projectId, defectId: defect.id, actor: user, kind: 'field_changed', field: 'component', oldValue: 'cart', newValue: 'checkout', at: at('01-05T00:00'),
    });
    expect((await states(defect.id)).map((state) => [state.validFrom, state.status, state.component])).toEqual([
      [at('01-01T00:00'), 'new', 'cart'],
      [at('01-05T00:00'), 'new', 'checkout'],
      [at('01-10T00:00'), 'resolved', 'checkout'],
    ]);
  });

  it('keeps only the last state of several events at the same instant', async () => {
    const defect = await newDefect();
    await database.db.transaction().execute((trx) => updateDefect(trx, defect.id, { status: 'triaged', component: 'search' }, user, { at: at('01-03T00:00') }));
    expect((await states(defect.id)).map((state) => [state.validFrom, state.status, state.component])).toEqual([
      [at('01-01T00:00'), 'new', 'cart'],
      [at('01-03T00:00'), 'triaged', 'search'],
    ]);
  });

  it('counts reopens and ends the resolution when a done defect is reopened', async () => {
    const defect = await newDefect();
    const change = (status: 'resolved' | 'in_progress', when: string) =>
      database.db.transaction().execute((trx) => updateDefect(trx, defect.id, { status }, user, { at: at(when) }));
    await change('resolved', '01-02T00:00');
    await change('in_progress', '01-03T00:00');
    await change('resolved', '01-04T00:00');
    expect((await states(defect.id)).map((state) => [state.status, state.reopenCount, state.resolvedAt])).toEqual([
      ['new', 0, null],
      ['resolved', 0, at('01-02T00:00')],
      ['reopened', 1, null],
      ['resolved', 1, at('01-04T00:00')],
    ]);
  });

  it('marks a defect merged from its merged event on', async () => {
    const defect = await newDefect();
    await recordDefectEvent(database.db, { projectId, defectId: defect.id, actor: user, kind: 'merged', field: 'mergedIntoId', newValue: defect.id, at: at('01-07T00:00') });
    expect((await states(defect.id)).map((state) => [state.validFrom, state.merged])).toEqual([
      [at('01-01T00:00'), false],
      [at('01-07T00:00'), true],
    ]);
  });

  it('handles a bulk insert of many defects’ events in one statement like single inserts', async () => {
    const first = await newDefect();
    const second = await newDefect('profile');
    await sql`
      insert into defect_events (project_id, defect_id, actor_kind, kind, field, old_value, new_value, created_at)
      select ${projectId}, d.id, 'system', 'status_changed', 'status', '"new"', '"closed"', ${at('02-01T00:00')}::timestamptz
      from defects d where d.id in (${first.id}, ${second.id})
    `.execute(database.db);
    for (const defect of [first, second]) {
      expect((await states(defect.id)).map((state) => [state.status, state.resolvedAt])).toEqual([['new', null], ['closed', at('02-01T00:00')]]);
    }
  });

  it('rebuilds a project to exactly the intervals the trigger kept', async () => {
    const before = await database.db.selectFrom('defectStates').selectAll().where('projectId', '=', projectId).orderBy(['defectId', 'validFrom']).execute();
    await sql`select bugloop_rebuild_defect_states(${projectId}::uuid)`.execute(database.db);
    const after = await database.db.selectFrom('defectStates').selectAll().where('projectId', '=', projectId).orderBy(['defectId', 'validFrom']).execute();
    expect(after).toEqual(before);
    expect(after.length).toBeGreaterThan(10);
  });
});
