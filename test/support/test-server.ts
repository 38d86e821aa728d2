import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApp, type AppDependencies } from '../../server/app';
import { loadConfig, type Config } from '../../server/config';
import type { DatabaseHandle } from '../../server/db/database';
import { createLogger } from '../../server/logger';
import { JobWorker } from '../../server/outbox/job-queue';
import { registerJobHandlers } from '../../server/outbox/job-handlers';
import { createTestDatabase } from './test-database';

export interface TestApp {
  url: string;
  config: Config;
  database: DatabaseHandle;
  jobs: JobWorker;
  dependencies: AppDependencies;
  /** fetch relative to the app's URL. */
  request(pathname: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/**
 * The real app on a random port with its own database. Job workers are registered but not
 * polling: tests call `jobs.drain()` to run background work at a point they choose.
 */
export async function startTestApp(environment: Record<string, string> = {}, options: { database?: DatabaseHandle } = {}): Promise<TestApp> {
  const config = loadConfig({
    BUGLOOP_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'bugloop-app-')),
    SECRET_KEY: 'test-secret-key-test-secret-key-0123456789',
    LOG_LEVEL: 'silent',
    PORT: '0',
    JOB_CONCURRENCY: '2',
    ...environment,
  });
  const database = options.database ?? (await createTestDatabase());
  const logger = createLogger(config.logLevel);
  const jobs = new JobWorker(database.db, logger, { concurrency: config.jobs.concurrency, pollIntervalMs: 50 });
  const dependencies: AppDependencies = { database, logger, jobs };
  await registerJobHandlers(jobs, config, dependencies);
  const server = http.createServer(createApp(config, dependencies).callback());
  // Tests pause between requests (draining jobs); on a busy machine that can outlast Node's 5 s
  // keep-alive, and fetch then reuses a socket the server just closed (ECONNRESET).
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    config,
    database,
    jobs,
    dependencies,
    request: (pathname, init) => fetch(`${url}${pathname}`, init),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await jobs.stop();
      if (!options.database) await database.close();
    },
  };
}
