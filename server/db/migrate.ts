import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from './schema';
import * as initial from './migrations/20261122_0001_initial';
import * as dedupIndex from './migrations/20261122_0100_dedup_index';
import * as requirements from './migrations/20261122_0300_requirements';
import * as integrationDelivery from './migrations/20261122_0400_integration_delivery';
import * as defectStates from './migrations/20261122_0500_defect_states';
import * as defectImpact from './migrations/20261122_0200_defect_impact';
import * as dedupEmbeddings from './migrations/20261201_1000_dedup_embeddings';
import * as auditLog from './migrations/20261201_1300_audit_log';
import * as jobTotalAttempts from './migrations/20261201_1400_job_total_attempts';
import * as processingIndexes from './migrations/20261201_1500_processing_indexes';
import * as manualSendIndex from './migrations/20261202_2000_manual_send_index';
import * as defectReportTallies from './migrations/20261203_0100_defect_report_tallies';
import * as defectCurrentFacts from './migrations/20261204_0100_defect_current_facts';
import * as defectStatesSpan from './migrations/20261205_0100_defect_states_span';

/**
 * Migrations are listed here rather than read from the folder, so they work the same under
 * tsx, in a bundle and in tests. Names sort by their timestamp prefix.
 */
const migrations: Record<string, Migration> = {
  '20261122_0001_initial': initial,
  '20261122_0100_dedup_index': dedupIndex,
  '20261122_0300_requirements': requirements,
  '20261122_0400_integration_delivery': integrationDelivery,
  '20261122_0500_defect_states': defectStates,
  '20261122_0200_defect_impact': defectImpact,
  '20261201_1000_dedup_embeddings': dedupEmbeddings,
  '20261201_1300_audit_log': auditLog,
  '20261201_1400_job_total_attempts': jobTotalAttempts,
  '20261201_1500_processing_indexes': processingIndexes,
  '20261202_2000_manual_send_index': manualSendIndex,
  '20261203_0100_defect_report_tallies': defectReportTallies,
  '20261204_0100_defect_current_facts': defectCurrentFacts,
  '20261205_0100_defect_states_span': defectStatesSpan,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Brings the schema up to date; safe to call from several processes at once (advisory lock). */
export async function migrateToLatest(db: Kysely<Database>, logger: Logger): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  const applied = (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
  for (const name of applied) logger.info(`migration applied: ${name}`);
  const failed = results?.find((result) => result.status === 'Error');
  if (error || failed) {
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${(error as Error)?.message ?? error}`, { cause: error });
  }
  return applied;
}
