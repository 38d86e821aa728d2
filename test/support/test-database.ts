import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../server/db/database';
import { createLogger } from '../../server/logger';
import { withDatabase } from './global-setup';

/**
 * A freshly migrated database of its own for one test file: the real migrations on the real
 * engine (PGlite by default, PostgreSQL when DATABASE_URL is set). Close it in afterAll.
 */
export async function createTestDatabase(): Promise<DatabaseHandle> {
  const setup = inject('testDatabase');
  const logger = createLogger('silent');
  if (setup.kind === 'pglite') {
    const dump = new Blob([readFileSync(setup.dumpFile)]);
    return openDatabase({ kind: 'pglite', dataDirectory: 'memory', loadDataDirectory: dump }, logger);
  }
  const name = `bugloop_t${process.ppid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: setup.url });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${setup.template}`);
  } finally {
    await admin.end();
  }
  const handle = await openDatabase({ kind: 'postgres', url: withDatabase(setup.url, name), poolSize: 5 }, logger);
  return {
    ...handle,
    async close() {
      await handle.close();
      const cleanup = new pg.Client({ connectionString: setup.url });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

/**
 * For tests that run the `bugloop` binary in child processes: on PostgreSQL, an empty database
 * of their own (the binary must migrate it itself) with its URL and a drop function; on PGlite,
 * undefined (the child uses its own data folder).
 */
export async function createEmptyPostgresDatabase(label: string): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const setup = inject('testDatabase');
  if (setup.kind !== 'postgres') return undefined;
  const name = `bugloop_t${process.ppid}_${label}_${randomBytes(3).toString('hex')}`;
  const run = async (statement: string) => {
    const admin = new pg.Client({ connectionString: setup.url });
    await admin.connect();
    try {
      await admin.query(statement);
    } finally {
      await admin.end();
    }
  };
  await run(`create database ${name}`);
  return { url: withDatabase(setup.url, name), drop: () => run(`drop database if exists ${name} with (force)`) };
}
