import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrayLiteral } from '../../server/db/array-literal';
import type { DatabaseHandle } from '../../server/db/database';
import { createTestDatabase } from '../support/test-database';

let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

describe('arrayLiteral', () => {
  it('round-trips text that array syntax would otherwise split or unquote', async () => {
    const values = [
      'plain', '', 'NULL', 'null', null, 'a,b', '{braces}', ' padded ', 'say "hi"', 'back\\slash', 'trailing\\',
      'line one\nline two\ttab', 'ünïcödé ✓ 🐛', '\\"both\\"', 'x'.repeat(5000),
    ];
    const result = await sql<{ values: (string | null)[] }>`select ${arrayLiteral(values)}::text[] as values`.execute(database.db);
    expect(result.rows[0].values).toEqual(values);
  });

  it('writes numbers, booleans and uuids that PostgreSQL casts to their array types', async () => {
    const result = await sql<{ numbers: number[]; flags: (boolean | null)[]; ids: string[] }>`
      select ${arrayLiteral([1, -2, 30000, null])}::int[] as numbers,
             ${arrayLiteral([true, false, null])}::boolean[] as flags,
             ${arrayLiteral(['7d0c3ad4-3f0e-4a53-9d43-1f1d0c8f4e11'])}::uuid[] as ids
    `.execute(database.db);
    expect(result.rows[0]).toEqual({ numbers: [1, -2, 30000, null], flags: [true, false, null], ids: ['7d0c3ad4-3f0e-4a53-9d43-1f1d0c8f4e11'] });
  });

  it('writes an empty array and a one-element array', async () => {
    const result = await sql<{ empty: string[]; one: string[] }>`
      select ${arrayLiteral([])}::text[] as empty, ${arrayLiteral(['only'])}::text[] as one
    `.execute(database.db);
    expect(result.rows[0]).toEqual({ empty: [], one: ['only'] });
  });
});
