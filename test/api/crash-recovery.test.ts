import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEmptyPostgresDatabase } from '../support/test-database';

/**
 * Kills real server processes with SIGKILL between storing and processing, and in the middle
 * of processing, then restarts: every report the server answered 202 is processed exactly once.
 */
const binary = path.resolve('bin/bugloop.js');
const setup = inject('testDatabase');
const environment: Record<string, string> = {
  ...(process.env as Record<string, string>),
  BUGLOOP_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'bugloop-crash-')),
  PORT: '0',
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_IP_PER_MINUTE: '100000',
  JOB_POLL_INTERVAL_MS: '20',
  // On PostgreSQL orphans are reclaimed after the lease (other processes may share the queue).
  JOB_LEASE_MS: '1000',
};
delete environment.DATABASE_URL;
let scratch: Awaited<ReturnType<typeof createEmptyPostgresDatabase>>;

beforeAll(async () => {
    scratch = await createEmptyPostgresDatabase('crash');
  if (scratch) environment.DATABASE_URL = scratch.url;
});
afterAll(async () => {
  await scratch?.drop();
});

function serve(extra: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string; key: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binary, 'serve'], { env: { ...environment, ...extra } });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 60_000);
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const url = output.match(/Dashboard:\s+(http:\/\/\S+?)\/\n/)?.[1];
      const key = output.match(/Demo key:\s+(pk_\w+)/)?.[1];
      if (url && key) {
        clearTimeout(timer);
        resolve({ child, url, key });
      }
    });
    child.stderr!.on('data', (chunk) => (output += chunk));
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
  });
}

function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill(signal);
  });
}

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binary, ...args], { env: environment });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(stderr))));
  });
}

async function sendReports(url: string, key: string, count: number, sent: string[]): Promise<void> {
  for (let index = 0; index < count; index += 1) {
    const id = randomUUID();
    const response = await fetch(`${url}/api/v1/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-bugloop-key': key },
      body: JSON.stringify({ id, description: `Crash test report ${index} ${id}`, url: `https://shop.example.com/orders/${index}` }),
    });
    expect(response.status).toBe(202);
    sent.push(id);
  }
}

async function query<T>(sql: string): Promise<T[]> {
  if (setup.kind !== 'postgres') throw new Error('direct queries only on PostgreSQL');
  const client = new pg.Client({ connectionString: environment.DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('crash recovery', () => {
  it('processes every accepted report exactly once after SIGKILLs', async () => {
    const sent: string[] = [];
    // 1. Store only (no workers), then die without any shutdown.
    const storing = await serve({ JOB_CONCURRENCY: '0' });
    await sendReports(storing.url, storing.key, 15, sent);
    await exited(storing.child, 'SIGKILL');

    // 2. Workers on: kill while processing is in flight.
    const processing = await serve({ JOB_CONCURRENCY: '4' });
    await sendReports(processing.url, processing.key, 15, sent);
    await exited(processing.child, 'SIGKILL');

    // 3. Restart until the queue is drained.
    for (let round = 0; round < 10; round += 1) {
      const recovering = await serve({ JOB_CONCURRENCY: '4' });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await exited(recovering.child, 'SIGTERM');
      const status = await cli(['jobs', 'status']);
      if (/pending\s+0\n/.test(status) && /running\s+0\n/.test(status)) break;
    }
    const status = await cli(['jobs', 'status']);
    expect(status).toMatch(/pending\s+0\n/);
    expect(status).toMatch(/running\s+0\n/);
    expect(status).toMatch(/dead\s+0\n/);
    expect(status).toMatch(new RegExp(`done\\s+${sent.length}\\n`));

    if (setup.kind === 'postgres') {
      const rows = await query<{ clientId: string; state: string; events: string }>(`
        select r.client_id as "clientId", r.state,
               (select count(*) from defect_events e where e.kind = 'report_added' and e.new_value ->> 'reportId' = r.id::text) as events
        from reports r`);
      expect(rows).toHaveLength(sent.length);
      expect(new Set(rows.map((row) => row.clientId))).toEqual(new Set(sent));
      expect(rows.every((row) => row.state === 'processed' && Number(row.events) === 1)).toBe(true);
    }
  }, 180_000);
});
