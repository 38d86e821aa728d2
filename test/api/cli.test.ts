import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createEmptyPostgresDatabase } from '../support/test-database';

const binary = path.resolve('bin/bugloop.js');
const setup = inject('testDatabase');
const environment: Record<string, string> = {
  ...(process.env as Record<string, string>),
  BUGLOOP_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'bugloop-cli-')),
  PORT: '0',
  LOG_LEVEL: 'warn',
  ADMIN_EMAIL: 'owner@example.com',
};
delete environment.DATABASE_URL;
delete environment.ADMIN_PASSWORD;
let scratch: Awaited<ReturnType<typeof createEmptyPostgresDatabase>>;

beforeAll(async () => {
    // An empty database: the CLI must migrate it itself.
    scratch = await createEmptyPostgresDatabase('cli');
  if (scratch) environment.DATABASE_URL = scratch.url;
});
afterAll(async () => {
  await scratch?.drop();
});

function run(args: string[], extraEnvironment: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [binary, ...args], { env: { ...environment, ...extraEnvironment } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `bugloop serve` and resolves with its banner once it prints the dashboard URL. */
function serve(): Promise<{ child: ChildProcess; banner: string; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binary, 'serve'], { env: environment });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 60_000);
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const match = output.match(/Dashboard:\s+(http:\/\/\S+?)\/\n/);
      if (match && output.includes('Demo page')) {
        clearTimeout(timer);
        setTimeout(() => resolve({ child, banner: output, url: match[1] }), 100);
      }
    });
    child.stderr!.on('data', (chunk) => (output += chunk));
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

describe('bugloop CLI', () => {
  let demoKey = '';

  it('serve: first start creates the admin and demo project and prints how to reach them', async () => {
    const { child, banner, url } = await serve();
    try {
      expect(banner).toContain('Admin:       owner@example.com');
      expect(banner).toMatch(/Password:\s+[A-Za-z0-9]{5}-[A-Za-z0-9]{5}-[A-Za-z0-9]{5}-[A-Za-z0-9]{5}\s+\(shown once/);
      demoKey = banner.match(/Demo key:\s+(pk_[A-Za-z0-9]+)/)![1];
      const health = await fetch(`${url}/healthz`);
      expect(await health.json()).toEqual({ status: 'ok', database: 'ok' });
      const demo = await (await fetch(`${url}/demo`)).text();
      expect(demo).toContain(`data-project-key="${demoKey}"`);

      if (setup.kind === 'pglite') {
        // The embedded database belongs to one process: a second one is refused with advice.
        const refused = await run(['create-project', '--name', 'While running']);
        expect(refused.code).toBe(2);
        expect(refused.stderr).toContain('is in use by bugloop');
        expect(refused.stderr).toContain(url);
      }
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  it('serve: a second start reuses everything and shows no password', async () => {
    const { child, banner } = await serve();
    try {
      expect(banner).not.toMatch(/shown once/);
      expect(banner).toContain(`Demo key:    ${demoKey}`);
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  it('serve: a port already in use is named with what to do, not a stack trace', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const refused = await run(['serve', '--port', String(port)]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`Port ${port} is already in use`);
      expect(refused.stderr).toContain(`bugloop serve --port ${port + 1}`);
      expect(refused.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
    // The embedded database was let go: the next start opens it.
    const { child } = await serve();
    expect(await stop(child)).toBe(0);
  });

  it('create-project prints the public key and token create prints a token once', async () => {
    const created = await run(['create-project', '--name', 'Web shop', '--origin', 'https://app.example.com']);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/public key:\s+pk_[A-Za-z0-9]{24}/);
    const projectId = created.stdout.match(/id:\s+([0-9a-f-]{36})/)![1];

    const token = await run(['token', 'create', '--project', projectId, '--scopes', 'reports:write,test-runs:write']);
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/blt_[A-Za-z0-9]{40}/);
    expect(token.stdout).toContain('Scopes: reports:write, test-runs:write');
  });

  it('explains bad input instead of failing obscurely', async () => {
    const badScope = await run(['token', 'create', '--project', '00000000-0000-0000-0000-000000000000', '--scopes', 'reports:write']);
    expect(badScope.code).toBe(1);
    expect(badScope.stderr).toContain('No project with id');

    const missing = await run(['create-project']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('--name is required');

    const badOrigin = await run(['create-project', '--name', 'X', '--origin', 'https://x.example.com/path']);
    expect(badOrigin.code).toBe(1);
    expect(badOrigin.stderr).toContain('is not an origin');

    const help = await run(['create-admin', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('bugloop create-admin --email E');
  });

  it('runs the same from the compiled CLI (dist/cli, built by npm test) and from the TypeScript sources', async () => {
    const compiled = await run(['create-project', '--help']);
    const fromSource = await run(['create-project', '--help'], { BUGLOOP_FROM_SOURCE: '1' });
    expect(compiled.code).toBe(0);
    expect(fromSource).toEqual(compiled);
    expect(compiled.stdout).toContain('bugloop create-project');
    // A command that opens the database and reaches the lazily imported importer, both ways.
    for (const extra of [{}, { BUGLOOP_FROM_SOURCE: '1' }] as Record<string, string>[]) {
      const missingFile = await run(['import-junit', path.join(os.tmpdir(), 'no-such-report-*.xml'), '--release', '1.0.0', '--project', '00000000-0000-0000-0000-000000000000'], extra);
      expect(missingFile.code, JSON.stringify(extra)).toBe(1);
      expect(missingFile.stderr).toMatch(/No project with id|No file matches/);
    }
  });

  it('create-admin prints a generated password once', async () => {
    const result = await run(['create-admin', '--email', 'second@example.com']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Password \(shown once\): \S{23}/);
    const again = await run(['create-admin', '--email', 'SECOND@example.com']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
  });
});
