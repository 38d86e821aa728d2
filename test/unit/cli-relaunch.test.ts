import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const binary = path.resolve('bin/bugloop.js');

/** The ids of a process's children, from /proc (Linux, where the tests run). */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let server: http.Server | undefined;
afterEach(() => server?.close());

describe('bin/bugloop.js relaunching a command with its Node flags', { timeout: 60_000 }, () => {
  it('runs the command in a child with the flags, and stopping the CLI stops that child', async () => {
    // A server that takes the upload and never answers: the import waits, so it can be stopped.
    let received!: () => void;
    const uploadArrived = new Promise<void>((resolve) => (received = resolve));
    server = http.createServer(() => received());
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const folder = mkdtempSync(path.join(os.tmpdir(), 'bugloop-relaunch-'));
    const report = path.join(folder, 'junit.xml');
    writeFileSync(report, '<testsuite name="s"><testcase classname="a" name="b"/></testsuite>');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cli = spawn(process.execPath, [binary, 'import-junit', report, '--server', url, '--release', '1.0.0'], {
      env: { ...process.env, BUGLOOP_TOKEN: 'blt_relaunch_test_token' },
      stdio: 'ignore',
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => cli.on('exit', (code, signal) => resolve({ code, signal })));
    await uploadArrived;

    const [child] = childrenOf(cli.pid!);
    expect(child).toBeGreaterThan(0);
    const childArguments = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0');
    expect(childArguments).toContain('--max-semi-space-size=2');
    expect(childArguments).toContain('--heap-growing-percent=50');
    expect(childArguments).toContain('import-junit');

    cli.kill('SIGTERM');
    // The CLI ends as its command did (here: by the forwarded signal), and leaves no child behind.
    expect(await exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(isRunning(child)).toBe(false);
  });
});
