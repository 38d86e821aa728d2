import { randomUUID } from 'node:crypto';
import { type Kysely, type Transaction, sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database, Job } from '../db/schema';
import { isDatabaseConnectionError } from '../db/database-errors';

type Executor = Kysely<Database> | Transaction<Database>;

/** What a caller asks for; written in the caller's transaction so the work is never lost. */
export interface JobRequest {
  kind: string;
  payload?: Record<string, unknown>;
  projectId?: string | null;
  /** A second enqueue with the same key is a no-op: the job exists once. */
  idempotencyKey?: string;
  runAt?: Date;
  maxAttempts?: number;
}

/**
 * Writes a job. Pass the transaction that makes the change causing it (the outbox pattern):
 * either both commit or neither does.
 */
export async function enqueueJob(db: Executor, request: JobRequest): Promise<void> {
  await db
    .insertInto('jobs')
    .values({
      kind: request.kind,
      payload: JSON.stringify(request.payload ?? {}),
      projectId: request.projectId ?? null,
      idempotencyKey: request.idempotencyKey ?? null,
      runAt: request.runAt ?? new Date(),
      ...(request.maxAttempts ? { maxAttempts: request.maxAttempts } : {}),
    })
    .onConflict((conflict) => conflict.column('idempotencyKey').doNothing())
    .execute();
}

/** Thrown by a handler to retry after a given delay (e.g. a 429 with Retry-After). */
export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
  constructor(message: string, readonly delayMs: number) {
    super(message);
  }
}

class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/** Thrown by a handler when retrying cannot help (bad configuration, a 4xx that will not change). */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

/**
 * Does one job. It receives a transaction: database work done through it commits together
 * with the job's completion, so a crash in between redoes both, never half.
 */
export type JobHandler = (job: Job, trx: Transaction<Database>) => Promise<void>;

export interface JobWorkerOptions {
  concurrency: number;
  pollIntervalMs: number;
  /**
   * A running job whose lease was not renewed for this long is presumed orphaned by a crashed
   * process and retried. Live workers renew the leases of their jobs every third of it, so a slow
   * job is never taken over while its worker still runs it.
   */
  leaseMs?: number;
  /** Delay before retry n (1-based); exponential with full jitter by default. */
  backoffMs?: (attempt: number) => number;
}

