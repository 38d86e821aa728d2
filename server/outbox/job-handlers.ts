import type { AppDependencies } from '../app';
import type { Config } from '../config';
import { aiConfigured, createOpenAiClient, suggestForReport } from '../enrich/ai-suggestions';
import { processReportJobKind } from '../reports/report-ingest';
import { processReports, reportIdOf, suggestReportJobKind } from '../reports/report-processing';
import type { JobWorker } from './job-queue';
import { registerDedupJobHandlers } from '../dedup/dedup-jobs';
import { registerIntegrationJobHandlers } from '../integrations/delivery-jobs';
import { createOutboundNetwork } from '../integrations/outbound-network';

/** Reports processed per transaction when many are waiting; one bad report retries alone. */
export const reportBatchSize = 50;

/**
 * The one place where job kinds meet their handlers. Each feature exports its handler;
 * registering here keeps the worker free of feature imports.
 */
export async function registerJobHandlers(jobs: JobWorker, config: Config, dependencies: AppDependencies): Promise<void> {
  const aiEnabled = aiConfigured(config);
  const client = aiEnabled ? createOpenAiClient(config) : undefined;
  const embeddingModel = aiEnabled ? config.openai.embeddingModel : undefined;
  const processing = { aiEnabled, embeddings: Boolean(embeddingModel) };
  // Reports arrive in floods: up to 50 are processed per transaction (one commit, one claim).
  jobs.registerBatch(processReportJobKind, (batch, trx) => processReports(trx, batch.map(reportIdOf), processing), { maxBatch: reportBatchSize });
  if (client) jobs.register(suggestReportJobKind, (job, trx) => suggestForReport(trx, client, config.openai.model, reportIdOf(job)));
  await registerDedupJobHandlers(jobs, dependencies.database.db, dependencies.logger, client && embeddingModel ? { client, model: embeddingModel } : undefined);
  registerIntegrationJobHandlers(jobs, {
    secretKey: config.secretKey,
    publicUrl: config.publicUrl,
    network: createOutboundNetwork({ allowPrivateAddresses: config.allowPrivateDestinationAddresses }),
    logger: dependencies.logger,
  });
}
