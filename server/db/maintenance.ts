import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import type { DatabaseHandle } from './database';
import type { Database } from './schema';

/**
 * Vacuums and analyzes the embedded database, which has no autovacuum: PGlite is PostgreSQL in a
 * single process with no background workers. Without it, every updated or deleted row stays as a
 * dead tuple and the visibility map is never set, so the dedup engine's index-only scans turn into
 * heap fetches and retrieval gets slower with every report (measured: ~8 ms CPU per report at
 * 3,000 reports, ~26 ms at 16,800; a vacuum at 6,000 took it from 12.1 to 8.5 ms).
 *
 * On PostgreSQL, autovacuum does this, and this class does nothing, unless the server runs with
 * `autovacuum = off` (seen on CI machines and on hand-tuned servers): then the same tables would
 * bloat the same way (the jobs table above all: every report inserts, claims and finishes a job),
 * so the class says so in the log and does autovacuum's work itself, with autovacuum's thresholds.
 * VACUUM on PostgreSQL takes no lock that blocks reads or writes.
 */

/**
 * When a table is due, with PostgreSQL's autovacuum defaults: dead rows above 50 + 20% of the
 * table (autovacuum_vacuum_threshold/scale_factor), rows inserted since the last vacuum above
 * 1000 + 20% (autovacuum_vacuum_insert_*: insert-only tables need a vacuum too, to set the
 * visibility map that index-only scans rely on), rows changed since the last analyze above
 * 50 + 10% (autovacuum_analyze_*).
 */
export const maintenanceThresholds = {
  vacuumBase: 50,
  vacuumScale: 0.2,
  insertBase: 1000,
  insertScale: 0.2,
  analyzeBase: 50,
  analyzeScale: 0.1,
} as const;

/** How often the server checks; a table is never vacuumed twice within this interval either. */
export const defaultMaintenanceIntervalMs = 60_000;

export interface MaintenanceOptions {
  /** Minimum time between two checks (and between two vacuums of one table). */
  minimumIntervalMs?: number;
  now?: () => number;
}

/** What one check did. */
export interface MaintenanceRun {
  /** `false` when skipped: PostgreSQL with autovacuum, too soon after the last check, or another check in progress. */
  checked: boolean;
  vacuumed: string[];
  analyzed: string[];
  durationMs: number;
}

/** Totals since the instance was created, for logs and the benchmark's honesty line. */
export interface MaintenanceTotals {
  checks: number;
  vacuums: number;
  analyzes: number;
  /** Wall time spent in VACUUM/ANALYZE statements (not in the checks' statistics query). */
  totalMs: number;
  /** Wall time of whole checks, statistics query included. */
  checkMs: number;
  /** The longest check: the embedded database's one connection is busy that long (requests and jobs wait). */
  longestCheckMs: number;
  failures: number;
}

interface TableActivity {
  table: string;
  rows: number;
  deadRows: number;
  insertedSinceVacuum: number;
  modifiedSinceAnalyze: number;
}

export class DatabaseMaintenance {
  readonly totals: MaintenanceTotals = { checks: 0, vacuums: 0, analyzes: 0, totalMs: 0, checkMs: 0, longestCheckMs: 0, failures: 0 };
  readonly #db: Kysely<Database>;
  readonly #backend: DatabaseHandle['backend'];
  readonly #logger: Logger;
  readonly #minimumIntervalMs: number;
  readonly #now: () => number;
  #lastCheckAt = Number.NEGATIVE_INFINITY;
  readonly #lastVacuumAt = new Map<string, number>();
  #running: Promise<MaintenanceRun> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** PGlite always; PostgreSQL when `start` found autovacuum off. */
  #active: boolean;

  constructor(database: Pick<DatabaseHandle, 'db' | 'backend'>, logger: Logger, options: MaintenanceOptions = {}) {
    this.#db = database.db;
    this.#backend = database.backend;
    this.#logger = logger;
    this.#minimumIntervalMs = options.minimumIntervalMs ?? defaultMaintenanceIntervalMs;
    this.#now = options.now ?? (() => performance.now());
    this.#active = database.backend === 'pglite';
  }

  /**
   * Checks every `minimumIntervalMs` until stop(). On PostgreSQL, first asks whether autovacuum
   * runs: if it does, only logs that maintenance is left to it.
   */
  async start(): Promise<void> {
    if (this.#backend !== 'pglite') {
      this.#active = await this.#autovacuumIsOff();
      if (!this.#active) {
        this.#logger.info('database maintenance is left to PostgreSQL autovacuum');
        return;
      }
      this.#logger.warn(
        'PostgreSQL runs with autovacuum = off; Bugloop vacuums and analyzes its own tables with autovacuum\'s default thresholds, checking every minute. Turn autovacuum on to leave this to PostgreSQL.',
      );
    }
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.runIfDue(), Math.max(1000, this.#minimumIntervalMs));
    this.#timer.unref();
  }

