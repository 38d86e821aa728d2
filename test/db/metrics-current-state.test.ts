import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { createDefect, recordDefectEvent } from '../../server/defects/defect-service';
import { type MetricsQuery, computeMetrics, findRelease } from '../../server/metrics/metrics-service';
import { computeReadiness } from '../../server/metrics/readiness-service';
import { createProject } from '../../server/projects/project-service';
import { createTestDatabase } from '../support/test-database';

// The current state the database keeps (migration 20261204_0100_defect_current_facts) against
// the history intervals it summarizes: after random histories (single events and bulk inserts,
// back-dated and same-instant events, moves between releases and components, merges and
// unmerges, reports added, moved and deleted, links and test results, a project rebuild), the
// metrics and readiness figures read from the current state equal those computed from
// defect_states alone, and the kept tables equal a recount from defect_states.

let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

/** A small seeded generator (mulberry32), so a failing history can be replayed by its seed. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    integer: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)],
    chance: (probability: number) => next() < probability,
  };
}

// histories around now, so the throughput weeks (the 12 ending at asOf) hold them
const base = Math.floor(Date.now() / 1000) * 1000 - 70 * 24 * 3_600_000;
const hour = 3_600_000;
const statuses = ['new', 'triaged', 'in_progress', 'resolved', 'verified', 'closed', 'wont_fix', 'reopened'] as const;
const severities = ['blocker', 'critical', 'major', 'minor', 'trivial', null] as const;
const components = ['cart', 'search', 'login', null] as const;
const origins = ['field', 'qa', 'ci'] as const;

interface EventRow {
  defectId: string;
  kind: string;
  field: string | null;
  oldValue: unknown;
  newValue: unknown;
  at: Date;
}

let run = 0;

/** Seeds one project with a random history; answers its id and release ids. */
async function randomHistory(seed: number) {
  const random = generator(seed);
  const { db } = database;
  run += 1;
  const projectId = (await createProject(db, { name: `Current ${run}`, keyPrefix: `CS${run}` })).id;
  const releases: string[] = [];
  for (let index = 1; index <= 4; index += 1) {
    const { rows } = await sql<{ id: string }>`
      insert into releases (project_id, version, semver_major, semver_minor, semver_patch, first_seen_at, released_at)
      values (${projectId}, ${`2.${index}.0`}, 2, ${index}, 0, ${new Date(base + index * 24 * hour)}, ${new Date(base + (index + 1) * 24 * hour)})
      returning id
    `.execute(db);
    releases.push(rows[0].id);
  }
  const releaseOrNull = () => (random.chance(0.15) ? null : random.pick(releases));

  // defects, written around the service (as an import would) with numbers of their own
  const defectCount = random.integer(12, 28);
  const defects: { id: string; status: string; severity: string | null; component: string | null; release: string | null; merged: boolean }[] = [];
  for (let index = 0; index < defectCount; index += 1) {
    const row = {
      status: 'new', severity: random.pick(severities), component: random.pick(components), release: releaseOrNull(),
      origin: random.pick(origins),
    };
    const { rows } = await sql<{ id: string }>`
      insert into defects (project_id, number, key, title, origin, status, severity, component, found_in_release_id)
      values (${projectId}, ${index + 1}, ${`CS${run}-${index + 1}`}, 'Random', ${row.origin}, 'new', ${row.severity}, ${row.component}, ${row.release})
      returning id
    `.execute(db);
    defects.push({ id: rows[0].id, ...row, merged: false });
  }
  await sql`update projects set next_defect_number = ${defectCount + 1} where id = ${projectId}`.execute(db);

  // every defect's history, as events; some instants repeat on purpose
  const events: EventRow[] = [];
  for (const defect of defects) {
    let at = base + random.integer(0, 40 * 24) * hour + random.integer(0, 3) * 15 * 60_000 + random.integer(0, 999_999) / 1000;
    const createdAt = new Date(at);
    events.push({
      defectId: defect.id, kind: 'created', field: null, oldValue: null, at: createdAt,
      newValue: { status: 'new', origin: (defect as { origin?: string }).origin, severity: defect.severity, foundInReleaseId: defect.release },
    });
    const steps = random.integer(0, 8);
    for (let step = 0; step < steps; step += 1) {
      if (!random.chance(0.1)) at += random.integer(0, 120) * hour * random.next() + random.integer(0, 59) * 60_000;
      const when = new Date(at);
      const choice = random.next();
      if (choice < 0.55) {
        const next = random.pick(statuses);
        events.push({ defectId: defect.id, kind: 'status_changed', field: 'status', oldValue: defect.status, newValue: next, at: when });
        defect.status = next;
      } else if (choice < 0.67) {
        const next = random.pick(severities);
        events.push({ defectId: defect.id, kind: 'field_changed', field: 'severity', oldValue: defect.severity, newValue: next, at: when });
        defect.severity = next;
      } else if (choice < 0.79) {
        const next = random.pick(components);
        events.push({ defectId: defect.id, kind: 'field_changed', field: 'component', oldValue: defect.component, newValue: next, at: when });
        defect.component = next;
      } else if (choice < 0.9) {
        const next = releaseOrNull();
        events.push({ defectId: defect.id, kind: 'field_changed', field: 'foundInReleaseId', oldValue: defect.release, newValue: next, at: when });
        defect.release = next;
      } else if (choice < 0.96) {
        events.push({ defectId: defect.id, kind: defect.merged ? 'unmerged' : 'merged', field: 'mergedIntoId', oldValue: null, newValue: defects[0].id, at: when });
        defect.merged = !defect.merged;
      } else {
        events.push({ defectId: defect.id, kind: 'report_added', field: null, oldValue: null, newValue: { reportId: crypto.randomUUID() }, at: when });
      }
    }
  }
  // written in random order and batches: bulk statements over many defects, single events,
  // later events before earlier ones (a back-dated seed)
  const shuffled = events.map((event) => ({ event, order: random.next() })).sort((a, b) => a.order - b.order).map(({ event }) => event);
  // keep each defect's created event in the first batch sometimes, late other times
  for (let start = 0; start < shuffled.length; ) {
    const size = random.chance(0.3) ? 1 : random.integer(2, 40);
    const batch = shuffled.slice(start, start + size);
    start += size;
    if (batch.length === 1 && random.chance(0.5)) {
      const [event] = batch;
      await recordDefectEvent(db, { projectId, defectId: event.defectId, actor: { kind: 'user' }, kind: event.kind, field: event.field ?? undefined, oldValue: event.oldValue ?? undefined, newValue: event.newValue ?? undefined, at: event.at });
      continue;
    }
    await sql`
      insert into defect_events (project_id, defect_id, actor_kind, kind, field, old_value, new_value, created_at)
      select ${projectId}, e.defect_id, 'system', e.kind, e.field, e.old_value, e.new_value, e.created_at
      from jsonb_to_recordset(${JSON.stringify(batch.map((event) => ({
        defect_id: event.defectId, kind: event.kind, field: event.field,
        old_value: event.oldValue === null ? null : event.oldValue, new_value: event.newValue === null ? null : event.newValue,
        created_at: event.at.toISOString(),
      })))}::jsonb) as e(defect_id uuid, kind text, field text, old_value jsonb, new_value jsonb, created_at timestamptz)
    `.execute(db);
  }
  // one defect through the service, with its created event at the real time
  await db.transaction().execute((trx) => createDefect(trx, { projectId, title: 'Through the service', origin: 'field', component: 'cart', foundInReleaseId: releases[1] }));

  // reports: inserted in bulk and one by one, moved, deleted
  const allDefects = (await db.selectFrom('defects').select('id').where('projectId', '=', projectId).execute()).map((row) => row.id);
  for (let index = 0; index < random.integer(5, 30); index += 1) {
    const count = random.integer(1, 4);
    await db
      .insertInto('reports')
      .values(Array.from({ length: count }, () => ({
        projectId, clientId: crypto.randomUUID(), defectId: random.chance(0.85) ? random.pick(allDefects) : null, description: 'report', payload: '{}',
        receivedAt: new Date(base + random.integer(0, 60 * 24) * hour), state: 'processed',
      })))
      .execute();
  }
  const reportIds = (await db.selectFrom('reports').select('id').where('projectId', '=', projectId).execute()).map((row) => row.id);
  for (const reportId of reportIds) {
    if (random.chance(0.15)) await db.updateTable('reports').set({ defectId: random.chance(0.8) ? random.pick(allDefects) : null }).where('id', '=', reportId).execute();
    else if (random.chance(0.08)) await db.deleteFrom('reports').where('id', '=', reportId).execute();
  }
  // a merge moves every report of one defect onto another in one statement
  await db.updateTable('reports').set({ defectId: allDefects[1] }).where('defectId', '=', allDefects[2]).execute();

  // test cases, runs on the releases, results, links
  const testCases: string[] = [];
  for (let index = 0; index < 6; index += 1) {
    const { rows } = await sql<{ id: string }>`
      insert into test_cases (project_id, key, title, component, kind, created_at, archived_at)
      values (${projectId}, ${`T-${index}`}, 'Test', ${random.pick(components)}, 'automated', ${new Date(base - 24 * hour)},
              ${random.chance(0.2) ? new Date(base + random.integer(0, 60) * 24 * hour) : null})
      returning id
    `.execute(db);
    testCases.push(rows[0].id);
  }
  for (const releaseId of releases) {
    const { rows } = await sql<{ id: string }>`
      insert into test_runs (project_id, release_id, build, created_at) values (${projectId}, ${releaseId}, 'b', ${new Date(base + random.integer(0, 40) * 24 * hour)}) returning id
    `.execute(db);
    for (const testCaseId of testCases) {
      await sql`insert into test_results (test_run_id, test_case_id, status, created_at)
                values (${rows[0].id}, ${testCaseId}, ${random.pick(['passed', 'passed', 'failed', 'skipped'])}, ${new Date(base + random.integer(0, 40) * 24 * hour)})`.execute(db);
    }
  }
  for (const defectId of allDefects) {
    if (!random.chance(0.5)) continue;
    await sql`insert into defect_test_links (defect_id, test_case_id, kind, created_at)
              values (${defectId}, ${random.pick(testCases)}, ${random.pick(['covers', 'failed_in', 'regression_test_added'])}, ${new Date(base + random.integer(0, 50) * 24 * hour)})
              on conflict do nothing`.execute(db);
  }
  return { projectId, releases };
}

