import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchServerRequest, BenchServerStats } from './bench-server';

/** A server under benchmark, in its own process (bench/bench-server.ts). */
export interface BenchServerProcess {
  url: string;
  pid: number;
  stats(): Promise<BenchServerStats>;
  /** Pauses (false) or resumes (true) the job workers. */
  runJobs(run: boolean): Promise<void>;
  startProfile(): Promise<void>;
  stopProfile(file: string): Promise<void>;
  /** Resident set size read from /proc (works even while the event loop is busy). */
  rssFromProc(): number;
  stop(): Promise<void>;
}

/**
 * Starts the real server (or, with `baseline`, the bare Koa baseline) in a child process with
 * the given environment, and waits until it listens.
 */
export async function spawnBenchServer(environment: Record<string, string>, options: { baseline?: boolean; nodeOptions?: string[] } = {}): Promise<BenchServerProcess> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./bench-server.ts', import.meta.url)), [], {
    env: { ...process.env, ...environment, ...(options.baseline ? { BENCH_BASELINE: '1' } : {}) },
    execArgv: ['--import', 'tsx', ...(options.nodeOptions ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<string, { resolve: (message: unknown) => void; reject: (error: Error) => void }[]>();
  child.on('message', (message: { type: string }) => waiting.get(message.type)?.shift()?.resolve(message));
  child.once('exit', (code) => {
    for (const list of waiting.values()) for (const pending of list.splice(0)) pending.reject(new Error(`bench server exited (${code})`));
  });
  const expect = <T>(type: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const list = waiting.get(type) ?? [];
      list.push({ resolve: resolve as (message: unknown) => void, reject });
      waiting.set(type, list);
    });
  const request = <T>(message: BenchServerRequest): Promise<T> => {
    const answer = expect<T>(message.type);
    child.send(message);
    return answer;
  };
  const ready = await expect<{ url: string }>('ready');
  return {
    url: ready.url,
    pid: child.pid!,
    stats: () => request<BenchServerStats>({ type: 'stats' }),
    runJobs: (run) => request<void>({ type: 'jobs', run }),
    startProfile: () => request<void>({ type: 'profile-start' }),
    stopProfile: (file) => request<void>({ type: 'profile-stop', file }),
    rssFromProc() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'stop' } satisfies BenchServerRequest);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
