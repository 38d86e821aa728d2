#!/usr/bin/env node
// `npm start` builds the widget and dashboard, and the compiled CLI, only when their sources
// changed since their last build, so a second start is fast. `npm run build` always builds.
import { execSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledCliIsFresh, isFresh } from './source-freshness.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const clientStamp = path.join(root, 'dist', '.build-stamp');
const clientBuilt = existsSync(path.join(root, 'dist/widget/widget.js')) && existsSync(path.join(root, 'dist/dashboard/index.html'));
if (clientBuilt && isFresh(root, clientStamp, ['widget', 'dashboard', 'shared', 'package-lock.json'])) {
  console.log('Widget and dashboard are up to date; skipping their build.');
} else {
  execSync('npm run build:widget && npm run build:dashboard', { cwd: root, stdio: 'inherit' });
  writeFileSync(clientStamp, new Date().toISOString());
}
// bin/bugloop.js falls back to the TypeScript sources when this is stale, so it is only for speed.
if (!compiledCliIsFresh(root)) {
  execSync('npm run build:cli', { cwd: root, stdio: 'inherit' });
}