/** Both paths' answers for every request shape the current state serves. */
async function compareFigures(projectId: string, releases: string[]) {
  const { db } = database;
  // the newest change itself (the earliest instant the current state answers), and later
  const { rows } = await sql<{ last: Date }>`
    select greatest((select max(valid_from) from defect_states where project_id = ${projectId}),
                    (select max(received_at) from reports where project_id = ${projectId})) as last
  `.execute(db);
  let compared = 0;
  for (const asOf of [rows[0].last, new Date(rows[0].last.getTime() + 5 * 24 * hour + 7 * 60_000)]) {
    compared += await compareFiguresAt(projectId, releases, asOf);
  }
  return compared;
}

async function compareFiguresAt(projectId: string, releases: string[], asOf: Date) {
  const { db } = database;
  let compared = 0;
  for (const timeZone of ['UTC', 'Europe/Berlin', 'America/St_Johns', 'Asia/Kathmandu']) {
    for (const releaseId of [null, releases[0], releases[2]]) {
      for (const component of [null, 'cart', 'search']) {
        if (timeZone !== 'UTC' && (releaseId || component)) continue;
        const release = releaseId ? await findRelease(db, projectId, releaseId) : null;
        const windows: [Date | null, Date | null][] = [
          [null, null],
          [new Date(base + 20 * 24 * hour + 123), null],
          [new Date(base + 3 * 24 * hour + 7 * hour), new Date(base + 45 * 24 * hour + 59_999)],
          [null, new Date(base + 30 * 24 * hour)],
        ];
        for (const [from, to] of windows) {
          const query: MetricsQuery = { projectId, asOf, from, to, timeZone, release, component };
          const fast = await computeMetrics(db, query);
          const slow = await computeMetrics(db, query, { currentState: false });
          expect(fast).toEqual(slow);
          compared += 1;
        }
      }
    }
  }
  for (const releaseId of releases) {
    const fast = await computeReadiness(db, projectId, releaseId, asOf);
    const slow = await computeReadiness(db, projectId, releaseId, asOf, { currentState: false });
    expect(fast).toEqual(slow);
  }
  return compared;
}

