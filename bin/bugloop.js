#!/usr/bin/env node
// Runs the compiled CLI (dist/cli, written by `npm run build`) while it is newer than every file
// under server/ and shared/; otherwise the TypeScript sources through tsx, so that an edit is
// never run stale and a checkout without a build still works. BUGLOOP_FROM_SOURCE=1 forces the
// sources. Compiled, a command starts faster and holds less memory (no TypeScript loader).
// A command that wants other Node flags (scripts/cli-node-flags.mjs) is run in a child process
// started with them: V8 sizes its heap when the process starts, so they cannot be set later.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { relaunchArguments } from '../scripts/cli-node-flags.mjs';
import { compiledCliIsFresh } from '../scripts/source-freshness.mjs';

const relaunch = relaunchArguments(process.argv.slice(1), process.execArgv);
if (relaunch) {
  const child = spawn(process.execPath, relaunch, { stdio: 'inherit' });
  child.on('error', (error) => {
    console.error(`Could not start ${process.execPath}: ${error.message}`);
    process.exitCode = 1;
  });
  // Stopping this process stops the command; its own exit (code or signal) becomes this one's.
  const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const forward = (signal) => child.kill(signal);
  for (const signal of forwarded) process.on(signal, forward);
  child.on('exit', (code, signal) => {
    if (signal) {
      for (const name of forwarded) process.off(name, forward);
      process.kill(process.pid, signal);
    } else {
      process.exitCode = code ?? 1;
    }
  });
} else {
  const runCompiled = process.env.BUGLOOP_FROM_SOURCE !== '1' && compiledCliIsFresh(fileURLToPath(new URL('..', import.meta.url)));
  let main;
  if (runCompiled) {
    ({ main } = await import(new URL('../dist/cli/main.js', import.meta.url).href));
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    ({ main } = await import('../server/cli/main.ts'));
  }
  const code = await main(process.argv.slice(2));
  if (code !== undefined) process.exitCode = code;
}
