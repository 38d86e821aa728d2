import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../server/db/database';
import { DatabaseMaintenance } from '../../server/db/maintenance';
import { createLogger } from '../../server/logger';
import { enqueueJob } from '../../server/outbox/job-queue';
import { createTestDatabase } from '../support/test-database';

const onPglite = inject('testDatabase').kind === 'pglite';
const logger = createLogger('silent');
let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());
beforeEach(async () => {
  await database.db.deleteFrom('jobs').execute();
});

/** Statistics of the jobs table as the database reports them, flushed up to now. */
async function jobsTableStatistics() {
  await sql`select pg_stat_force_next_flush()`.execute(database.db);
  const result = await sql<{ deadRows: number; lastVacuum: Date | null; vacuumCount: number }>`
    select n_dead_tup::int as dead_rows, last_vacuum, vacuum_count::int as vacuum_count
    from pg_stat_user_tables where relname = 'jobs' and schemaname = current_schema()
  `.execute(database.db);
  return result.rows[0];
}

/** Leaves `rows` jobs each updated `times` times: rows × times dead tuples until a vacuum. */
async function churnJobs(rows: number, times: number) {
  for (let index = 0; index < rows; index += 1) await enqueueJob(database.db, { kind: 'test.churn', payload: { index } });
  for (let round = 0; round < times; round += 1) {
    await database.db.updateTable('jobs').set((eb) => ({ attempts: eb('attempts', '+', 1) })).where('kind', '=', 'test.churn').execute();
  }
}

describe.runIf(onPglite)('database maintenance on PGlite (no autovacuum)', () => {
  it('vacuums a table once its dead rows pass the threshold', async () => {
    const maintenance = new DatabaseMaintenance(database, logger, { minimumIntervalMs: 0 });
    await maintenance.runIfDue(); // whatever the migrations and earlier tests left
    await churnJobs(200, 3); // 600 dead rows, far above 50 + 20% of 200
    const before = await jobsTableStatistics();
    // (page pruning may already have reclaimed a few)
    expect(before.deadRows).toBeGreaterThan(300);

    const run = await maintenance.runIfDue();

    expect(run.checked).toBe(true);
    expect(run.vacuumed).toContain('jobs');
    const after = await jobsTableStatistics();
    expect(after.deadRows).toBe(0);
    expect(after.lastVacuum).not.toBeNull();
    expect(after.vacuumCount).toBe(before.vacuumCount + 1);
    expect(maintenance.totals).toMatchObject({ failures: 0 });
    expect(maintenance.totals.vacuums).toBeGreaterThanOrEqual(1);
  });

  it('leaves tables alone below the threshold', async () => {
    const maintenance = new DatabaseMaintenance(database, logger, { minimumIntervalMs: 0 });
    await churnJobs(100, 1);
    await maintenance.runIfDue();
    const before = await jobsTableStatistics();
    // 20 dead rows: below 50 + 20% of the table
    await database.db.updateTable('jobs').set({ attempts: 7 }).where('kind', '=', 'test.churn').where(sql<boolean>`(payload->>'index')::int < 20`).execute();

    const run = await maintenance.runIfDue();

    expect(run.checked).toBe(true);
    expect(run.vacuumed).not.toContain('jobs');
    const after = await jobsTableStatistics();
    expect(after.vacuumCount).toBe(before.vacuumCount);
  });

  it('checks at most once per minimum interval', async () => {
    let now = 0;
    const maintenance = new DatabaseMaintenance(database, logger, { minimumIntervalMs: 60_000, now: () => now });
    expect((await maintenance.runIfDue()).checked).toBe(true);
    await churnJobs(200, 3);
    now = 59_000;
    expect(await maintenance.runIfDue()).toMatchObject({ checked: false, vacuumed: [] });
    expect((await jobsTableStatistics()).deadRows).toBeGreaterThan(300);
    now = 61_000;
    expect((await maintenance.runIfDue()).vacuumed).toContain('jobs');
  });

  it('waits for a transaction in progress instead of running inside it', async () => {
    const maintenance = new DatabaseMaintenance(database, logger, { minimumIntervalMs: 0 });
    await churnJobs(200, 3);
    let finished = false;
    let run: Promise<unknown> | undefined;
    await database.db.transaction().execute(async (trx) => {
      await trx.updateTable('jobs').set({ attempts: 9 }).where('kind', '=', 'test.churn').execute();
      run = maintenance.runIfDue().then((result) => {
        finished = true;
        return result;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      // the single connection is this transaction's: the check has not even read statistics yet
      expect(finished).toBe(false);
      await trx.updateTable('jobs').set({ attempts: 10 }).where('kind', '=', 'test.churn').execute();
    });
    // VACUUM inside a transaction would fail ("cannot run inside a transaction block"): counted as a failure
    expect(await run).toMatchObject({ checked: true, vacuumed: expect.arrayContaining(['jobs']) });
    expect(maintenance.totals.failures).toBe(0);
  });

  it('logs and carries on when the database cannot be reached', async () => {
    // a real driver pointed at a port nobody listens on, labelled embedded so the check runs
    const unreachable = await openDatabase({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/nothing', poolSize: 1 }, logger);
    try {
      const maintenance = new DatabaseMaintenance({ db: unreachable.db, backend: 'pglite' }, logger, { minimumIntervalMs: 0 });

      await expect(maintenance.runIfDue()).resolves.toMatchObject({ checked: true, vacuumed: [] });
      await expect(maintenance.runIfDue()).resolves.toMatchObject({ checked: true, vacuumed: [] });
      expect(maintenance.totals.failures).toBe(2);
    } finally {
      await unreachable.close();
    }
  });
});

describe.runIf(!onPglite)('database maintenance on PostgreSQL', () => {
  // Which branch runs depends on the server: CI's PostgreSQL here runs with autovacuum off.
  it('does nothing when autovacuum runs, and autovacuum\'s work when it is off', async () => {
    const setting = await sql<{ autovacuum: string }>`select current_setting('autovacuum') as autovacuum`.execute(database.db);
    const autovacuumOff = setting.rows[0].autovacuum === 'off';
    const maintenance = new DatabaseMaintenance(database, logger, { minimumIntervalMs: 0 });
    await maintenance.start();
    await churnJobs(200, 3);

    const run = await maintenance.runIfDue();

    await maintenance.stop();
    if (autovacuumOff) {
      expect(run).toMatchObject({ checked: true, vacuumed: expect.arrayContaining(['jobs']) });
      expect((await jobsTableStatistics()).lastVacuum).not.toBeNull();
    } else {
      expect(run).toEqual({ checked: false, vacuumed: [], analyzed: [], durationMs: 0 });
      expect(maintenance.totals.checks).toBe(0);
      // a manual VACUUM would set last_vacuum (autovacuum sets last_autovacuum)
      expect((await jobsTableStatistics()).lastVacuum).toBeNull();
    }
  });
});