/**
 * Past instants of a project's history: the start of some intervals, a millisecond before and
 * after, and an instant between two changes, so defects changed after each one (moved between
 * releases, reopened, merged or unmerged later) are read from the history and the rest from the
 * current facts.
 */
async function pastInstants(projectId: string): Promise<Date[]> {
  const { rows } = await sql<{ at: Date }>`
    select distinct valid_from as at from defect_states where project_id = ${projectId} and valid_to < 'infinity' order by at
  `.execute(database.db);
  const starts = rows.map((row) => row.at.getTime());
  const picked = [0.1, 0.35, 0.6, 0.85].map((share) => starts[Math.floor(share * (starts.length - 1))]);
  return [
    ...picked.map((at) => new Date(at)),
    new Date(picked[1] - 1),
    new Date(picked[2] + 1),
    new Date(Math.floor((picked[3] + starts[Math.min(starts.length - 1, starts.indexOf(picked[3]) + 1)]) / 2)),
  ];
}

/** What the defects changed after `asOf` were at `asOf`: the cases the facts alone would get wrong. */
async function changedAfter(projectId: string, asOf: Date) {
  const { rows } = await sql<{ changed: number; merged: number; moved: number; reopened: number; resolvedLater: number }>`
    select count(*)::int as changed,
      count(*) filter (where s.merged <> f.merged)::int as merged,
      count(*) filter (where s.found_in_release_id is distinct from f.release_id)::int as moved,
      count(*) filter (where s.reopen_count <> f.reopen_count)::int as reopened,
      count(*) filter (where s.is_done <> f.is_done)::int as "resolvedLater"
    from defect_states s join defect_current_facts f on f.defect_id = s.defect_id
    where s.project_id = ${projectId} and s.valid_from <= ${asOf} and s.valid_to > ${asOf} and s.valid_to < 'infinity'
  `.execute(database.db);
  return rows[0];
}

