import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

/**
 * `npm run bench:dedup` must work on any file of the benchmark's format, not only dev.jsonl: this
 * replays a small synthetic file with the awkward cases (null component, empty description, a
 * duplicate whose master is in another product, unicode, lines out of order, a blank line, a
 * duplicate filed at the same instant as a clone of it) on
 * the test backend (PGlite, or PostgreSQL through DATABASE_URL) and reads its `--json` line.
 */
const run = promisify(execFile);
let folder: string;
let file: string;

const day = 86_400_000;
const start = Date.parse('2024-03-01T08:00:00Z');
const at = (days: number) => new Date(start + days * day).toISOString().replace('.000Z', 'Z');

/** Synthetic reports: `dup_of` names the earliest report of the group, as the format requires. */
const records = [
  { id: 'SHOP-1', title: 'Zahlung schlägt fehl: Knopf „Bezahlen“ reagiert nicht', description: 'Beim Klick auf Bezahlen passiert nichts. 😞', component: null, product: 'Web Shop', created: at(0), dup_of: null },
  { id: 'SHOP-2', title: 'Avatar upload returns 413', description: '', component: 'profile', product: 'Web Shop', created: at(1), dup_of: null },
  { id: 'APP-1', title: 'Search index rebuild never finishes on large catalogs', description: 'The nightly SearchIndexRebuilder job runs for hours and times out.', component: 'search, jobs', product: 'Mobile App', created: at(2), dup_of: null },
  { id: 'SHOP-3', title: 'Dark mode colours wrong in settings', description: 'Text is black on dark grey.', component: 'settings', product: 'Web Shop', created: at(3), dup_of: null },
  // The master is in another product.
  { id: 'SHOP-4', title: 'SearchIndexRebuilder never finishes for large catalogs', description: 'Nightly search index rebuild job times out after hours.', component: null, product: 'Web Shop', created: at(5), dup_of: 'APP-1' },
  { id: 'SHOP-5', title: 'Knopf „Bezahlen“ reagiert nicht – Zahlung schlägt fehl', description: 'Klick auf Bezahlen: nichts passiert.', component: null, product: 'Web Shop', created: at(6), dup_of: 'SHOP-1' },
  { id: 'SHOP-6', title: 'Avatar upload fails with 413', description: '', component: 'profile', product: 'Web Shop', created: at(7), dup_of: 'SHOP-2' },
  { id: 'APP-2', title: '検索結果が表示されない', description: '検索しても何も出てこない', component: null, product: 'Mobile App', created: at(8), dup_of: null },
  { id: 'SHOP-7', title: 'Cart total shows a dollar sign instead of the euro sign', description: 'The cart total reads $ where it should read €.', component: 'cart', product: 'Web Shop', created: at(9), dup_of: null },
  // Filed in bulk: the clone and the duplicate share their instant, and the clone comes first in
  // the file. The README's candidates are the reports created strictly earlier, so the clone,
  // textually identical to the duplicate, must not be ranked for it.
  { id: 'SHOP-8', title: 'Cart total: dollar sign instead of euro sign after changing country', description: 'After switching the country to Germany the cart total still shows $ and not €.', component: 'cart', product: 'Web Shop', created: at(10), dup_of: null },
  { id: 'SHOP-9', title: 'Cart total: dollar sign instead of euro sign after changing country', description: 'After switching the country to Germany the cart total still shows $ and not €.', component: 'cart', product: 'Web Shop', created: at(10), dup_of: 'SHOP-7' },
];
const summaryKeys = ['recall@1', 'recall@5', 'recall@10', 'mrr', 'autoMergePrecision', 'autoMergeCoverage', 'reportsPerSecond', 'p95Ms'];

