/**
 * `npm run size`: the gzip -9 size of every chunk of the built widget, summed per budget (loader
 * and module entry 5 KB each, form chunk 20 KB, primary screenshot engine 12 KB). Exits non-zero
 * when over budget.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const distFolder = path.resolve(import.meta.dirname, '../dist/widget');

/** Which budget each chunk counts against (the limits, gzip -9). */
export function chunkRole(file: string): { role: string; budget?: number } {
  if (file === 'widget.js') return { role: 'loader', budget: 5 * 1024 };
  // The same core as the loader, as an ES module (`import … from 'bugloop/widget'`), held to the same budget.
  if (file === 'widget-module.js') return { role: 'module entry (bugloop/widget)', budget: 5 * 1024 };
  if (file.startsWith('open-dialog-') || file.startsWith('transport-')) return { role: 'form (Preact, form, annotation, transport)', budget: 20 * 1024 };
  if (file.startsWith('screenshot-')) return { role: 'screenshot engine: modern-screenshot (primary)', budget: 12 * 1024 };
  if (file.startsWith('html2canvas')) return { role: 'screenshot engine: html2canvas-pro (lazy second try)' };
  return { role: 'other' };
}

/** Prints the gzip -9 size of every built chunk and the per-role totals against their budgets. */
export function printSizes(): boolean {
  if (!existsSync(distFolder)) throw new Error('dist/widget is missing: run `npm run build:widget` first');
  const files = readdirSync(distFolder).filter((file) => file.endsWith('.js'));
  const totals = new Map<string, { bytes: number; budget?: number }>();
  console.log('chunk sizes (gzip -9)');
  for (const file of files.sort()) {
    const raw = readFileSync(path.join(distFolder, file));
    const gzip = gzipSync(raw, { level: 9 }).length;
    const { role, budget } = chunkRole(file);
    const total = totals.get(role) ?? { bytes: 0, budget };
    total.bytes += gzip;
    totals.set(role, total);
    console.log(`  ${file.padEnd(40)} ${String(raw.length).padStart(8)} B raw ${String(gzip).padStart(7)} B gzip   ${role}`);
  }
  let withinBudget = true;
  for (const [role, { bytes, budget }] of totals) {
    const verdict = budget === undefined ? '' : bytes <= budget ? `within ${budget / 1024} KB` : `OVER ${budget / 1024} KB`;
    if (budget !== undefined && bytes > budget) withinBudget = false;
    console.log(`  = ${role.padEnd(56)} ${(bytes / 1024).toFixed(1).padStart(6)} KB  ${verdict}`);
  }
  return withinBudget;
}


if (import.meta.url === `file://${process.argv[1]}`) {
  if (!printSizes()) process.exitCode = 1;
}