/** Both paths' answers at past instants, for windows that end by each. */
async function comparePastFigures(projectId: string, releases: string[]) {
  const { db } = database;
  const seen = { changed: 0, merged: 0, moved: 0, reopened: 0, resolvedLater: 0 };
  let compared = 0;
  for (const asOf of await pastInstants(projectId)) {
    const changed = await changedAfter(projectId, asOf);
    for (const key of Object.keys(seen) as (keyof typeof seen)[]) seen[key] += changed[key];
    for (const timeZone of ['UTC', 'Europe/Berlin']) {
      for (const releaseId of [null, releases[0], releases[2]]) {
        for (const component of [null, 'cart']) {
          if (timeZone !== 'UTC' && (releaseId || component)) continue;
          const release = releaseId ? await findRelease(db, projectId, releaseId) : null;
          const day = 24 * hour;
          const windows: [Date | null, Date | null][] = [
            [null, null],
            [new Date(asOf.getTime() - 9 * day - 123), null],
            [new Date(base + 3 * day + 7 * hour), new Date(asOf.getTime() - 2 * day)],
            [null, new Date(asOf.getTime() - 5 * day + 59_999)],
          ];
          for (const [from, to] of windows) {
            if (from && to && from > to) continue;
            const query: MetricsQuery = { projectId, asOf, from, to, timeZone, release, component };
            expect(await computeMetrics(db, query)).toEqual(await computeMetrics(db, query, { currentState: false }));
            compared += 1;
          }
        }
      }
    }
  }
  return { compared, seen };
}

