import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { createLogger } from '../../server/logger';
import { enqueueJob, JobWorker, PermanentJobError, RetryLaterError } from '../../server/outbox/job-queue';
import { createTestDatabase } from '../support/test-database';

let database: DatabaseHandle;
const logger = createLogger('silent');
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());
beforeEach(async () => {
  await database.db.deleteFrom('jobs').execute();
});

const worker = (options: Partial<ConstructorParameters<typeof JobWorker>[2]> = {}) =>
  new JobWorker(database.db, logger, { concurrency: 4, pollIntervalMs: 20, backoffMs: () => 0, ...options });

describe('job queue', () => {
  it('stores a job once per idempotency key', async () => {
    await enqueueJob(database.db, { kind: 'test.echo', idempotencyKey: 'same' });
    await enqueueJob(database.db, { kind: 'test.echo', idempotencyKey: 'same' });
    const rows = await database.db.selectFrom('jobs').selectAll().execute();
    expect(rows).toHaveLength(1);
  });

  it('commits handler writes together with job completion', async () => {
    await enqueueJob(database.db, { kind: 'test.audit', payload: { action: 'hello' } });
    const ran = await worker()
      .register('test.audit', async (job, trx) => {
        await trx.insertInto('auditLog').values({ action: String(job.payload.action) }).execute();
      })
      .drain();
    expect(ran).toBe(1);
    const job = await database.db.selectFrom('jobs').selectAll().executeTakeFirstOrThrow();
    expect(job.state).toBe('done');
    expect(await database.db.selectFrom('auditLog').select('action').where('action', '=', 'hello').execute()).toHaveLength(1);
  });

  it('rolls back handler writes when the handler fails, and retries', async () => {
    await enqueueJob(database.db, { kind: 'test.flaky' });
    let calls = 0;
    const queue = worker().register('test.flaky', async (_job, trx) => {
      calls += 1;
      await trx.insertInto('auditLog').values({ action: `attempt-${calls}` }).execute();
      if (calls < 3) throw new Error('remote said 500');
    });
    await queue.drain();
    expect(calls).toBe(3);
    const actions = (await database.db.selectFrom('auditLog').select('action').where('action', 'like', 'attempt-%').execute()).map((row) => row.action);
    expect(actions).toEqual(['attempt-3']);
    const job = await database.db.selectFrom('jobs').selectAll().executeTakeFirstOrThrow();
    expect(job).toMatchObject({ state: 'done', attempts: 3 });
  });

  it('moves a job to the dead-letter state after its last attempt, keeping the error', async () => {
    await enqueueJob(database.db, { kind: 'test.down', maxAttempts: 2 });
    await worker().register('test.down', async () => {
      throw new Error('tracker is down');
    }).drain();
    const job = await database.db.selectFrom('jobs').selectAll().executeTakeFirstOrThrow();
    expect(job).toMatchObject({ state: 'dead', attempts: 2, lastError: 'tracker is down' });
  });

  it('stops at once on a permanent error', async () => {
    await enqueueJob(database.db, { kind: 'test.bad-config' });
    await worker().register('test.bad-config', async () => {
      throw new PermanentJobError('project key does not exist');
    }).drain();
    expect(await database.db.selectFrom('jobs').selectAll().executeTakeFirstOrThrow()).toMatchObject({ state: 'dead', attempts: 1 });
  });

  it('honours a requested retry delay', async () => {
    await enqueueJob(database.db, { kind: 'test.rate-limited' });
    const before = Date.now();
    await worker().register('test.rate-limited', async () => {
      throw new RetryLaterError('429', 60_000);
    }).drain();
    const job = await database.db.selectFrom('jobs').selectAll().executeTakeFirstOrThrow();
    expect(job.state).toBe('pending');
    expect(job.runAt.getTime()).toBeGreaterThanOrEqual(before + 59_000);
  });

  it('never gives one job to two workers polling at once', async () => {
    for (let index = 0; index < 60; index += 1) await enqueueJob(database.db, { kind: 'test.count', payload: { index } });
    const seen: number[] = [];
    const handler = async (job: { payload: Record<string, unknown> }) => {
      seen.push(job.payload.index as number);
      await new Promise((resolve) => setTimeout(resolve, 2));
    };
    const first = worker().register('test.count', handler);
    const second = worker().register('test.count', handler);
    await Promise.all([first.drain(), second.drain()]);
    expect(seen).toHaveLength(60);
    expect(new Set(seen).size).toBe(60);
  });

  it('reclaims jobs orphaned in the running state by a crashed process', async () => {
    await enqueueJob(database.db, { kind: 'test.orphan' });
    await database.db.updateTable('jobs').set({ state: 'running', lockedAt: new Date(Date.now() - 10 * 60_000), lockedBy: 'dead-process' }).execute();
    let ran = 0;
    const queue = worker({ leaseMs: 60_000 }).register('test.orphan', async () => {
      ran += 1;
    });
    await queue.start();
    await expect.poll(() => ran, { timeout: 5000 }).toBe(1);
    await queue.stop();
  });

  // Needs two connections at once; PGlite has one, so two jobs can never overlap there anyway.
  it.skipIf(inject('testDatabase').kind === 'pglite')('rolls back a worker whose lease expired while another worker finished the job', async () => {
    await enqueueJob(database.db, { kind: 'test.slow' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = worker().register('test.slow', async (_job, trx) => {
      await trx.insertInto('auditLog').values({ action: 'slow-worker' }).execute();
      await gate;
    });
    const slowRun = slow.drain();
    await expect.poll(async () => (await database.db.selectFrom('jobs').select('state').executeTakeFirstOrThrow()).state).toBe('running');
    // The slow worker's process is presumed dead: its lease is reclaimed and a second worker finishes.
    await database.db.updateTable('jobs').set({ state: 'pending', lockedBy: null, lockedAt: null }).execute();
    await worker().register('test.slow', async (_job, trx) => {
      await trx.insertInto('auditLog').values({ action: 'fast-worker' }).execute();
    }).drain();
    release();
    await slowRun;
    const actions = (await database.db.selectFrom('auditLog').select('action').where('action', 'like', '%-worker').execute()).map((row) => row.action);
    expect(actions).toEqual(['fast-worker']);
    expect(await database.db.selectFrom('jobs').selectAll().executeTakeFirstOrThrow()).toMatchObject({ state: 'done' });
  });
  it('does a batch kind in one transaction: all its jobs commit together', async () => {
    for (let index = 0; index < 7; index += 1) await enqueueJob(database.db, { kind: 'test.batch', payload: { index } });
    const batches: number[][] = [];
    const ran = await worker()
      .registerBatch(
        'test.batch',
        async (jobs, trx) => {
          batches.push(jobs.map((job) => job.payload.index as number));
          for (const job of jobs) await trx.insertInto('auditLog').values({ action: `batch-${job.payload.index}` }).execute();
        },
        { maxBatch: 5 },
      )
      .drain();
    expect(ran).toBe(7);
    expect(batches).toEqual([[0, 1, 2, 3, 4], [5, 6]]);
    const states = await database.db.selectFrom('jobs').select('state').where('kind', '=', 'test.batch').execute();
    expect(states.every((row) => row.state === 'done')).toBe(true);
    expect(await database.db.selectFrom('auditLog').select('action').where('action', 'like', 'batch-%').execute()).toHaveLength(7);
  });

  it('retries the jobs of a failed batch one by one, so only the bad job fails', async () => {
    for (let index = 0; index < 4; index += 1) await enqueueJob(database.db, { kind: 'test.batch-bad', payload: { index }, maxAttempts: 1 });
    const calls: number[] = [];
    await worker()
      .registerBatch(
        'test.batch-bad',
        async (jobs, trx) => {
          calls.push(jobs.length);
          for (const job of jobs) {
            await trx.insertInto('auditLog').values({ action: `bad-batch-${job.payload.index}` }).execute();
            if (job.payload.index === 2) throw new Error('report 2 is broken');
          }
        },
        { maxBatch: 10 },
      )
      .drain();
    expect(calls).toEqual([4, 1, 1, 1, 1]);
    const jobs = await database.db.selectFrom('jobs').select(['state', 'payload', 'lastError']).where('kind', '=', 'test.batch-bad').orderBy('id').execute();
    expect(jobs.map((job) => job.state)).toEqual(['done', 'done', 'dead', 'done']);
    expect(jobs[2].lastError).toBe('report 2 is broken');
    // The failed batch's writes were rolled back; each good job's own transaction committed.
    const actions = (await database.db.selectFrom('auditLog').select('action').where('action', 'like', 'bad-batch-%').execute()).map((row) => row.action).sort();
    expect(actions).toEqual(['bad-batch-0', 'bad-batch-1', 'bad-batch-3']);
  });

  it('claims batches and single jobs in the same poll, each kind to its own handler', async () => {
    for (let index = 0; index < 3; index += 1) await enqueueJob(database.db, { kind: 'test.flood', payload: { index } });
    await enqueueJob(database.db, { kind: 'test.single' });
    let batched = 0;
    let single = 0;
    const queue = worker()
      .registerBatch('test.flood', async (jobs) => {
        batched += jobs.length;
      }, { maxBatch: 50 })
      .register('test.single', async () => {
        single += 1;
      });
    await queue.start();
    await expect.poll(() => batched + single, { timeout: 5000 }).toBe(4);
    await queue.stop();
    expect({ batched, single }).toEqual({ batched: 3, single: 1 });
  });

  it('yields batches to a flood of HTTP requests, and not to a rate processing can keep up with', async () => {
    const run = async (requestsPerSecond: number) => {
      await database.db.deleteFrom('jobs').execute();
      for (let index = 0; index < 4; index += 1) await enqueueJob(database.db, { kind: 'test.flood', payload: { index } });
      let processed = 0;
      const queue = worker({ httpRequestsPerSecond: () => requestsPerSecond, yieldIntervalMs: 10_000 }).registerBatch('test.flood', async (jobs) => {
        processed += jobs.length;
      }, { maxBatch: 1 });
      await queue.start();
      return { queue, processed: () => processed };
    };
    // 200 requests/s is under the flood floor (500/s): one batch after another.
    const steady = await run(200);
    await expect.poll(steady.processed, { timeout: 5000 }).toBe(4);
    await steady.queue.stop();
    // 5,000 requests/s: after a batch, the next waits the yield interval.
    const flood = await run(5000);
    await expect.poll(flood.processed, { timeout: 5000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(flood.processed()).toBe(1);
    await flood.queue.stop();
  });
});
