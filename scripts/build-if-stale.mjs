#!/usr/bin/env node
// `npm start` builds the widget and dashboard only when their sources changed since the last
// build, so a second start is fast. `npm run build` always builds.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const stamp = path.join(root, 'dist', '.build-stamp');
const sources = ['widget', 'dashboard', 'shared', 'package-lock.json'];

function newestModification(target) {
  if (!existsSync(target)) return 0;
  const stats = statSync(target);
  if (!stats.isDirectory()) return stats.mtimeMs;
  let newest = stats.mtimeMs;
  for (const entry of readdirSync(target)) {
    if (entry === 'node_modules') continue;
    newest = Math.max(newest, newestModification(path.join(target, entry)));
  }
  return newest;
}

const sourceTime = Math.max(...sources.map((source) => newestModification(path.join(root, source))));
if (existsSync(stamp) && statSync(stamp).mtimeMs >= sourceTime && existsSync(path.join(root, 'dist/widget/widget.js')) && existsSync(path.join(root, 'dist/dashboard/index.html'))) {
  console.log('Widget and dashboard are up to date; skipping the build.');
} else {
  execSync('npm run build', { cwd: root, stdio: 'inherit' });
  writeFileSync(stamp, new Date().toISOString());
}
