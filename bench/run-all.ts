/**
 * npm run bench — runs every benchmark of the project and prints one table: each figure, its
 * target (from the issues' texts) and whether it passes or falls short, with the load average
 * around each run (the machine may be shared; timing figures depend on it, sizes do not).
 *
 *   npm run bench                       all of them (takes long: ingest and soak alone ~10 min)
 *   npm run bench -- ingest dedup       a subset, by name
 *   npm run bench -- --quick            shorter runs and smaller data (figures marked "quick")
 *   npm run bench -- --list             the names
 *
 * Each benchmark's full output goes to a log file (named in the table's footer). Figures are read
 * from a benchmark's machine-readable last line (`--json`) where it has one, else from its text.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadAverage, printTable } from './support';

interface Figure {
  name: string;
  value: number | string | boolean | null;
  /** Human-readable target, e.g. "≥ 0.6"; empty when the issue sets none. */
  target: string;
  pass?: boolean;
}

interface Benchmark {
  name: string;
  issue: string;
  script: string;
  args: (quick: boolean) => string[];
  environment?: (quick: boolean) => Record<string, string>;
  figures: (output: string, json: Record<string, unknown> | undefined) => Figure[];
}

const atLeast = (name: string, value: unknown, target: number): Figure => ({ name, value: round(value), target: `≥ ${target}`, pass: typeof value === 'number' && value >= target });
const atMost = (name: string, value: unknown, target: number, unit = ''): Figure => ({ name, value: round(value), target: `≤ ${target}${unit}`, pass: typeof value === 'number' && value <= target });
const isTrue = (name: string, value: unknown): Figure => ({ name, value: value as boolean, target: 'yes', pass: value === true });
const info = (name: string, value: unknown): Figure => ({ name, value: round(value), target: '' });
const round = (value: unknown) => (typeof value === 'number' ? Math.round(value * 1000) / 1000 : (value as string | null));
const numberAfter = (output: string, pattern: RegExp): number | null => {
  const match = pattern.exec(output);
  return match ? Number(match[1]) : null;
};

const benchmarks: Benchmark[] = [
  {
    name: 'ingest',
    issue: '#3',
    script: 'bench:ingest',
    args: (quick) => ['--json', ...(quick ? ['--quick'] : [])],
    figures: (_, json) => [
      atLeast('ratio to baseline, no image', json?.ratio, 0.6),
      info('ratio to baseline, 300 KB image', json?.ratioWithImage),
      atMost('p99 at 200 reports/s, ms', json?.p99AtFixedRate, 50),
      isTrue(`processing keeps up at 200/s with ${json?.defects ?? '?'} defects`, json?.keptUp),
    ],
  },
  {
    name: 'soak',
    issue: '#10',
    script: 'bench:soak',
    args: () => ['--minutes', '1', '--json'],
    figures: (_, json) => [
      atMost('errors', json?.errors, 0),
      atMost('RSS growth after warm-up, %', json?.rssGrowthPercent, 10),
      isTrue('job queue drained', json?.drained),
      atMost('p99 of reports at 200/s, ms', json?.p99Reports, 50),
      info('p99 of dashboard reads, ms', json?.p99Reads),
    ],
  },
  {
    name: 'dedup',
    issue: '#5',
    script: 'bench:dedup',
    args: (quick) => ['--json', ...(quick ? ['--limit', '3000'] : [])],
    figures: (_, json) => [
      atLeast('recall@5', json?.['recall@5'], 0.66),
      atLeast('recall@10', json?.['recall@10'], 0.72),
      atLeast('auto-merge precision', json?.autoMergePrecision, 0.95),
      atLeast('auto-merge coverage', json?.autoMergeCoverage, 0.25),
      atMost('p95 per report, ms', json?.p95Ms, 50),
    ],
  },
  {
    name: 'size',
    issue: '#4',
    script: 'size',
    args: () => [],
    // "  = loader (dist/widget/widget.js)   4.0 KB  within 5 KB"
    figures: (output) =>
      [...output.matchAll(/^\s*= (.+?)\s+([\d.]+) KB\s+(within|OVER) ([\d.]+) KB/gm)].map((match) => ({
        name: `${match[1].trim()}, KB gzip`,
        value: Number(match[2]),
        target: `≤ ${match[4]}`,
        pass: match[3] === 'within',
      })),
  },
  {
    name: 'widget',
    issue: '#4',
    script: 'bench:widget',
    args: () => [],
    environment: (quick): Record<string, string> => (quick ? { BENCH_ENGINES: 'modern-screenshot' } : {}),
    figures: (output) => {
      // "fixture  engine  7/7  120 ms  180 ms  …  0.31  …": per engine, the worst fixture.
      const rows = [...output.matchAll(/^(\S+)\s+(\S+)\s+(\d+)\/(\d+)\s+(\d+) ms\s+(\d+) ms\s+\S+(?: ms)?\s+([\d.]+)/gm)];
      const engines = [...new Set(rows.map((row) => row[2]))];
      return engines.flatMap((engine) => {
        const mine = rows.filter((row) => row[2] === engine);
        return [
          isTrue(`${engine}: every capture succeeds`, mine.every((row) => row[3] === row[4])),
          atMost(`${engine}: worst p95 capture, ms`, Math.max(...mine.map((row) => Number(row[6]))), 800),
          atMost(`${engine}: worst mean difference /255`, Math.max(...mine.map((row) => Number(row[7]))), 1),
        ];
      });
    },
  },
  {
    name: 'inbox',
    issue: '#6',
    script: 'bench:inbox',
    args: () => ['--json'],
    environment: (quick): Record<string, string> => (quick ? { BENCH_DEFECTS: '20000', BENCH_REQUESTS: '50', BENCH_BROWSER_RUNS: '2' } : {}),
    figures: (output, json) => [
      atMost('first page p95 at the API, ms', json?.apiP95Ms ?? numberAfter(output, /first inbox page.*?p95 ([\d.]+) ms/), 150),
      atMost('usable in Chromium (max), ms', json?.usableMaxMs, 1500),
    ],
  },
  {
    name: 'metrics',
    issue: '#9',
    script: 'bench:metrics',
    args: () => ['--json'],
    environment: (quick): Record<string, string> => (quick ? { BENCH_DEFECTS: '20000', BENCH_REQUESTS: '10' } : {}),
    figures: (output, json) => [
      atMost('worst p95 computed, ms', json?.worstP95ComputedMs ?? numberAfter(output, /worst p95 computed: ([\d.]+) ms/), 200),
      atMost('worst p95 cached, ms', json?.worstP95CachedMs ?? numberAfter(output, /worst p95 cached:\s+([\d.]+) ms/), 200),
    ],
  },
  {
    name: 'junit',
    issue: '#7',
    script: 'bench:junit',
    args: (quick) => ['--json', ...(quick ? ['--cases', '20000'] : [])],
    figures: (output, json) => [
      atMost('import seconds', json?.seconds ?? numberAfter(output, /seconds: ([\d.]+)/), 10),
      atMost('peak RSS, MB', json?.peakRssMb, 300),
    ],
  },
  {
    name: 'integrations',
    issue: '#8',
    script: 'bench:integrations',
    args: () => [],
    // No target in the issue: the render times are shown for reference.
    figures: (output) => [...output.matchAll(/^(.+?\((?:typical|worst)\))\s+([\d.]+) µs\/render/gm)].map((match) => info(`${match[1].trim()}, µs/render`, Number(match[2]))),
  },
];

