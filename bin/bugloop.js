#!/usr/bin/env node
// Runs the compiled CLI (dist/cli, written by `npm run build`) while it is newer than every file
// under server/ and shared/; otherwise the TypeScript sources through tsx, so that an edit is
// never run stale and a checkout without a build still works. BUGLOOP_FROM_SOURCE=1 forces the
// sources. Compiled, a command starts faster and holds less memory (no TypeScript loader).
import { fileURLToPath } from 'node:url';
import { compiledCliIsFresh } from '../scripts/source-freshness.mjs';

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