/** The kept tables against a recount from the current intervals of defect_states. */
async function compareTables(projectId: string) {
  const { db } = database;
  const facts = await sql`
    select defect_id, valid_from, created_at, status, is_done, origin, severity, component, release_id, merged, reopen_count, resolved_at, first_resolved_at
    from defect_current_facts where project_id = ${projectId} and not stale order by defect_id
  `.execute(db);
  const states = await sql`
    select defect_id, valid_from, created_at, status, is_done, origin, severity, component, found_in_release_id as release_id, merged, reopen_count, resolved_at, first_resolved_at
    from defect_states where project_id = ${projectId} and valid_to = 'infinity' order by defect_id
  `.execute(db);
  expect(facts.rows).toEqual(states.rows);

  const groups = await sql`
    select release_id, component, origin, severity, status, defects::int, resolved::int, reopened::int, reopens::int, repair_us::text, reports::int, reported_defects::int
    from defect_current_groups where project_id = ${projectId} and defects <> 0
    order by release_id nulls first, component nulls first, origin, severity nulls first, status
  `.execute(db);
  const recount = await sql`
    select s.found_in_release_id as release_id, s.component, s.origin, s.severity, s.status, count(*)::int as defects,
      count(*) filter (where s.first_resolved_at is not null)::int as resolved,
      count(*) filter (where s.first_resolved_at is not null and s.reopen_count > 0)::int as reopened,
      coalesce(sum(s.reopen_count) filter (where s.first_resolved_at is not null), 0)::int as reopens,
      coalesce(sum(extract(epoch from s.resolved_at - s.created_at) * 1000000) filter (where s.status in ('resolved', 'verified', 'closed')), 0)::bigint::text as repair_us,
      coalesce(sum(t.reports), 0)::int as reports, count(*) filter (where t.reports > 0)::int as reported_defects
    from defect_states s left join defect_report_tallies t on t.defect_id = s.defect_id and t.project_id = s.project_id
    where s.project_id = ${projectId} and s.valid_to = 'infinity' and not s.merged
    group by 1, 2, 3, 4, 5
    order by release_id nulls first, component nulls first, origin, severity nulls first, status
  `.execute(db);
  expect(groups.rows).toEqual(recount.rows);
  const leftovers = await sql<{ count: number }>`
    select count(*)::int as count from defect_current_groups
    where project_id = ${projectId} and defects = 0 and (resolved <> 0 or reopened <> 0 or reopens <> 0 or repair_us <> 0 or reports <> 0 or reported_defects <> 0)
  `.execute(db);
  expect(leftovers.rows[0].count).toBe(0);
  // each defect's reports and the bounds around them, as its tally
  const reports = await sql<{ wrong: number }>`
    select count(*)::int as wrong from defect_current_facts f
    left join defect_report_tallies t on t.defect_id = f.defect_id and t.project_id = f.project_id
    where f.project_id = ${projectId} and not f.stale
      and (f.reports <> coalesce(t.reports, 0)
           or exists (select 1 from reports r where r.defect_id = f.defect_id and r.project_id = f.project_id
                      and not (r.received_at between f.first_received_at and f.last_received_at)))
  `.execute(db);
  expect(reports.rows[0].wrong).toBe(0);

  const hours = await sql`
    select severity, component, hour::text, defects::int from defect_current_repair_hours where project_id = ${projectId} and defects <> 0
    order by severity nulls first, component nulls first, hour
  `.execute(db);
  const hoursRecount = await sql`
    select severity, component, floor(repair_us / 3600000000.0)::bigint::text as hour, count(*)::int as defects
    from defect_current_facts where project_id = ${projectId} and not stale and not merged and repair_us is not null
    group by 1, 2, 3 order by severity nulls first, component nulls first, hour
  `.execute(db);
  expect(hours.rows).toEqual(hoursRecount.rows);
  const bounds = await sql<{ outside: number }>`
    select count(*)::int as outside from defect_current_facts f join defect_current_repair_hours h
      on h.project_id = f.project_id and h.severity is not distinct from f.severity and h.component is not distinct from f.component
         and h.hour = floor(f.repair_us / 3600000000.0)::bigint
    where f.project_id = ${projectId} and not f.stale and not f.merged and f.repair_us is not null and (f.repair_us < h.low_us or f.repair_us > h.high_us)
  `.execute(db);
  expect(bounds.rows[0].outside).toBe(0);

  const resolutions = await sql`
    select release_id, component, day::text, entries::int from defect_current_resolutions where project_id = ${projectId} and entries <> 0
    order by release_id nulls first, component nulls first, day
  `.execute(db);
  const resolutionsRecount = await sql`
    select c.found_in_release_id as release_id, c.component, (s.valid_from at time zone 'UTC')::date::text as day, count(*)::int as entries
    from defect_states s join defect_states c on c.defect_id = s.defect_id and c.valid_to = 'infinity' and not c.merged
    where s.project_id = ${projectId} and s.is_done and s.resolved_at = s.valid_from
    group by 1, 2, 3 order by release_id nulls first, component nulls first, day
  `.execute(db);
  expect(resolutions.rows).toEqual(resolutionsRecount.rows);
}