const { values, positionals } = parseArgs({ allowPositionals: true, options: { quick: { type: 'boolean', default: false }, list: { type: 'boolean', default: false } } });
if (values.list) {
  for (const benchmark of benchmarks) console.log(`${benchmark.name.padEnd(14)} npm run ${benchmark.script} (issue ${benchmark.issue})`);
  process.exit(0);
}
const unknown = positionals.filter((name) => !benchmarks.some((benchmark) => benchmark.name === name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${benchmarks.map((benchmark) => benchmark.name).join(', ')}`);
  process.exit(2);
}
const selected = positionals.length > 0 ? benchmarks.filter((benchmark) => positionals.includes(benchmark.name)) : benchmarks;
const logFolder = mkdtempSync(path.join(os.tmpdir(), 'bugloop-bench-'));
const quick = values.quick;

console.log(`npm run bench${quick ? ' (quick)' : ''}: ${selected.map((benchmark) => benchmark.name).join(', ')}; logs in ${logFolder}`);
const rows: (string | number)[][] = [['benchmark', 'figure', 'value', 'target', 'verdict', 'load avg (start → end)']];
let crashed = false;
for (const benchmark of selected) {
  const loadBefore = loadAverage().split(' ')[0];
  const started = performance.now();
  process.stdout.write(`  ${benchmark.name}: running npm run ${benchmark.script} ${benchmark.args(quick).join(' ')} … `);
  const { code, output } = await run(benchmark, quick);
  writeFileSync(path.join(logFolder, `${benchmark.name}.log`), output);
  const loadAfter = loadAverage().split(' ')[0];
  console.log(`${code === 0 ? 'done' : `exited ${code}`} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const figures = code === 0 || output.length > 0 ? safeFigures(benchmark, output) : [];
  if (figures.length === 0) {
    crashed = true;
    rows.push([`${benchmark.name} (${benchmark.issue})`, `no figures (exit ${code}); see ${benchmark.name}.log`, '', '', 'falls short', `${loadBefore} → ${loadAfter}`]);
    continue;
  }
  for (const [index, figure] of figures.entries()) {
    const verdict = figure.target === '' ? 'no target' : figure.pass ? 'pass' : 'falls short';
    const label = index === 0 ? `${benchmark.name} (${benchmark.issue})${quick ? ' quick' : ''}` : '';
    rows.push([label, figure.name, figure.value === null || figure.value === undefined ? '—' : String(figure.value), figure.target, verdict, index === 0 ? `${loadBefore} → ${loadAfter}` : '']);
  }
}
console.log();
printTable(rows);
const counted = rows.slice(1).filter((row) => row[4] === 'pass' || row[4] === 'falls short');
console.log(`\n${counted.filter((row) => row[4] === 'pass').length} pass, ${counted.filter((row) => row[4] === 'falls short').length} fall short; ${os.cpus().length} CPUs; timing figures depend on the load average shown (the machine may be shared).`);
console.log(`full outputs: ${logFolder}`);
if (crashed) process.exitCode = 1;

function safeFigures(benchmark: Benchmark, output: string): Figure[] {
  const lastJson = output
    .trim()
    .split('\n')
    .reverse()
    .find((line) => line.trim().startsWith('{') && line.trim().endsWith('}'));
  let json: Record<string, unknown> | undefined;
  try {
    json = lastJson ? (JSON.parse(lastJson) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  try {
    return benchmark.figures(output, json);
  } catch {
    return [];
  }
}

function run(benchmark: Benchmark, quickRun: boolean): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '--silent', benchmark.script, '--', ...benchmark.args(quickRun)], {
      env: { ...process.env, ...(benchmark.environment?.(quickRun) ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('exit', (code) => resolve({ code, output }));
  });
}
