import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { ageBuckets, ageBucketThresholds } from '../../server/metrics/metric-math';
import { ageBucketOf } from '../../server/metrics/metrics-service';
import { createTestDatabase } from '../support/test-database';

// Cheaper SQL the metrics use instead of the obvious expression, checked against it on the real
// engine for random instants (microsecond precision, as timestamptz stores them).

let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

const day = 86_400_000;
const asOfInstants = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true });
// ages around every threshold (exactly on it, a microsecond either side) and anywhere up to 200 days
const ages = fc.oneof(
  fc.tuple(fc.constantFrom(0, ...ageBucketThresholds), fc.integer({ min: -2, max: 2 })).map(([days, microseconds]) => ({ milliseconds: days * day, microseconds })),
  fc.record({ milliseconds: fc.integer({ min: 0, max: 200 * day }), microseconds: fc.integer({ min: 0, max: 999 }) }),
);

describe('the age bucket of an open defect', () => {
  it('is the bucket width_bucket gives over the age in fractional days', async () => {
    await fc.assert(
      fc.asyncProperty(asOfInstants, fc.array(ages, { minLength: 1, maxLength: 20 }), async (asOf, cases) => {
        const rows = cases.map(({ milliseconds, microseconds }) => sql`(${asOf}::timestamptz - ${`${milliseconds} milliseconds`}::interval - ${`${microseconds} microseconds`}::interval)`);
        const { rows: results } = await sql<{ fast: number; obvious: number }>`
          select ${ageBucketOf(sql.ref('created_at'), asOf)} as fast,
                 width_bucket(extract(epoch from ${asOf}::timestamptz - created_at)::float8 / 86400,
                              ${sql.raw(`array[${ageBucketThresholds.join(',')}]::float8[]`)}) as obvious
          from (values ${sql.join(rows)}) ages(created_at)
        `.execute(database.db);
        for (const result of results) expect(result.fast).toBe(result.obvious);
      }),
      { numRuns: 60 },
    );
  });

  it('puts an age of exactly 7 days into 7–30 and a microsecond less into 1–7', async () => {
    const asOf = new Date('2026-11-20T12:00:00Z');
    const { rows } = await sql<{ exact: number; justUnder: number }>`
      select ${ageBucketOf(sql`${new Date(asOf.getTime() - 7 * day)}::timestamptz`, asOf)} as exact,
             ${ageBucketOf(sql`(${new Date(asOf.getTime() - 7 * day)}::timestamptz + interval '1 microsecond')`, asOf)} as just_under
    `.execute(database.db);
    expect(ageBuckets[rows[0].exact].label).toBe('7–30 days');
    expect(ageBuckets[rows[0].justUnder].label).toBe('1–7 days');
  });
});
