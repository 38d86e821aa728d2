import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../server/db/database';
import { migrateToLatest } from '../../server/db/migrate';
import { createLogger } from '../../server/logger';

declare module 'vitest' {
  export interface ProvidedContext {
    /** PGlite: a dump of a migrated data directory. PostgreSQL: a migrated template database. */
    testDatabase: { kind: 'pglite'; dumpFile: string } | { kind: 'postgres'; url: string; template: string };
  }
}

/**
 * Migrates once per run; every test file then starts from a copy of that database
 * (PGlite: loadDataDir of a dump, about 1 s; PostgreSQL: CREATE DATABASE … TEMPLATE).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const logger = createLogger('silent');
  const url = process.env.DATABASE_URL;
  if (url) {
    const template = `bugloop_template_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`create database ${template}`);
    const templateUrl = withDatabase(url, template);
    const database = await openDatabase({ kind: 'postgres', url: templateUrl, poolSize: 2 }, logger);
    await migrateToLatest(database.db, logger);
    await database.close();
    project.provide('testDatabase', { kind: 'postgres', url, template });
    console.log(`[bugloop tests] backend: PostgreSQL (${new URL(url).host}), template database ${template}`);
    return async () => {
      // Drop the databases this run created (test files drop their own; this catches leftovers).
      const leftovers = await admin.query<{ datname: string }>(`select datname from pg_database where datname like $1`, [`bugloop_t${process.pid}_%`]);
      for (const row of leftovers.rows) await admin.query(`drop database if exists ${row.datname} with (force)`);
      await admin.query(`drop database if exists ${template} with (force)`);
      await admin.end();
    };
  }
  const folder = mkdtempSync(path.join(os.tmpdir(), 'bugloop-test-'));
  const database = await openDatabase({ kind: 'pglite', dataDirectory: 'memory' }, logger);
  await migrateToLatest(database.db, logger);
  const dump = await database.pglite!.dumpDataDir('none');
  await database.close();
  const dumpFile = path.join(folder, 'migrated.tar');
  writeFileSync(dumpFile, Buffer.from(await dump.arrayBuffer()));
  project.provide('testDatabase', { kind: 'pglite', dumpFile });
  console.log('[bugloop tests] backend: PGlite (embedded)');
  return async () => rmSync(folder, { recursive: true, force: true });
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
