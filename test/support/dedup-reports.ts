import type { Kysely } from 'kysely';
import type { Database, ReportRow } from '../../server/db/schema';
import { type Assignment, assignReportToDefect } from '../../server/dedup/assign-report';

/** Stores a report as ingest would, then runs the dedup stage on it in its own transaction. */
export async function processReport(
  db: Kysely<Database>,
  projectId: string,
  input: {
    title?: string | null;
    description: string;
    route?: string | null;
    errorSignature?: string | null;
    requestSignature?: string | null;
    reporterId?: string | null;
    reporterEmail?: string | null;
    receivedAt?: Date;
    enrichment?: Record<string, unknown>;
  },
  options: { autoMerge?: boolean } = {},
): Promise<{ report: ReportRow; assignment: Assignment }> {
  return db.transaction().execute(async (trx) => {
    const report = await trx
      .insertInto('reports')
      .values({
        projectId,
        clientId: crypto.randomUUID(),
        payload: JSON.stringify({ description: input.description }),
        title: input.title ?? null,
        description: input.description,
        route: input.route ?? null,
        errorSignature: input.errorSignature ?? null,
        requestSignature: input.requestSignature ?? null,
        reporterId: input.reporterId ?? null,
        reporterEmail: input.reporterEmail ?? null,
        receivedAt: input.receivedAt ?? new Date(),
        enrichment: JSON.stringify(input.enrichment ?? {}),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const assignment = await assignReportToDefect(trx, report, options);
    return { report, assignment };
  });
}
