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

/**
 * Does several jobs of one kind in one transaction (one claim, one commit, one completion
 * update), for kinds that arrive in floods (report processing). When a batch fails, its jobs
 * are retried one by one, so a bad job fails alone and the others still commit.
 */
export type BatchJobHandler = (jobs: Job[], trx: Transaction<Database>) => Promise<void>;

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
  /**
   * Requests per second arriving at this process's HTTP side. While they arrive faster than
   * processing could take them (at least `floodRequestsPerSecond`, default 500, and more than twice
   * the rate the last batch was processed at), HTTP counts as flooded: a batch then starts only
   * `yieldIntervalMs` (default 500), or twice as long as the last batch took if that is longer,
   * after the last one ended. Under a flood processing gets at most a third of the time, the
   * reports are answered first and processed as soon as it eases (the queue is durable, the 202 is
   * what the sender waits for). Never longer: processing goes on, slower, however long the flood
   * lasts. Below that rate processing never yields: it can keep up, so it should.
   */
  httpRequestsPerSecond?: () => number;
  floodRequestsPerSecond?: number;
  yieldIntervalMs?: number;
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
  private readonly batchHandlers = new Map<string, { handler: BatchJobHandler; maxBatch: number; inFlight: boolean }>();
  private readonly workerId = `${process.pid}:${randomUUID().slice(0, 8)}`;
  private running = false;
  /** Single jobs in flight; `concurrency` bounds these. Each batch kind runs one batch at a time on top. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Ids of the jobs this worker is running now: the leases it renews. */
  private readonly runningIds = new Set<string>();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly batchesInFlight = new Set<Promise<void>>();
  private wakeUp: (() => void) | undefined;
  private poked = false;
  private lastBatchEndedAt = 0;
  private lastBatchDurationMs = 0;
  /** Jobs per second of the last batch while it ran: what processing can take. */
  private lastBatchJobsPerSecond = 0;
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

  /**
   * Registers a kind whose jobs are done up to `maxBatch` at a time in one transaction. One batch
   * of a kind runs at a time per process: such kinds (report processing) write the same few rows
   * (counters, index statistics), so parallel batches would only wait for each other's locks.
   */
  registerBatch(kind: string, handler: BatchJobHandler, options: { maxBatch: number }): this {
    this.batchHandlers.set(kind, { handler, maxBatch: Math.max(1, options.maxBatch), inFlight: false });
    this.handlers.set(kind, (job, trx) => handler([job], trx));
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

  /**
   * Ask the loop to look now rather than at the next interval (after an enqueue in this process).
   * A poke for a batch kind whose batch is running is dropped: that batch pokes when it ends and
   * the next claim takes everything that arrived meanwhile (so a flood costs one claim per batch).
   */
  poke(kind?: string): void {
    if (kind !== undefined && this.batchHandlers.has(kind) && (this.batchHandlers.get(kind)!.inFlight || this.yieldingToHttp())) return;
    this.poked = true;
    this.wakeUp?.();
  }

  /** Stops claiming new jobs and waits for those in flight to finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.poke();
    await this.loop;
    await Promise.allSettled([...this.inFlight, ...this.batchesInFlight]);
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
      const { singles, batches } = await this.claim(Math.max(1, this.options.concurrency), [...this.batchHandlers.keys()]);
      if (singles.length === 0 && batches.length === 0) return total;
      await Promise.all([...singles.map((job) => this.execute(job)), ...batches.map((batch) => this.executeBatch(batch))]);
      total += singles.length + batches.reduce((sum, batch) => sum + batch.length, 0);
    }
  }

  private async pollLoop(): Promise<void> {
    let lastReclaim = Date.now();
    while (this.running) {
      const free = this.options.concurrency - this.inFlight.size;
      const idleBatchKinds = this.yieldingToHttp() ? [] : [...this.batchHandlers].filter(([, entry]) => !entry.inFlight).map(([kind]) => kind);
      if (free > 0 || idleBatchKinds.length > 0) {
        try {
          const { singles, batches } = await this.claim(Math.max(0, free), idleBatchKinds);
          for (const job of singles) this.track(this.inFlight, this.execute(job));
          for (const batch of batches) {
            const entry = this.batchHandlers.get(batch[0].kind)!;
            entry.inFlight = true;
            const startedAt = Date.now();
            this.track(
              this.batchesInFlight,
              this.executeBatch(batch).finally(() => {
                entry.inFlight = false;
                this.lastBatchEndedAt = Date.now();
                this.lastBatchDurationMs = this.lastBatchEndedAt - startedAt;
                this.lastBatchJobsPerSecond = batch.length / Math.max(0.001, this.lastBatchDurationMs / 1000);
              }),
            );
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
      // Wait for the interval or a poke: an enqueue in this process, or a finished job (room again).
      await this.sleep(this.options.pollIntervalMs);
    }
  }

  private yieldingToHttp(): boolean {
    const pauseMs = Math.max(this.options.yieldIntervalMs ?? 500, 2 * this.lastBatchDurationMs);
    if (Date.now() - this.lastBatchEndedAt >= pauseMs || !this.options.httpRequestsPerSecond) return false;
    const floodRate = Math.max(this.options.floodRequestsPerSecond ?? 500, 2 * this.lastBatchJobsPerSecond);
    return this.options.httpRequestsPerSecond() >= floodRate;
  }

  private track(set: Set<Promise<void>>, work: Promise<void>): void {
    const task = work.finally(() => {
      set.delete(task);
      this.poke();
    });
    set.add(task);
  }

  private sleep(ms: number): Promise<void> {
    // A poke that came while we were busy (a job finished during the claim) means: look again now.
    if (this.poked) {
      this.poked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const wake = () => {
        this.poked = false;
        done();
      };
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = wake;
    });
  }

  /**
   * Claims up to `singleLimit` ready jobs of the single kinds and, for each batch kind named, up
   * to its batch size, in one statement (`FOR UPDATE SKIP LOCKED`, so no job goes to two workers).
   */
  private async claim(singleLimit: number, batchKinds: readonly string[]): Promise<{ singles: Job[]; batches: Job[][] }> {
    const singleKinds = [...this.handlers.keys()].filter((kind) => !this.batchHandlers.has(kind));
    const parts = [];
    if (singleLimit > 0 && singleKinds.length > 0) parts.push({ kinds: singleKinds, limit: singleLimit });
    for (const kind of batchKinds) parts.push({ kinds: [kind], limit: this.batchHandlers.get(kind)!.maxBatch });
    if (parts.length === 0) return { singles: [], batches: [] };
    const ready = parts.map(
      ({ kinds, limit }, index) => sql`${sql.id(`ready_${index}`)} as (
        select id from jobs where state = 'pending' and run_at <= now() and kind = any(${kinds}::text[])
        order by run_at, id limit ${limit} for update skip locked)`,
    );
    const union = sql.join(parts.map((_, index) => sql`select id from ${sql.id(`ready_${index}`)}`), sql` union all `);
    const result = await sql<Job>`
      with ${sql.join(ready)}
      update jobs set state = 'running', locked_at = now(), locked_by = ${this.workerId}, attempts = attempts + 1,
        total_attempts = total_attempts + 1
      where id in (${union})
      returning *
    `.execute(this.db);
    const jobs = result.rows.sort((a, b) => Number(a.id) - Number(b.id));
    const singles = jobs.filter((job) => !this.batchHandlers.has(job.kind));
    const batches = batchKinds.map((kind) => jobs.filter((job) => job.kind === kind)).filter((batch) => batch.length > 0);
    return { singles, batches };
  }

  /** One transaction for the whole batch; if it fails, each job on its own (and fails alone). */
  private async executeBatch(jobs: Job[]): Promise<void> {
    if (jobs.length === 1) return this.execute(jobs[0]);
    const { handler } = this.batchHandlers.get(jobs[0].kind)!;
    const ids = jobs.map((job) => String(job.id));
    for (const id of ids) this.runningIds.add(id);
    try {
      await this.db.transaction().execute(async (trx) => {
        await handler(jobs, trx);
        await this.complete(trx, jobs);
      });
    } catch (error) {
      // A failed batch (one bad report, or one job whose lease another worker took) is redone job
      // by job, so each fails or is skipped alone.
      this.logger.debug({ err: error, jobKind: jobs[0].kind, jobs: jobs.length }, 'batch failed; running its jobs one by one');
      for (const job of jobs) await this.execute(job);
    } finally {
      // execute() tracks each job itself while it runs it alone.
      for (const id of ids) this.runningIds.delete(id);
    }
  }

  /** Marks jobs done in the handler's transaction; our lease on each must still hold. */
  private async complete(trx: Transaction<Database>, jobs: readonly Job[]): Promise<void> {
    const finished = await trx
      .updateTable('jobs')
      .set({ state: 'done', finishedAt: sql`now()`, lockedAt: null, lastError: null }) // locked_by stays: who did it
      .where('id', 'in', jobs.map((job) => job.id))
      .where('lockedBy', '=', this.workerId)
      .executeTakeFirst();
    // Our lease expired and another worker took the job: roll our work back, theirs counts.
    if (Number(finished.numUpdatedRows) !== jobs.length) {
      throw new LeaseLostError(`job ${jobs.map((job) => job.id).join(', ')} was reclaimed by another worker`);
    }
  }

  private async execute(job: Job): Promise<void> {
    const handler = this.handlers.get(job.kind)!;
    const log = this.logger.child({ jobId: job.id, jobKind: job.kind, attempt: job.attempts });
    this.runningIds.add(String(job.id));
    try {
      await this.db.transaction().execute(async (trx) => {
        await handler(job, trx);
        await this.complete(trx, [job]);
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
