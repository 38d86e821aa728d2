/**
 * `npm run size:dashboard`: the JavaScript a browser downloads to show the dashboard's first
 * page (the entry script from index.html, its modulepreload links and every chunk they import
 * statically), gzip -9, against the budget of 80 KB. Chunks loaded with `import()` (pages
 * or heavy libraries loaded on demand) are listed apart and do not count. Exits non-zero when
 * over budget.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const distFolder = path.resolve(import.meta.dirname, '../dist/dashboard');
export const firstLoadBudgetBytes = 80 * 1024;

const gzipBytes = (file: string) => gzipSync(readFileSync(path.join(distFolder, file)), { level: 9 }).length;

/** The files of the first load: entry + modulepreloads, then their static imports, transitively. */
export function firstLoadFiles(): string[] {
  const html = readFileSync(path.join(distFolder, 'index.html'), 'utf8');
  const pending = [...html.matchAll(/<(?:script[^>]*type="module"[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="\/([^"]+\.js)"/g)].map((match) => match[1]);
  const seen = new Set<string>();
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const code = readFileSync(path.join(distFolder, file), 'utf8');
    // Static imports only (`import{a}from"./x.js"`, `import"./x.js"`); `import("./x.js")` is lazy.
    for (const match of code.matchAll(/\bimport\s*(?:[\w*{}\s,$]+from\s*)?["']\.\/([^"']+\.js)["']/g)) pending.push(path.posix.join(path.posix.dirname(file), match[1]));
  }
  return [...seen].sort();
}

export function printDashboardSize(): boolean {
  if (!existsSync(path.join(distFolder, 'index.html'))) throw new Error('dist/dashboard is missing: run `npm run build:dashboard` first');
  const first = firstLoadFiles();
  const all = readdirSync(path.join(distFolder, 'assets')).filter((file) => file.endsWith('.js')).map((file) => `assets/${file}`);
  let total = 0;
  console.log('dashboard JavaScript (gzip -9)');
  for (const file of first) {
    const bytes = gzipBytes(file);
    total += bytes;
    console.log(`  first load  ${file.padEnd(44)} ${(bytes / 1024).toFixed(1).padStart(6)} KB`);
  }
  for (const file of all.filter((candidate) => !first.includes(candidate)).sort()) console.log(`  on demand   ${file.padEnd(44)} ${(gzipBytes(file) / 1024).toFixed(1).padStart(6)} KB`);
  const within = total <= firstLoadBudgetBytes;
  console.log(`  = first load ${(total / 1024).toFixed(1)} KB of ${firstLoadBudgetBytes / 1024} KB: ${within ? 'within budget' : 'OVER BUDGET'}`);
  return within;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!printDashboardSize()) process.exitCode = 1;
}
