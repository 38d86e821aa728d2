import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A PostgreSQL cluster of a test's own (initdb into a temporary folder, its own port and socket
 * folder), so a fault test can stop and restart the database without touching the machine's
 * shared server on 5432 that other test runs use.
 */
export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust authentication). */
  url: string;
  port: number;
  /** `pg_ctl stop`: `fast` disconnects clients and shuts down cleanly, `immediate` is a crash. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Stops, waits `downMs`, starts again on the same port. */
  restart(options?: { mode?: 'fast' | 'immediate'; downMs?: number }): Promise<void>;
  /** The server log, for failure messages. */
  log(): string;
  /** Stops the server and deletes the folder. */
  destroy(): void;
}

/** Why the fault tests that need a private cluster cannot run here; undefined when they can. */
export function privatePostgresUnavailableReason(): string | undefined {
  return findPostgresBinaries() ? undefined : 'no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb and pg_ctl); install the postgresql package';
}

/**
 * Whether a test that needs the binaries may skip: not when BUGLOOP_REQUIRE_POSTGRES_BINARIES=1
 * (CI sets it after installing PostgreSQL), so a broken install fails instead of skipping quietly.
 */
export function skipWithoutPostgresBinaries(): boolean {
  const reason = privatePostgresUnavailableReason();
  if (!reason) return false;
  if (process.env.BUGLOOP_REQUIRE_POSTGRES_BINARIES === '1') {
    throw new Error(`BUGLOOP_REQUIRE_POSTGRES_BINARIES=1 but the fault tests cannot start a private PostgreSQL: ${reason}`);
  }
  console.warn(`[bugloop tests] skipping fault tests that need a private PostgreSQL: ${reason}`);
  return true;
}

/** The bin folder of the newest PostgreSQL installed (Debian layout), or BUGLOOP_POSTGRES_BIN. */
export function findPostgresBinaries(): string | undefined {
  const candidates = process.env.BUGLOOP_POSTGRES_BIN
    ? [process.env.BUGLOOP_POSTGRES_BIN]
    : existsSync('/usr/lib/postgresql')
      ? readdirSync('/usr/lib/postgresql')
          .filter((version) => /^\d+(\.\d+)?$/.test(version))
          .sort((a, b) => Number(b) - Number(a))
          .map((version) => path.join('/usr/lib/postgresql', version, 'bin'))
      : [];
  return candidates.find((folder) => existsSync(path.join(folder, 'initdb')) && existsSync(path.join(folder, 'pg_ctl')));
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * initdb refuses to run as root (CI and this machine run tests as root), so there the cluster
 * belongs to the `postgres` user and every server command runs through `runuser -u postgres`.
 */
function runAsOwner(): { prefix: string[]; uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return { prefix: [] };
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { prefix: ['runuser', '-u', 'postgres', '--'], uid, gid };
}

/** Creates and starts a cluster; throws when the binaries are missing (check `skipWithoutPostgresBinaries` first). */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = findPostgresBinaries();
  if (!bin) throw new Error(privatePostgresUnavailableReason());
  const owner = runAsOwner();
  const folder = mkdtempSync(path.join(os.tmpdir(), 'bugloop-pg-'));
  if (owner.uid !== undefined) chownSync(folder, owner.uid, owner.gid!);
  const dataDirectory = path.join(folder, 'data');
  const logFile = path.join(folder, 'server.log');
  const port = await freePort();
  const commandLine = (program: string, args: string[]) => [...owner.prefix, path.join(bin, program), ...args];
  const runSync = (program: string, args: string[]) => {
    const [command, ...rest] = commandLine(program, args);
    return execFileSync(command, rest, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  };
  // Asynchronous, so a test's clients keep sending (and timing their requests) while pg_ctl waits.
  const run = async (program: string, args: string[]) => {
    const [command, ...rest] = commandLine(program, args);
    await promisify(execFile)(command, rest, { encoding: 'utf8', timeout: 60_000 });
  };
  runSync('initdb', ['-D', dataDirectory, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  // fsync off: the tests crash processes, never the machine, so the OS cache keeps every write.
  const serverOptions = `-p ${port} -k ${folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`;
  let running = false;
  const handle: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async start() {
      await run('pg_ctl', ['-D', dataDirectory, '-l', logFile, '-w', '-t', '60', '-o', serverOptions, 'start']);
      running = true;
    },
    async stop(mode = 'fast') {
      if (!running) return;
      await run('pg_ctl', ['-D', dataDirectory, '-m', mode, '-w', '-t', '60', 'stop']);
      running = false;
    },
    async restart({ mode = 'fast', downMs = 0 } = {}) {
      await handle.stop(mode);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await handle.start();
    },
    log() {
      try {
        return execFileSync('tail', ['-n', '60', logFile], { encoding: 'utf8' });
      } catch {
        return '';
      }
    },
    destroy() {
      try {
        // Synchronous: it also runs from the process's exit handler.
        if (running) runSync('pg_ctl', ['-D', dataDirectory, '-m', 'immediate', '-w', '-t', '60', 'stop']);
        running = false;
      } catch {
        // already stopped
      }
      process.off('exit', destroyOnExit);
      rmSync(folder, { recursive: true, force: true });
    },
  };
  // If the test process dies, leave no server running behind it.
  const destroyOnExit = () => handle.destroy();
  process.on('exit', destroyOnExit);
  await handle.start();
  return handle;
}
