import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CamelCasePlugin, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from './schema';
import { acquireDataDirectoryLock, type DataDirectoryLock } from './data-directory-lock';
import { PreparingClient } from './prepared-statements';

/** Where the data lives: an embedded PGlite folder (or memory), or a PostgreSQL server. */
export type DatabaseTarget =
  | { kind: 'pglite'; dataDirectory: string | 'memory'; loadDataDirectory?: Blob; lockOwner?: string }
  | { kind: 'postgres'; url: string; poolSize?: number };

/** Optional extensions found at start-up; features degrade when one is missing. */
export interface DatabaseCapabilities {
  trigram: boolean;
  vector: boolean;
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  backend: 'pglite' | 'postgres';
  capabilities: DatabaseCapabilities;
  /** How many connections can be in use at once: the pool's size (PGlite: 1). */
  connections: number;
  /**
   * No other session can change rows while one of ours runs a transaction: PGlite is one session
   * in one process. Bulk writers use it to skip per-row checks (test-run-import.ts).
   */
  soleSession: boolean;
  /** Resolves when `select 1` answers within `timeoutMs`; rejects otherwise. */
  ping(timeoutMs?: number): Promise<void>;
  /** The PGlite instance, for dumping a data directory (tests, backups); absent on PostgreSQL. */
  pglite?: import('@electric-sql/pglite').PGlite;
  close(): Promise<void>;
}

/**
 * Opens the database behind one Kysely instance. Both backends speak through node-postgres:
 * PostgreSQL through a `pg.Pool`, PGlite through its node-postgres adapter, so every query
 * runs through the same driver code on both.
 */
export async function openDatabase(target: DatabaseTarget, logger: Logger): Promise<DatabaseHandle> {
  return target.kind === 'pglite' ? openPglite(target, logger) : openPostgres(target, logger);
}

/** Chooses the target from configuration: PostgreSQL when DATABASE_URL is set, PGlite otherwise. */
export function databaseTargetFromConfig(config: {
  databaseUrl: string | undefined;
  dataDirectory: string;
  databasePoolSize: number;
}): DatabaseTarget {
  return config.databaseUrl
    ? { kind: 'postgres', url: config.databaseUrl, poolSize: config.databasePoolSize }
    : { kind: 'pglite', dataDirectory: path.join(config.dataDirectory, 'pglite') };
}

function createKysely(pool: pg.Pool): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [new CamelCasePlugin()] });
}

/**
 * PostgreSQL settings of the embedded database, measured with `npm run bench:junit` (100,000 test
 * cases), the dedup replay (3,000 reports) and the inbox benchmark (100,000 defects) on 2026-12-02,
 * on a 2-core machine at load average 3–6.
 *
 * PGlite allocates shared buffers inside its WebAssembly memory at start and touches all of it,
 * and that memory never shrinks: initdb's 128 MB made a bare PGlite grow its memory from the
 * 128 MB initial size to 189 MB and cost 359–401 MB RSS right after opening (the JUnit import then
 * peaked at 518–547 MB); with 32 MB the memory stays at its initial size through the whole import
 * (275–295 MB after opening, 420–453 MB peak; 64 MB: about 330 and 463–472 MB).
 * 16 MB made the inbox's filtered and searched page three times slower (p50 41 ms against 11 ms),
 * so that page's working set is between 16 and 32 MB at 100,000 defects; 32 MB answers it as fast
 * as 128 MB (p50 11.6 against 11.1–11.4 ms). The dedup replay took the same CPU time with 32, 64
 * and 128 MB, on disk (43.1, 41.5, 44.6 s) and in memory (42.4, 40.5, 42.7 s); its wall-clock
 * figures moved with the machine's load, not with the setting.
 * work_mem, maintenance_work_mem, temp_buffers and wal_buffers at a quarter of their defaults
 * saved about 6 MB of WebAssembly memory in the import: not worth slower sorts and vacuums.
 */
export const pgliteSettings: Readonly<Record<string, string>> = Object.freeze({
  shared_buffers: '32MB',
});

