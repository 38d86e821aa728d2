// Whether a build output is older than its sources, by modification times: shared by
// `npm start` (scripts/build-if-stale.mjs) and the CLI (bin/bugloop.js), which runs its compiled
// form only while that is fresh.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** The newest modification time (ms) of a file or of anything in a folder, node_modules aside; 0 when missing. */
export function newestModification(target) {
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

/** True when the stamp file exists and no source (paths relative to root) changed after it was written. */
export function isFresh(root, stampFile, sources) {
  if (!existsSync(stampFile)) return false;
  const built = statSync(stampFile).mtimeMs;
  return sources.every((source) => newestModification(path.join(root, source)) <= built);
}

/** The compiled CLI (scripts/build-cli.mjs writes it; bin/bugloop.js runs it while it is fresh). */
export const compiledCli = {
  folder: path.join('dist', 'cli'),
  stamp: path.join('dist', 'cli', '.build-stamp'),
  sources: ['server', 'shared', 'package-lock.json'],
};

/** True when dist/cli was built after the last change to the CLI's sources. */
export function compiledCliIsFresh(root) {
  return isFresh(root, path.join(root, compiledCli.stamp), compiledCli.sources);
}
