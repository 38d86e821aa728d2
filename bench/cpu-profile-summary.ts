/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): where the process spent its CPU, by
 * function (self time) and by source area (our folders, each dependency, node internals).
 *
 *   npx tsx bench/cpu-profile-summary.ts PROFILE.cpuprofile [--top 25] [--since-ms N]
 *
 * `--since-ms` skips the first N ms of the profile (start-up, migrations) so that only the
 * steady state under load is counted.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self and total (inclusive) CPU time per function and per source area of one profile. */
export function summarizeProfile(profile: CpuProfile, sinceMs = 0): { totalMs: number; idleMs: number; functions: [string, number][]; areas: [string, number][]; inclusiveAreas: [string, number][] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfMicros = new Map<number, number>();
  let elapsed = 0;
  for (let index = 0; index < profile.samples.length; index += 1) {
    elapsed += profile.timeDeltas[index];
    if (elapsed < sinceMs * 1000) continue;
    const delta = profile.timeDeltas[index + 1] ?? 0;
    selfMicros.set(profile.samples[index], (selfMicros.get(profile.samples[index]) ?? 0) + delta);
  }
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  const inclusiveAreas = new Map<string, number>();
  let totalMicros = 0;
  let idleMicros = 0;
  for (const [id, micros] of selfMicros) {
    const node = byId.get(id)!;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)' || name === '(program)' || name === '(garbage collector)') {
      if (name === '(idle)') idleMicros += micros;
      else areas.set(name, (areas.get(name) ?? 0) + micros);
      if (name !== '(idle)') totalMicros += micros;
      continue;
    }
    totalMicros += micros;
    const label = `${name} ${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
    functions.set(label, (functions.get(label) ?? 0) + micros);
    const area = areaOf(node.callFrame.url);
    areas.set(area, (areas.get(area) ?? 0) + micros);
    // Inclusive: charge the sample to each distinct area on its stack (our code gets its callees).
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const frameArea = areaOf(byId.get(current)!.callFrame.url);
      if (!seen.has(frameArea)) {
        seen.add(frameArea);
        inclusiveAreas.set(frameArea, (inclusiveAreas.get(frameArea) ?? 0) + micros);
      }
    }
  }
  const sorted = (map: Map<string, number>) => [...map].map(([key, micros]) => [key, micros / 1000] as [string, number]).sort((a, b) => b[1] - a[1]);
  return { totalMs: totalMicros / 1000, idleMs: idleMicros / 1000, functions: sorted(functions), areas: sorted(areas), inclusiveAreas: sorted(inclusiveAreas) };
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length);
  const repo = url.search(/\/(server|shared|bench|test)\//);
  return repo >= 0 ? url.slice(repo + 1) : url.replace(/^file:\/\//, '');
}

/** Our folders (server/reports, server/dedup, …), each npm package, or node's internals. */
function areaOf(url: string): string {
  if (!url) return '(native)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node internals';
  const repo = /\/(server|shared|bench|test)\/([^/]+)/.exec(url);
  if (repo) return repo[1] === 'server' && !repo[2].endsWith('.ts') ? `server/${repo[2]}` : repo[1] === 'server' ? `server/${repo[2]}` : repo[1];
  return url;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, 'since-ms': { type: 'string', default: '0' } } });
  for (const file of positionals) {
    const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(values['since-ms']));
    const top = Number(values.top);
    const percent = (ms: number) => `${((100 * ms) / summary.totalMs).toFixed(1).padStart(5)} %`;
    console.log(`${file}: ${summary.totalMs.toFixed(0)} ms busy, ${summary.idleMs.toFixed(0)} ms idle`);
    console.log('\nby area (self time):');
    for (const [area, ms] of summary.areas.slice(0, top)) console.log(`  ${percent(ms)} ${ms.toFixed(0).padStart(7)} ms  ${area}`);
    console.log('\nby area (inclusive: the area or anything it called):');
    for (const [area, ms] of summary.inclusiveAreas.slice(0, top)) console.log(`  ${percent(ms)} ${ms.toFixed(0).padStart(7)} ms  ${area}`);
    console.log('\nby function (self time):');
    for (const [name, ms] of summary.functions.slice(0, top)) console.log(`  ${percent(ms)} ${ms.toFixed(0).padStart(7)} ms  ${name}`);
  }
}
