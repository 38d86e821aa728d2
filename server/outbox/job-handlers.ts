import type { AppDependencies } from '../app';
import type { Config } from '../config';
import type { JobWorker } from './job-queue';
import { registerIntegrationJobHandlers } from '../integrations/delivery-jobs';

/**
 * The one place where job kinds meet their handlers. Each feature exports its handler;
 * registering here keeps the worker free of feature imports.
 */
export function registerJobHandlers(jobs: JobWorker, config: Config, dependencies: AppDependencies): void {
  void dependencies;
  registerIntegrationJobHandlers(jobs, { secretKey: config.secretKey, publicUrl: config.publicUrl });
}
