import type { AppDependencies } from '../app';
import type { Config } from '../config';
import { aiConfigured, createOpenAiClient, suggestForReport } from '../enrich/ai-suggestions';
import { processReportJobKind } from '../reports/report-ingest';
import { processReports, reportIdOf, suggestReportJobKind } from '../reports/report-processing';
import type { JobWorker } from './job-queue';
import { registerIntegrationJobHandlers } from '../integrations/delivery-jobs';

/** Reports processed per transaction when many are waiting; one bad report retries alone. */
export const reportBatchSize = 50;

/**
 * The one place where job kinds meet their handlers. Each feature exports its handler;
 * registering here keeps the worker free of feature imports.
 */
export function registerJobHandlers(jobs: JobWorker, config: Config, dependencies: AppDependencies): void {
  void dependencies;
  const aiEnabled = aiConfigured(config);
  // Reports arrive in floods: up to 50 are processed per transaction (one commit, one claim).
  jobs.registerBatch(processReportJobKind, (batch, trx) => processReports(trx, batch.map(reportIdOf), { aiEnabled }), { maxBatch: reportBatchSize });
  if (aiEnabled) {
    const client = createOpenAiClient(config);
    jobs.register(suggestReportJobKind, (job, trx) => suggestForReport(trx, client, config.openai.model, reportIdOf(job)));
  }
  registerIntegrationJobHandlers(jobs, { secretKey: config.secretKey, publicUrl: config.publicUrl });
}
