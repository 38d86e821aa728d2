import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/** Held while a process has the embedded database open. */
export interface DataDirectoryLock {
  release(): void;
}

/** Raised when another live process holds the embedded database. */
export class DataDirectoryLockedError extends Error {
  override name = 'DataDirectoryLockedError';
  constructor(
    readonly dataDirectory: string,
    readonly holder: { pid: number; owner: string; url?: string },
  ) {
    super(
      `The embedded database at ${dataDirectory} is in use by ${holder.owner} (pid ${holder.pid}` +
        `${holder.url ? `, serving ${holder.url}` : ''}). It belongs to one process at a time: ` +
        `stop that process first (Ctrl+C or kill ${holder.pid}), or use the dashboard or API of the running server, ` +
        `or point DATABASE_URL at a PostgreSQL server, which many processes can share.`,
    );
  }
}

/**
 * Takes an exclusive lock file beside the data directory. A lock left by a process that no
 * longer exists (a crash, SIGKILL) is taken over, so a crash never blocks the next start.
 */
export function acquireDataDirectoryLock(dataDirectory: string, owner: string, url?: string): DataDirectoryLock {
  const file = `${dataDirectory}.lock`;
  const content = JSON.stringify({ pid: process.pid, owner, url });
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(file, content, { flag: 'wx' });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          const current = JSON.parse(readFileSync(file, 'utf8')) as { pid: number };
          if (current.pid === process.pid) rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
      process.once('exit', release);
      return { release };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readHolder(file);
      if (holder && holder.pid !== process.pid && isAlive(holder.pid)) {
        throw new DataDirectoryLockedError(dataDirectory, holder);
      }
      rmSync(file, { force: true });
    }
  }
  throw new Error(`Could not lock ${file}`);
}

/** Updates the URL recorded in the lock, so a refused CLI command can say where the server is. */
export function recordServerUrlInLock(dataDirectory: string, url: string): void {
  const file = `${dataDirectory}.lock`;
  const holder = readHolder(file);
  if (holder?.pid === process.pid) writeFileSync(file, JSON.stringify({ ...holder, url }));
}

function readHolder(file: string): { pid: number; owner: string; url?: string } | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
