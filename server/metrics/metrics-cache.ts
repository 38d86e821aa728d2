import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema';

/**
 * A small in-process cache of metrics answers. An answer depends only on the data and the
 * request (with an explicit `asOf`), so it is reused while a fingerprint of the data it reads
 * is unchanged: the newest defect event (every defect change, merge and report assignment writes
 * one), the newest test result, the newest report, the defect–test links, test cases, runs,
 * releases and the project's settings. The fingerprint is read *before* computing, so an answer
 * is never older than the fingerprint it is stored under; a change that escapes the fingerprint
 * (a deleted link or run) is bounded by the time to live.
 */
export class MetricsCache {
  private readonly entries = new Map<string, { fingerprint: string; storedAt: number; value: unknown }>();

  constructor(
    private readonly options: { maxEntries: number; timeToLiveMs: number } = { maxEntries: 200, timeToLiveMs: 60_000 },
  ) {}

  /**
   * The cached answer for `key` when the data's fingerprint still matches, else computes it.
   * `bypass` (a request with `Cache-Control: no-cache`) always computes and refreshes the entry.
   */
  async get<T>(
    db: Kysely<Database>,
    projectId: string,
    key: string,
    compute: () => Promise<T>,
    bypass = false,
  ): Promise<{ value: T; hit: boolean }> {
    const fingerprint = await dataFingerprint(db, projectId);
    const entry = this.entries.get(key);
    if (!bypass && entry && entry.fingerprint === fingerprint && Date.now() - entry.storedAt < this.options.timeToLiveMs) {
      // refresh its place: the map's order is the eviction order
      this.entries.delete(key);
      this.entries.set(key, entry);
      return { value: entry.value as T, hit: true };
    }
    const value = await compute();
    this.entries.delete(key);
    this.entries.set(key, { fingerprint, storedAt: Date.now(), value });
    while (this.entries.size > this.options.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    return { value, hit: false };
  }
}

/** One cheap statement (index lookups and small per-project tables) naming the data's state. */
export async function dataFingerprint(db: Kysely<Database>, projectId: string): Promise<string> {
  const result = await sql<{ fingerprint: string }>`
    select concat_ws('|',
      (select max(id) from defect_events),
      (select max(id) from test_results),
      (select max(received_at) from reports where project_id = ${projectId}),
      (select count(*) || ':' || coalesce(max(created_at)::text, '') from defect_test_links),
      (select count(*) || ':' || coalesce(max(updated_at)::text, '') from test_cases where project_id = ${projectId}),
      (select count(*) || ':' || coalesce(max(created_at)::text, '') from test_runs where project_id = ${projectId}),
      (select count(*) || ':' || coalesce(max(first_seen_at)::text, '') || ':' || coalesce(max(released_at)::text, '') from releases where project_id = ${projectId}),
      (select updated_at::text || md5(settings::text) from projects where id = ${projectId})
    ) as fingerprint
  `.execute(db);
  return result.rows[0].fingerprint;
}

/** The default instant of a request: the end of the current minute, so repeated requests share an answer. */
export function endOfMinute(now: Date): Date {
  return new Date(Math.floor(now.getTime() / 60_000) * 60_000 + 59_999);
}
