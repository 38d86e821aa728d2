/**
 * `npm run size:dashboard`: the gzip -9 size of every chunk of the built dashboard, what the first
 * load fetches (the entry script of index.html and the chunks it imports statically; budget 80 KB
 * of JavaScript), and what each lazily loaded page adds on top. Exits non-zero over budget.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const distFolder = path.resolve(import.meta.dirname, '../dist/dashboard');
const assetsFolder = path.join(distFolder, 'assets');
export const firstLoadBudget = 80 * 1024;

const gzipSize = (file: string) => gzipSync(readFileSync(path.join(assetsFolder, file)), { level: 9 }).length;

/** Chunks a JavaScript chunk imports statically (`import … from "./x.js"`, `import "./x.js"`). */
export function staticImports(source: string): string[] {
  const found = new Set<string>();
  for (const match of source.matchAll(/(?:\bfrom|\bimport)\s*["'`]\.\/([^"'`]+\.js)["'`]/g)) found.add(match[1]);
  return [...found];
}

/** Chunks a chunk loads on demand (`import("./x.js")`). */
export function dynamicImports(source: string): string[] {
  return [...new Set([...source.matchAll(/\bimport\(\s*["'`]\.\/([^"'`]+\.js)["'`]\s*\)/g)].map((match) => match[1]))];
}

/** A chunk and everything it imports statically, transitively. */
export function closure(start: string[], read: (file: string) => string): Set<string> {
  const seen = new Set<string>();
  const queue = [...start];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    queue.push(...staticImports(read(file)));
  }
  return seen;
}

export function printDashboardSizes(): boolean {
  if (!existsSync(path.join(distFolder, 'index.html'))) throw new Error('dist/dashboard is missing: run `npm run build:dashboard` first');
  const html = readFileSync(path.join(distFolder, 'index.html'), 'utf8');
  const read = (file: string) => readFileSync(path.join(assetsFolder, file), 'utf8');
  const entries = [...html.matchAll(/<(?:script[^>]*\bsrc|link[^>]*rel="modulepreload"[^>]*\bhref)="\/assets\/([^"]+\.js)"/g)].map((match) => match[1]);
  const styles = [...html.matchAll(/<link[^>]*rel="stylesheet"[^>]*href="\/assets\/([^"]+\.css)"/g)].map((match) => match[1]);
  const firstLoad = closure(entries, read);

  console.log('dashboard chunks (gzip -9)');
  for (const file of readdirSync(assetsFolder).sort()) {
    const raw = readFileSync(path.join(assetsFolder, file)).length;
    const mark = firstLoad.has(file) || styles.includes(file) ? 'first load' : 'lazy';
    console.log(`  ${file.padEnd(40)} ${String(raw).padStart(8)} B raw ${String(gzipSize(file)).padStart(7)} B gzip   ${mark}`);
  }
  const firstLoadJs = [...firstLoad].reduce((total, file) => total + gzipSize(file), 0);
  const firstLoadCss = styles.reduce((total, file) => total + gzipSize(file), 0);
  const within = firstLoadJs <= firstLoadBudget;
  console.log(`  = first load: ${(firstLoadJs / 1024).toFixed(1)} KB JavaScript (${[...firstLoad].join(', ')}) ${within ? 'within' : 'OVER'} ${firstLoadBudget / 1024} KB, + ${(firstLoadCss / 1024).toFixed(1)} KB CSS`);

  // What opening each lazy page adds: its chunk and static imports not already loaded, then the
  // chunks it loads itself on demand (the charting library).
  const pages = new Set([...firstLoad].flatMap((file) => dynamicImports(read(file))));
  for (const page of [...pages].sort()) {
    const added = [...closure([page], read)].filter((file) => !firstLoad.has(file));
    const onDemand = [...new Set(added.flatMap((file) => dynamicImports(read(file))))].filter((file) => !firstLoad.has(file) && !added.includes(file));
    const bytes = added.reduce((total, file) => total + gzipSize(file), 0);
    const later = onDemand.map((file) => `${file} ${(gzipSize(file) / 1024).toFixed(1)} KB`).join(', ');
    console.log(`  + ${page.padEnd(38)} adds ${(bytes / 1024).toFixed(1).padStart(5)} KB JS${later ? `, then on demand ${later}` : ''}`);
  }
  return within;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!printDashboardSizes()) process.exitCode = 1;
}
