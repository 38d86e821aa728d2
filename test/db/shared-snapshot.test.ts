import { type Transaction, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import type { Database } from '../../server/db/schema';
import { SharedSnapshotReader } from '../../server/db/shared-snapshot';
import { createProject } from '../../server/projects/project-service';
import { createTestDatabase } from '../support/test-database';

// SharedSnapshotReader on the real server: PostgreSQL only (PGlite has a single connection).
const onPostgres = process.env.DATABASE_URL !== undefined;

let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

describe.skipIf(!onPostgres)('SharedSnapshotReader', () => {
  it('runs every statement on its own connection, all on one snapshot, while others commit', async () => {
    const reader = new SharedSnapshotReader(database.db, 4);
    const projectId = (await createProject(database.db, { name: 'Snapshot', keyPrefix: 'SNAP' })).id;
    let writing = true;
    // commits all the time, so transactions that took their own snapshots would see different ones
    const writer = (async () => {
      for (let index = 0; writing; index += 1) {
        await database.db.insertInto('releases').values({ projectId, version: `0.0.${index}`, firstSeenAt: new Date() }).execute();
      }
    })();
    try {
      for (let attempt = 0; attempt < 5; attempt += 1) {
        // a pause in each transaction lets the writer commit between their starts
        const part = async (trx: Transaction<Database>) => {
          await sql`select pg_sleep(0.02)`.execute(trx);
          const { rows } = await sql<{ snapshot: string; backend: number; releases: number }>`
            select pg_current_snapshot()::text as snapshot, pg_backend_pid() as backend,
                   (select count(*)::int from releases where project_id = ${projectId}) as releases`.execute(trx);
          return rows[0];
        };
        const rows = await reader.run([part, part, part]);
        expect(rows).not.toBeNull();
        expect(new Set(rows!.map((row) => row.backend)).size).toBe(3);
        expect(new Set(rows!.map((row) => row.snapshot)).size).toBe(1);
        expect(new Set(rows!.map((row) => row.releases)).size).toBe(1);
      }
    } finally {
      writing = false;
      await writer;
    }
  });

  it('refuses a run that would take more connections than its budget, and gives them back after a run', async () => {
    const reader = new SharedSnapshotReader(database.db, 2);
    const one = async (trx: Transaction<Database>) => (await sql<{ one: number }>`select 1 as one`.execute(trx)).rows[0];
    expect(await reader.run([one, one, one])).toBeNull();
    expect(await reader.run([one, one])).toEqual([{ one: 1 }, { one: 1 }]);
    expect(await reader.run([one, one])).toEqual([{ one: 1 }, { one: 1 }]);
  });

  it('fails the whole run when one statement fails, and frees its connections', async () => {
    const reader = new SharedSnapshotReader(database.db, 2);
    const select = (expression: string) => async (trx: Transaction<Database>) => (await sql.raw<{ one: number }>(`select ${expression} as one`).execute(trx)).rows[0];
    await expect(reader.run([select('1'), select('1 / 0')])).rejects.toThrow(/division by zero/);
    expect(await reader.run([select('1'), select('2')])).toEqual([{ one: 1 }, { one: 2 }]);
  });
});
