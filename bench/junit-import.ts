/**
 * `npm run bench:junit`: writes a JUnit report with 100,000 test cases (1% failing, 2% skipped,
 * some with output) and imports it through the code behind `bugloop import-junit` into a real
 * database (embedded PGlite in a temporary folder, or PostgreSQL when DATABASE_URL is set: a
 * scratch database is created and dropped), then prints the seconds and the peak resident
 * memory. The database is prepared (created, migrated, a project added) in this process; the
 * import runs in a fresh child process, as the CLI would, so the memory figure is the import's.
 * Targets: at most 10 s and 300 MB. Options: --cases N, --failure-rate 0.01; BENCH_CPU_PROFILE=<folder>
 * (environment) writes a V8 CPU profile of the import process; BENCH_NODE_FLAGS="..." replaces the
 * Node flags the import process gets (those of `bugloop import-junit`, scripts/cli-node-flags.mjs).
 */
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { build } from 'esbuild';
// @ts-expect-error: a plain .mjs script without type declarations
import { cliBuildOptions } from '../scripts/cli-build-options.mjs';
// @ts-expect-error: a plain .mjs script without type declarations
import { commandNodeFlags } from '../scripts/cli-node-flags.mjs';
import { sql } from 'kysely';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../server/config';
import { databaseTargetFromConfig, openDatabase, type DatabaseHandle } from '../server/db/database';
import { importJunitFiles } from '../server/test-management/import-junit-command';
import { migrateToLatest } from '../server/db/migrate';
import { createLogger } from '../server/logger';
import { createProject } from '../server/projects/project-service';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    'failure-rate': { type: 'string', default: '0.01' },
    'import-only': { type: 'string' },
    project: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
if (values['import-only']) {
  await importOnly(values['import-only'], values.project!);
  process.exit(0);
}
const caseCount = Number(values.cases);
const failureRate = Number(values['failure-rate']);
const folder = mkdtempSync(path.join(os.tmpdir(), 'bugloop-bench-junit-'));
const reportFile = path.join(folder, 'junit.xml');

async function writeReport(): Promise<void> {
  const out = createWriteStream(reportFile);
  const write = (text: string) => (out.write(text) ? Promise.resolve() : new Promise<void>((resolve) => out.once('drain', () => resolve())));
  await write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bench">\n');
  const perSuite = 500;
  for (let suite = 0; suite < caseCount / perSuite; suite += 1) {
    const classname = `com.example.module${suite % 40}.Feature${suite}Test`;
    let body = `  <testsuite name="${classname}" tests="${perSuite}">\n`;
    for (let index = 0; index < perSuite; index += 1) {
      const number = suite * perSuite + index;
      const roll = (number * 7919) % 1000 / 1000;
      const name = `handles case ${number} with input &quot;value-${number}&quot;`;
      if (roll < failureRate) {
        body += `    <testcase classname="${classname}" name="${name}" time="0.${number % 1000}"><failure message="expected: &lt;${number}&gt; but was: &lt;${number + 1}&gt;" type="org.opentest4j.AssertionFailedError">org.opentest4j.AssertionFailedError: expected: &lt;${number}&gt; but was: &lt;${number + 1}&gt;\n\tat ${classname}.test${number}(Feature${suite}Test.java:${index + 10})\n</failure><system-out>log line for ${number}\n</system-out></testcase>\n`;
      } else if (roll < failureRate + 0.02) {
        body += `    <testcase classname="${classname}" name="${name}" time="0"><skipped message="disabled"/></testcase>\n`;
      } else {
        body += `    <testcase classname="${classname}" name="${name}" time="0.0${number % 100}"/>\n`;
      }
    }
    await write(`${body}  </testsuite>\n`);
  }
  await write('</testsuites>\n');
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

/**
 * The peak resident memory of this process's own image: VmHWM. Not getrusage's maxRSS, which
 * Linux carries over from the forked parent through exec, so a child spawned by a parent holding
 * 400 MB reported at least 400 MB whatever it used itself.
 */
function ownPeakRssBytes(): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

/** The child: opens the database as the CLI does, imports, prints its own figures as JSON. */
async function importOnly(file: string, projectId: string): Promise<void> {
  const config = loadConfig(process.env);
  const database = await openDatabase(databaseTargetFromConfig(config), createLogger('error'));
  try {
    // What the database alone costs (PGlite's WASM heap lives in this process), before any import.
    const rssAfterOpenBytes = process.memoryUsage().rss;
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const { summary } = await importJunitFiles(database.db, { patterns: [file], projectId, release: '1.4.0', build: 'bench', commit: 'bench', soleSession: database.soleSession });
    const seconds = (performance.now() - started) / 1000;
    // CPU time of this process (user + system) during the import: less sensitive to a busy machine than the wall clock.
    const cpu = process.cpuUsage(cpuBefore);
    const serverCpuSeconds = database.backend === 'postgres' ? await postgresBackendCpuSeconds(database) : null;
    console.log(JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, serverCpuSeconds, maxRssBytes: ownPeakRssBytes(), rssAfterOpenBytes, summary }));
  } finally {
    await database.close();
  }
}