async function openPglite(target: Extract<DatabaseTarget, { kind: 'pglite' }>, logger: Logger): Promise<DatabaseHandle> {
  const [{ PGlite }, { vector }, { pg_trgm }, { createPgConfig }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-pgvector'),
    import('@electric-sql/pglite/contrib/pg_trgm'),
    import('@electric-sql/pglite/node-postgres'),
  ]);
  let lock: DataDirectoryLock | undefined;
  let dataDirectory: string | undefined;
  if (target.dataDirectory !== 'memory') {
    dataDirectory = path.resolve(target.dataDirectory);
    mkdirSync(path.dirname(dataDirectory), { recursive: true });
    // PGlite is single-process: a second process opening the same folder would corrupt it.
    lock = acquireDataDirectoryLock(dataDirectory, target.lockOwner ?? 'bugloop');
  }
  try {
    const pglite = await PGlite.create({
      dataDir: dataDirectory,
      loadDataDir: target.loadDataDirectory,
      extensions: { vector, pg_trgm },
      // Appended to PGlite's own start parameters: a later -c wins, and nothing is written to the
      // data folder's postgresql.conf (PGlite's `postgresqlconf` option would replace that whole
      // file, and with it the time zone, date style and text-search configuration initdb put there).
      startParams: [...PGlite.defaultStartParams, ...Object.entries(pgliteSettings).flatMap(([name, value]) => ['-c', `${name}=${value}`])],
    });
    await pglite.exec('create extension if not exists vector; create extension if not exists pg_trgm;');
    const pool = new pg.Pool(createPgConfig(pglite) as unknown as pg.PoolConfig);
    const db = createKysely(pool);
    return {
      db,
      backend: 'pglite',
      capabilities: { trigram: true, vector: true },
      connections: 1,
      soleSession: true,
      pglite,
      ping: (timeoutMs) => ping(db, timeoutMs),
      async close() {
        await db.destroy();
        await pglite.close();
        lock?.release();
      },
    };
  } catch (error) {
    lock?.release();
    throw error;
  }
}

async function openPostgres(target: Extract<DatabaseTarget, { kind: 'postgres' }>, logger: Logger): Promise<DatabaseHandle> {
  const pool = new pg.Pool({
    Client: PreparingClient,
    connectionString: target.url,
    max: target.poolSize ?? 10,
    // fail fast while the server is down, so requests answer 503 instead of hanging
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (server restart) must not crash the process.
  pool.on('error', (error) => logger.warn({ err: error }, 'idle database connection lost; it will be replaced'));
  // Neither must a client that is checked out: pg-pool listens for errors only while a client is
  // idle, and a client emitting 'error' with no listener throws. PostgreSQL restarting terminates
  // every connection ("57P01 terminating connection due to administrator command"), including
  // those holding a job's transaction; found by test/faults/database-restart.test.ts. The query
  // in flight still fails with the error, and the pool drops the broken client on release.
  pool.on('connect', (client) => {
    client.on('error', (error) => logger.warn({ err: error }, 'database connection lost while in use; the query fails and the connection is replaced'));
  });
  const db = createKysely(pool);
  const capabilities: DatabaseCapabilities = {
    trigram: await tryCreateExtension(db, 'pg_trgm', logger, 'fuzzy title matching uses full-text search only'),
    vector: await tryCreateExtension(db, 'vector', logger, 'embeddings are stored as real[] and compared in the application'),
  };
  return {
    db,
    backend: 'postgres',
    capabilities,
    connections: target.poolSize ?? 10,
    soleSession: false,
    ping: (timeoutMs) => ping(db, timeoutMs),
    close: () => db.destroy(),
  };
}

async function tryCreateExtension(db: Kysely<Database>, name: string, logger: Logger, fallback: string): Promise<boolean> {
  try {
    await sql`create extension if not exists ${sql.id(name)}`.execute(db);
    return true;
  } catch (error) {
    logger.warn(`PostgreSQL extension "${name}" is not available (${(error as Error).message}); ${fallback}.`);
    return false;
  }
}

async function ping(db: Kysely<Database>, timeoutMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql`select 1`.execute(db),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