beforeAll(() => {
  folder = mkdtempSync(path.join(os.tmpdir(), 'bugloop-dedup-bench-'));
  file = path.join(folder, 'synthetic.jsonl');
  // Out of creation order, with a blank line: the benchmark sorts by `created` itself.
  const shuffled = [records[3], records[0], records[8], records[5], records[1], records[7], records[9], records[2], records[10], records[6], records[4]];
  writeFileSync(file, `${shuffled.map((record) => JSON.stringify(record)).join('\n')}\n\n`);
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('dedup benchmark on another file of the same format', () => {
  it('replays it and ends with one JSON line holding exactly the summary keys', async () => {
    const setup = inject('testDatabase');
    const environment = { ...process.env, DATABASE_URL: setup.kind === 'postgres' ? setup.url : '' };
    const dump = path.join(folder, 'dump.jsonl');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/dedup-benchmark.ts', '--data', file, '--json', '--dump', dump], { env: environment, timeout: 230_000 });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toContain(`replaying ${records.length} reports`);
    expect(lines[0]).toContain(setup.kind === 'postgres' ? 'PostgreSQL' : 'PGlite');
    const summary = JSON.parse(lines.at(-1)!) as Record<string, number>;
    expect(Object.keys(summary)).toEqual(summaryKeys);
    for (const key of summaryKeys) expect(Number.isFinite(summary[key])).toBe(true);
    // Four duplicate queries, each with its master among few earlier reports.
    expect(summary['recall@10']).toBe(1);
    expect(summary['recall@5']).toBe(1);
    expect(summary['recall@1']).toBeGreaterThanOrEqual(3 / 4);
    expect(summary.mrr).toBeGreaterThan(0.8);
    expect(summary.autoMergePrecision).toBeGreaterThanOrEqual(0);
    expect(summary.autoMergePrecision).toBeLessThanOrEqual(1);
    expect(summary.reportsPerSecond).toBeGreaterThan(0);
    // The full figures (with the duplicates-only precision) come on the line before.
    const full = JSON.parse(lines.at(-2)!) as Record<string, number>;
    expect(full).toMatchObject({ reports: records.length, queries: 4 });
    // The same-instant clone is not among the duplicate's candidates: its master ranks first.
    const ranked = readFileSync(dump, 'utf8').trim().split('\n').map((entry) => JSON.parse(entry) as { id: string; top: { relevant: boolean }[] });
    expect(ranked.find((entry) => entry.id === 'SHOP-9')?.top[0]?.relevant).toBe(true);
    expect(full).toHaveProperty('autoMergePrecisionOnDuplicates');
    // A child process that compiles, opens and migrates a database: slow on a shared machine.
  }, 240_000);

  it('with --scale grows the index to that many stored reports and prints the retrieval slowdown; --profile prints where the time went', async () => {
    const setup = inject('testDatabase');
    const environment = { ...process.env, DATABASE_URL: setup.kind === 'postgres' ? setup.url : '' };
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/dedup-benchmark.ts', '--data', file, '--json', '--scale', '50', '--profile'], {
      env: environment,
      timeout: 230_000,
    });
    const lines = stdout.trim().split('\n');
    const full = JSON.parse(lines.at(-2)!) as Record<string, number>;
    // The replayed reports copied until the project holds at least 50.
    expect(full.scaleReports).toBeGreaterThanOrEqual(50);
    for (const key of ['scaleP50MsBefore', 'scaleP50MsAfter', 'scaleFactor']) expect(full[key]).toBeGreaterThan(0);
    expect(stdout).toMatch(new RegExp(`retrieval at ${full.scaleReports} stored reports: p50 [0-9.]+ ms vs [0-9.]+ ms at ${records.length}: slowdown ×[0-9.]+`));
    // Every engine statement is named, the retrieval among them, and the rest is TypeScript.
    expect(stdout).toContain("where the engine's time went");
    expect(stdout).toMatch(/with hits as materialized/);
    expect(stdout).toMatch(/outside statements/);
    // The contract line is unchanged by either flag.
    expect(Object.keys(JSON.parse(lines.at(-1)!))).toEqual(summaryKeys);
  }, 240_000);
});