/**
 * CPU time (user + sys) the PostgreSQL backends serving this database have used so far, read from
 * /proc (the server runs on this machine in the benchmark setup); null when it cannot be read.
 * The pool's connections live for the whole child process, so this is the import's share.
 */
async function postgresBackendCpuSeconds(database: DatabaseHandle): Promise<number | null> {
  const { rows } = await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database()`.execute(database.db);
  const ticksPerSecond = 100;
  let total = 0;
  for (const { pid } of rows) {
    try {
      // fields after the command name: state is field 3, utime 14, stime 15
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
    } catch {
      return null;
    }
  }
  return total;
}

async function openBenchDatabase(): Promise<{ database: DatabaseHandle; label: string; env: Record<string, string>; cleanup(): Promise<void> }> {
  const logger = createLogger('error');
  const url = process.env.DATABASE_URL;
  if (!url) {
    const database = await openDatabase({ kind: 'pglite', dataDirectory: path.join(folder, 'pglite') }, logger);
    return { database, label: 'PGlite (embedded, on disk)', env: { BUGLOOP_DATA_DIR: folder }, cleanup: async () => {} };
  }
  const name = `bugloop_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const target = new URL(url);
  target.pathname = `/${name}`;
  const database = await openDatabase({ kind: 'postgres', url: target.toString() }, logger);
  return {
    database,
    label: `PostgreSQL (${target.host})`,
    env: { DATABASE_URL: target.toString() },
    async cleanup() {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

const generationStarted = performance.now();
await writeReport();
const size = statSync(reportFile).size;
console.log(`generated ${caseCount.toLocaleString('en')} test cases, ${megabytes(size)} in ${((performance.now() - generationStarted) / 1000).toFixed(1)} s`);

const { database, label, env, cleanup } = await openBenchDatabase();
try {
  await migrateToLatest(database.db, createLogger('error'));
  const project = await createProject(database.db, { name: 'Bench' });
  await database.close();
  // BENCH_CPU_PROFILE=<folder> writes a V8 CPU profile of the import process there.
  const profile = process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(process.env.BENCH_CPU_PROFILE)] : [];
  // The import runs compiled, as bin/bugloop.js runs the CLI after `npm run build` (the same
  // esbuild options), not through tsx, whose loader thread and transpiled sources
  // would add about 70 MB to the figure.
  const compiledBench = path.join(folder, 'bench-compiled', 'junit-import.js');
  await build({ ...cliBuildOptions, entryPoints: [fileURLToPath(import.meta.url)], outfile: compiledBench });
  // Packages resolve from the repository's node_modules.
  symlinkSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../node_modules'), path.join(folder, 'node_modules'));
  // The import process gets the Node flags bin/bugloop.js gives `import-junit` (BENCH_NODE_FLAGS replaces them, to compare).
  const nodeFlags: string[] = process.env.BENCH_NODE_FLAGS !== undefined ? process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean) : commandNodeFlags['import-junit'];
  const child = spawn(process.execPath, [...nodeFlags, ...profile, compiledBench, '--import-only', reportFile, '--project', project.id], {
    env: { ...process.env, ...env, LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`the import process exited with ${code}: ${output}`);
  const result = JSON.parse(output.trim().split('\n').at(-1)!) as { seconds: number; cpuSeconds: number; serverCpuSeconds: number | null; maxRssBytes: number; rssAfterOpenBytes: number; summary: Record<string, number> };
  const { summary } = result;
  console.log(`import process flags: ${nodeFlags.join(' ') || '(none)'}`);
  console.log(`database: ${label}; machine load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
  console.log(`imported: ${summary.cases} cases (${summary.passed} passed, ${summary.failed + summary.errors} failed, ${summary.skipped} skipped), ${summary.newCases} new cases, ${summary.newDefects} new defects`);
  console.log(`seconds: ${result.seconds.toFixed(2)} (target <= 10); CPU time of the import process (user + sys): ${result.cpuSeconds.toFixed(2)} s${result.serverCpuSeconds === null ? (label.startsWith('PGlite') ? ', the embedded database included' : '') : `, plus ${result.serverCpuSeconds.toFixed(2)} s in the PostgreSQL backends`}`);
  console.log(`peak RSS of the import process: ${megabytes(result.maxRssBytes)} (target <= 300 MB); ${megabytes(result.rssAfterOpenBytes)} of it already after opening the database`);
  if (values.json) console.log(JSON.stringify({ bench: 'junit', seconds: result.seconds, cpuSeconds: result.cpuSeconds, serverCpuSeconds: result.serverCpuSeconds, peakRssMb: result.maxRssBytes / 1024 / 1024, loadAverage: os.loadavg()[0] }));
} finally {
  await cleanup();
  if (!process.env.BENCH_KEEP) rmSync(folder, { recursive: true, force: true });
  else console.log(`kept ${reportFile}`);
}
