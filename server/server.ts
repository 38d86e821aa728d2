import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDependencies } from './app';
import { type Config, ConfigError } from './config';
import { databaseTargetFromConfig, openDatabase, type DatabaseHandle } from './db/database';
import { recordServerUrlInLock } from './db/data-directory-lock';
import { DatabaseMaintenance } from './db/maintenance';
import { migrateToLatest } from './db/migrate';
import type { Logger } from './logger';
import { HttpLoad } from './http/request-context';
import { JobWorker } from './outbox/job-queue';
import { registerJobHandlers } from './outbox/job-handlers';

export interface RunningServer {
  url: string;
  server: http.Server;
  database: DatabaseHandle;
  jobs: JobWorker;
  /** Stops accepting, finishes in-flight requests and jobs, closes the database. */
  close(): Promise<void>;
}

/** Opens and migrates the database, starts the job workers and the HTTP server. */
export async function startServer(config: Config, logger: Logger, options: { database?: DatabaseHandle } = {}): Promise<RunningServer> {
  const target = databaseTargetFromConfig(config);
  const database = options.database ?? (await openDatabase(target, logger));
  try {
    await migrateToLatest(database.db, logger);
  } catch (error) {
    await database.close();
    throw error;
  }
  const httpLoad = new HttpLoad();
  const jobs = new JobWorker(database.db, logger, {
    concurrency: config.jobs.concurrency,
    pollIntervalMs: config.jobs.pollIntervalMs,
    leaseMs: config.jobs.leaseMs,
    // Workers share the process (and, on small machines, the cores) with HTTP: under a flood the
    // 202s come first, processing catches up after (the queue is durable).
    httpRequestsPerSecond: () => httpLoad.requestsPerSecond,
  });
  const dependencies: AppDependencies = { database, logger, jobs, httpLoad };
  await registerJobHandlers(jobs, config, dependencies);
  const app = createApp(config, dependencies);
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
  } catch (error) {
    // A taken port is the most common first-start failure (another dev server on 3000): say
    // what to do instead of a stack trace, and let go of the embedded database's folder.
    if (!options.database) await database.close();
    throw listenError(error as NodeJS.ErrnoException, config);
  }
  const address = server.address() as AddressInfo;
  const url = `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${address.port}`;
  if (database.backend === 'pglite' && target.kind === 'pglite' && target.dataDirectory !== 'memory') {
    recordServerUrlInLock(target.dataDirectory, url);
  }
  // A sole session (the embedded database, one process): anything left 'running' was orphaned by
  // the last process.
  await jobs.start({ recoverAllRunning: database.soleSession });
  // PGlite has no autovacuum: without this, dedup retrieval slows down with every report.
  const maintenance = new DatabaseMaintenance(database, logger);
  await maintenance.start();

  let closing: Promise<void> | undefined;
  return {
    url,
    server,
    database,
    jobs,
    close() {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await serverClosed;
        await maintenance.stop();
        await jobs.stop();
        await database.close();
      })();
      return closing;
    },
  };
}

/** The error to show when the HTTP server cannot listen: a clear one for a port taken or not allowed. */
function listenError(error: NodeJS.ErrnoException, config: Config): Error {
  const where = `${config.host}:${config.port}`;
  if (error.code === 'EADDRINUSE') {
    return new ConfigError(
      `Port ${config.port} is already in use (${where}): another Bugloop or another program is listening there. ` +
        `Stop it, or start on another port: PORT=${config.port + 1} npm start, or bugloop serve --port ${config.port + 1}.`,
    );
  }
  if (error.code === 'EACCES') {
    return new ConfigError(`Port ${config.port} needs privileges on this machine (${where}; ports below 1024 usually do). Choose another: PORT=3000 npm start.`);
  }
  return error;
}
