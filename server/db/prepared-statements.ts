import { createHash } from 'node:crypto';
import pg from 'pg';

/**
 * Marks a statement to be prepared once per connection on PostgreSQL: start its SQL with this
 * comment (`sql\`${preparedStatement} with …\``). The report path runs a few large statements
 * (the report's insert, dedup's retrieval, the assignment's write) hundreds of times a second;
 * unnamed, PostgreSQL parses, analyses and plans each of them every time, which measured about a
 * fifth of its CPU per report (bench:ingest). Only statements whose text never varies and whose
 * result columns are spelled out are marked (a prepared `select *` breaks when a migration adds a
 * column). On PGlite the comment is just a comment.
 */
export const preparedStatement = '/* prepared */';

const names = new Map<string, string>();

function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `bugloop_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    // The marked texts are a handful; the bound only guards against a caller marking a varying one.
    if (names.size < 1000) names.set(text, name);
  }
  return name;
}

/**
 * The pool's client on PostgreSQL: sends marked statements as named (prepared) statements, so
 * node-postgres parses each once per connection and then only binds and executes it.
 */
export class PreparingClient extends pg.Client {
  override query(...args: unknown[]): never {
    const [text, values] = args;
    if (typeof text === 'string' && text.startsWith(preparedStatement) && args.length <= 2 && (values === undefined || Array.isArray(values))) {
      return (super.query as unknown as (config: pg.QueryConfig) => never)({ name: statementName(text), text, values: values as unknown[] | undefined });
    }
    return (super.query as unknown as (...rest: unknown[]) => never)(...args);
  }
}
