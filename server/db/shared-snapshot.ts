import { type Kysely, type Transaction, sql } from 'kysely';
import type { Database } from './schema';

/**
 * Runs several read-only statements at once, each on its own pooled connection, all reading one
 * snapshot of the data: the first transaction exports its snapshot (`pg_export_snapshot()`) and
 * the others import it (`set transaction snapshot`) before their first query, all REPEATABLE
 * READ READ ONLY. So their figures agree exactly as if they were parts of one statement, and an
 * answer made of several parts costs the time of the slowest part instead of their sum.
 *
 * PostgreSQL only: PGlite has one connection. The first transaction has to stay open until every
 * other one has imported its snapshot, so a run holds all its connections at once; a run that
 * would take more than `connectionBudget` connections (counting the runs in progress) is refused
 * (`run` answers null) rather than queued, so runs can never wait on each other for the pool's
 * last connections, and the caller falls back to one statement on one connection.
 */
export class SharedSnapshotReader {
  private connectionsInUse = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly connectionBudget: number,
  ) {}

  /**
   * Runs each of `parts` in a transaction of its own, all at once and on one snapshot, and
   * answers their results in order; null (nothing run) when the connection budget is spent.
   * A part must only read (the transactions are READ ONLY).
   */
  async run<Results extends unknown[]>(parts: { [Index in keyof Results]: (trx: Transaction<Database>) => Promise<Results[Index]> }): Promise<Results | null> {
    const works = parts as readonly ((trx: Transaction<Database>) => Promise<unknown>)[];
    if (works.length === 0) return [] as unknown as Results;
    if (this.connectionsInUse + works.length > this.connectionBudget) return null;
    this.connectionsInUse += works.length;
    try {
      return await this.readOnly(async (first) => {
        const exported = await sql<{ snapshot: string }>`select pg_export_snapshot() as snapshot`.execute(first);
        const snapshot = exported.rows[0].snapshot;
        // the id is made by the server (hex groups and dashes); checked because SET takes no parameter
        if (!/^[0-9A-F-]+$/i.test(snapshot)) throw new Error(`unexpected snapshot id ${snapshot}`);
        const others = works.slice(1).map((work) =>
          this.readOnly(async (trx) => {
            await sql`set transaction snapshot ${sql.lit(snapshot)}`.execute(trx);
            return work(trx);
          }),
        );
        // the exporting transaction commits only after every import (they all finish first)
        const settled = await Promise.allSettled([works[0](first), ...others]);
        const failed = settled.find((outcome) => outcome.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
        return settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as Results;
      });
    } finally {
      this.connectionsInUse -= works.length;
    }
  }

  private readOnly<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(work);
  }
}