export function exponentialBackoffWithJitter(attempt: number, baseMs = 1000, capMs = 10 * 60_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/**
 * Polls the jobs table with `FOR UPDATE SKIP LOCKED`, so any number of server processes can
 * share the work and no job is claimed twice. Handlers are registered by kind.
 */
export class JobWorker {
  private readonly handlers = new Map<string, JobHandler>();
  private readonly workerId = `${process.pid}:${randomUUID().slice(0, 8)}`;
  private running = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** Ids of the jobs this worker is running now: the leases it renews. */
  private readonly runningIds = new Set<string>();
  private heartbeat: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly options: JobWorkerOptions,
  ) {}

  register(kind: string, handler: JobHandler): this {
    this.handlers.set(kind, handler);
    return this;
  }

  /** Starts polling. With `recoverAllRunning`, every running job is reclaimed at once (single-process PGlite). */
  async start({ recoverAllRunning = false } = {}): Promise<void> {
    if (this.running || this.options.concurrency === 0) return;
    this.running = true;
    await this.reclaimOrphans(recoverAllRunning ? 0 : this.leaseMs);
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.heartbeat.unref();
    this.loop = this.pollLoop();
  }

  private get leaseMs(): number {
    return this.options.leaseMs ?? 5 * 60_000;
  }

  /** Ask the loop to look now rather than at the next interval (after an enqueue in this process). */
  poke(): void {
    this.wakeUp?.();
  }

  /** Stops claiming new jobs and waits for those in flight to finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.poke();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
    clearInterval(this.heartbeat);
  }

  /**
   * Renews the leases of the jobs this worker is running. Without it, a job slower than the lease
   * (a tracker taking its time) would be taken over by another process while this one still runs
   * it, and its remote effect would happen twice; found by test/faults/two-servers.test.ts.
   */
  private async renewLeases(): Promise<void> {
    if (this.runningIds.size === 0) return;
    try {
      await this.db
        .updateTable('jobs')
        .set({ lockedAt: sql`now()` })
        .where('id', 'in', [...this.runningIds] as never[])
        .where('lockedBy', '=', this.workerId)
        .where('state', '=', 'running')
        .execute();
    } catch (error) {
      // The database is away; the jobs' own transactions fail too, and are retried.
      this.logger.debug({ err: error }, 'could not renew job leases');
    }
  }

  /** Runs ready jobs until none is left; for tests, benchmarks and the CLI. Returns how many ran. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const jobs = await this.claim(Math.max(1, this.options.concurrency));
      if (jobs.length === 0) return total;
      await Promise.all(jobs.map((job) => this.execute(job)));
      total += jobs.length;
    }
  }

  private async pollLoop(): Promise<void> {
    let lastReclaim = Date.now();
    while (this.running) {
      const free = this.options.concurrency - this.inFlight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          const jobs = await this.claim(free);
          claimed = jobs.length;
          for (const job of jobs) {
            const task = this.execute(job).finally(() => {
              this.inFlight.delete(task);
              this.poke();
            });
            this.inFlight.add(task);
          }
          // Look for orphans about once per lease (at most every 30 s), so a killed process's
          // jobs are taken over soon after their lease runs out.
          if (Date.now() - lastReclaim > Math.min(30_000, this.leaseMs)) {
            lastReclaim = Date.now();
            await this.reclaimOrphans(this.leaseMs);
          }
        } catch (error) {
          this.logger.warn({ err: error }, 'job polling failed; retrying');
        }
      }
      if (claimed === 0 || free <= claimed) await this.sleep(this.options.pollIntervalMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private async claim(limit: number): Promise<Job[]> {
    const kinds = [...this.handlers.keys()];
    if (kinds.length === 0) return [];
    return this.db
      .updateTable('jobs')
      .set({ state: 'running', lockedAt: sql`now()`, lockedBy: this.workerId, attempts: sql`attempts + 1`, totalAttempts: sql`total_attempts + 1` })
      .where('id', 'in', (query) =>
        query
          .selectFrom('jobs')
          .select('id')
          .where('state', '=', 'pending')
          .where('runAt', '<=', sql<Date>`now()`)
          .where('kind', 'in', kinds)
          .orderBy('runAt')
          .orderBy('id')
          .limit(limit)
          .forUpdate()
          .skipLocked(),
      )
      .returningAll()
      .execute();
  }

  private async execute(job: Job): Promise<void> {
    const handler = this.handlers.get(job.kind)!;
    const log = this.logger.child({ jobId: job.id, jobKind: job.kind, attempt: job.attempts });
    this.runningIds.add(String(job.id));
    try {
      await this.db.transaction().execute(async (trx) => {
        await handler(job, trx);
        const finished = await trx
          .updateTable('jobs')
          .set({ state: 'done', finishedAt: sql`now()`, lockedAt: null, lastError: null }) // locked_by stays: who did it
          .where('id', '=', job.id)
          .where('lockedBy', '=', this.workerId)
          .executeTakeFirst();
        // Our lease expired and another worker took the job: roll our work back, theirs counts.
        if (Number(finished.numUpdatedRows) !== 1) throw new LeaseLostError(`job ${job.id} was reclaimed by another worker`);
      });
    } catch (error) {
      if (error instanceof LeaseLostError) {
        log.warn(error.message);
        return;
      }
      const message = (error as Error)?.message ?? String(error);
      const permanent = error instanceof PermanentJobError;
      // A database outage is not the job's fault: it does not use up the job's attempts, so a
      // long outage cannot send report processing to the dead-letter list.
      const outage = isDatabaseConnectionError(error);
      const exhausted = !outage && job.attempts >= job.maxAttempts;
      const delayMs = error instanceof RetryLaterError ? error.delayMs : (this.options.backoffMs ?? exponentialBackoffWithJitter)(job.attempts);
      if (permanent || exhausted) log.error({ err: error }, 'job failed for good; kept in the dead-letter list');
      else log.warn({ err: error, retryInMs: delayMs }, 'job failed; will retry');
      try {
        await this.db
          .updateTable('jobs')
          .set({
            state: permanent || exhausted ? 'dead' : 'pending',
            ...(outage ? { attempts: sql<number>`greatest(attempts - 1, 0)` } : {}),
            runAt: new Date(Date.now() + delayMs),
            lastError: message.slice(0, 2000),
            lockedAt: null,
            lockedBy: null,
            finishedAt: permanent || exhausted ? sql`now()` : null,
          })
          .where('id', '=', job.id)
          .where('lockedBy', '=', this.workerId)
          .execute();
      } catch (updateError) {
        // The lease expires and another worker retries it; nothing is lost.
        log.warn({ err: updateError }, 'could not record job failure');
      }
    } finally {
      this.runningIds.delete(String(job.id));
    }
  }

  private async reclaimOrphans(leaseMs: number): Promise<void> {
    const result = await this.db
      .updateTable('jobs')
      .set({ state: 'pending', lockedAt: null, lockedBy: null })
      .where('state', '=', 'running')
      .where('lockedAt', '<=', new Date(Date.now() - leaseMs))
      .executeTakeFirst();
    const count = Number(result.numUpdatedRows);
    if (count > 0) this.logger.info(`reclaimed ${count} job(s) left running by a stopped process`);
  }
}
