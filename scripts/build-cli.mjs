#!/usr/bin/env node
// `npm run build:cli`: compiles the CLI and the server (server/cli/main.ts and what it imports)
// into dist/cli, one ES module per entry point and lazily imported part, with packages left as
// imports of node_modules. bin/bugloop.js runs this while it is newer than the sources: no
// TypeScript loader (tsx registers a loader thread and keeps transpiled sources), so a command
// starts faster and an import holds about 70 MB less memory (`npm run bench:junit`).
import { writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { cliBuildOptions } from './cli-build-options.mjs';
import { compiledCli } from './source-freshness.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const cliOutput = path.join(root, compiledCli.folder);

rmSync(cliOutput, { recursive: true, force: true });
await build({
  entryPoints: [path.join(root, 'server', 'cli', 'main.ts')],
  outdir: cliOutput,
  ...cliBuildOptions,
  splitting: true,
  sourcemap: 'linked',
});
// Written last: a build that failed halfway leaves no stamp, so the CLI keeps running the sources.
writeFileSync(path.join(root, compiledCli.stamp), new Date().toISOString());