  /** Stops the timer and waits for a check in progress, so the database can be closed after. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /**
   * Vacuums (and analyzes) the tables past the thresholds. Never throws: a failure is logged and
   * the next check tries again. Each statement goes through the pool on its own, never inside a
   * transaction (VACUUM refuses to run in one); PGlite's pool has a single connection, so it waits
   * for a transaction in progress (a job's, a request's) to finish and never lands in the middle.
   */
  runIfDue(): Promise<MaintenanceRun> {
    const skipped: MaintenanceRun = { checked: false, vacuumed: [], analyzed: [], durationMs: 0 };
    if (!this.#active || this.#running) return Promise.resolve(skipped);
    if (this.#now() - this.#lastCheckAt < this.#minimumIntervalMs) return Promise.resolve(skipped);
    this.#lastCheckAt = this.#now();
    const began = performance.now();
    this.#running = this.#check().finally(() => {
      const elapsed = performance.now() - began;
      this.totals.checkMs += elapsed;
      this.totals.longestCheckMs = Math.max(this.totals.longestCheckMs, elapsed);
      this.#running = undefined;
    });
    return this.#running;
  }

  async #check(): Promise<MaintenanceRun> {
    const run: MaintenanceRun = { checked: true, vacuumed: [], analyzed: [], durationMs: 0 };
    this.totals.checks += 1;
    let tables: TableActivity[];
    try {
      tables = await this.#tableActivity();
    } catch (error) {
      this.totals.failures += 1;
      this.#logger.warn({ err: error }, 'database maintenance could not read table statistics; retrying at the next check');
      return run;
    }
    const t = maintenanceThresholds;
    for (const table of tables) {
      const vacuumDue =
        table.deadRows > t.vacuumBase + t.vacuumScale * table.rows ||
        table.insertedSinceVacuum > t.insertBase + t.insertScale * table.rows;
      const analyzeDue = table.modifiedSinceAnalyze > t.analyzeBase + t.analyzeScale * table.rows;
      const lastVacuum = this.#lastVacuumAt.get(table.table) ?? Number.NEGATIVE_INFINITY;
      if (!(vacuumDue || analyzeDue) || this.#now() - lastVacuum < this.#minimumIntervalMs) continue;
      const began = performance.now();
      try {
        if (vacuumDue) await sql`vacuum (analyze) ${sql.id(table.table)}`.execute(this.#db);
        else await sql`analyze ${sql.id(table.table)}`.execute(this.#db);
      } catch (error) {
        this.totals.failures += 1;
        this.#logger.warn({ err: error, table: table.table }, 'database maintenance failed on a table; retrying at the next check');
        continue;
      }
      const elapsed = performance.now() - began;
      this.#lastVacuumAt.set(table.table, this.#now());
      run.durationMs += elapsed;
      this.totals.totalMs += elapsed;
      if (vacuumDue) {
        run.vacuumed.push(table.table);
        this.totals.vacuums += 1;
      } else {
        run.analyzed.push(table.table);
        this.totals.analyzes += 1;
      }
    }
    if (run.vacuumed.length + run.analyzed.length > 0) {
      this.#logger.debug({ vacuumed: run.vacuumed, analyzed: run.analyzed, durationMs: Math.round(run.durationMs) }, 'database maintenance ran');
    }
    return run;
  }

  async #autovacuumIsOff(): Promise<boolean> {
    try {
      const result = await sql<{ autovacuum: string }>`select current_setting('autovacuum') as autovacuum`.execute(this.#db);
      return result.rows[0]?.autovacuum === 'off';
    } catch (error) {
      this.#logger.warn({ err: error }, 'could not read the autovacuum setting; leaving maintenance to PostgreSQL');
      return false;
    }
  }

  /** Changes per table since the last vacuum/analyze, from the cumulative statistics system. */
  async #tableActivity(): Promise<TableActivity[]> {
    // Statistics are flushed to the views at most once a second; this statement's end forces the
    // flush, so the next one sees the changes made up to now.
    await sql`select pg_stat_force_next_flush()`.execute(this.#db);
    // snake_case aliases: the CamelCasePlugin maps them to TableActivity's names
    const result = await sql<TableActivity>`
      select s.relname as "table",
             greatest(c.reltuples, 0)::float8 as "rows",
             s.n_dead_tup::float8 as dead_rows,
             s.n_ins_since_vacuum::float8 as inserted_since_vacuum,
             s.n_mod_since_analyze::float8 as modified_since_analyze
      from pg_stat_user_tables s join pg_class c on c.oid = s.relid
      where s.schemaname = current_schema()
      order by s.relname
    `.execute(this.#db);
    return result.rows;
  }
}