describe('the current state kept by the database', () => {
  it('gives the figures of the history intervals, and equals a recount, after random histories', async () => {
    let compared = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const { projectId, releases } = await randomHistory(seed);
      await compareTables(projectId);
      compared += await compareFigures(projectId, releases);
      // a rebuild deletes and inserts every interval of the project
      await sql`select bugloop_rebuild_defect_states(${projectId}::uuid)`.execute(database.db);
      await compareTables(projectId);
      compared += await compareFigures(projectId, releases);
    }
    expect(compared).toBeGreaterThan(100);
  }, 240_000);

  it('gives the figures of the history intervals at past instants, reading only the defects changed since from the history', async () => {
    const seen = { changed: 0, merged: 0, moved: 0, reopened: 0, resolvedLater: 0 };
    let compared = 0;
    for (const seed of [11, 12, 13, 14]) {
      const { projectId, releases } = await randomHistory(seed);
      const result = await comparePastFigures(projectId, releases);
      compared += result.compared;
      for (const key of Object.keys(seen) as (keyof typeof seen)[]) seen[key] += result.seen[key];
    }
    expect(compared).toBeGreaterThan(100);
    // the histories hold defects that at those instants differed from now in each way that matters
    expect(seen.changed).toBeGreaterThan(20);
    expect(seen.merged).toBeGreaterThan(0);
    expect(seen.moved).toBeGreaterThan(0);
    expect(seen.reopened).toBeGreaterThan(0);
    expect(seen.resolvedLater).toBeGreaterThan(0);
  }, 240_000);

  it('is not used for an instant before the newest change', async () => {
    const { projectId } = await randomHistory(7);
    const { rows } = await sql<{ last: Date }>`select max(valid_from) as last from defect_states where project_id = ${projectId}`.execute(database.db);
    const before = new Date(rows[0].last.getTime() - 1);
    for (const query of [
      { projectId, asOf: before, from: null, to: null, timeZone: 'UTC', release: null, component: null },
    ] satisfies MetricsQuery[]) {
      expect(await computeMetrics(database.db, query)).toEqual(await computeMetrics(database.db, query, { currentState: false }));
    }
  });

  it('counts the reports one by one when one was received after asOf', async () => {
    const { projectId } = await randomHistory(9);
    const { rows } = await sql<{ defectId: string }>`
      select id as defect_id from defects where project_id = ${projectId} order by number limit 1
    `.execute(database.db);
    const asOf = new Date(Date.now() + 24 * hour);
    await database.db.insertInto('reports').values({ projectId, clientId: crypto.randomUUID(), defectId: rows[0].defectId, description: 'late', payload: '{}', receivedAt: new Date(asOf.getTime() + hour) }).execute();
    const query: MetricsQuery = { projectId, asOf, from: null, to: null, timeZone: 'UTC', release: null, component: null };
    expect(await computeMetrics(database.db, query)).toEqual(await computeMetrics(database.db, query, { currentState: false }));
  });

  it('drops a deleted defect from the counts', async () => {
    const { projectId, releases } = await randomHistory(8);
    const { rows } = await sql<{ defectId: string }>`
      select defect_id from defect_current_facts where project_id = ${projectId} and not merged and not stale order by defect_id limit 1
    `.execute(database.db);
    await sql`delete from defects where id = ${rows[0].defectId}`.execute(database.db);
    await compareTables(projectId);
    await compareFigures(projectId, releases);
  });
});
