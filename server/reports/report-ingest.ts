import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { type Report, type ReportAccepted, reportReference } from '../../shared/report-schema';
import type { Database, DefectOrigin } from '../db/schema';
import type { CheckedImage } from './image-check';
import { preparedStatement } from '../db/prepared-statements';

export const processReportJobKind = 'report.process';

export interface ReportToStore {
  projectId: string;
  report: Report;
  origin: DefectOrigin;
  image?: { bytes: Buffer; checked: CheckedImage; filename?: string };
  clientIp?: string | null;
  userAgent?: string | null;
}

/**
 * Stores a validated report, its image and its processing job in one transaction, so a report
 * answered with 202 is a report that will be processed, whatever fails afterwards. A second
 * send with the same client id (a retry) stores nothing and gets the same answer.
 */
export async function storeReport(db: Kysely<Database>, input: ToStore): Promise<ReportAccepted> {
  const { report } = input;
  const image = input.image;
  const imageSha256 = image ? createHash('sha256').update(image.bytes).digest('hex') : null;
  // One statement (data-modifying CTEs) is atomic without an explicit transaction and costs one
  // round trip: the report, its content-addressed image and its processing job commit together.
  const result = await sql<{ id: string }>`${sql.raw(preparedStatement)}
    with inserted as (
      insert into reports (project_id, client_id, origin, payload, title, description, expected, steps, reporter_email,
                           reporter_id, url, environment, client_ip, user_agent, reporter_token_hash)
      values (${input.projectId}, ${report.id}, ${input.origin}, ${JSON.stringify(report)}, ${report.title?.trim() || null},
              ${report.description}, ${report.expected?.trim() || null}, ${report.steps?.trim() || null},
              ${report.email || report.user?.email || null}, ${report.user?.id ?? null}, ${report.url ?? null},
              ${report.environment?.trim() || null}, ${input.clientIp ?? null},
              ${(report.browser?.userAgent ?? input.userAgent ?? null)?.slice(0, 1000) ?? null},
              ${report.reporterToken ? createHash('sha256').update(report.reporterToken).digest('hex') : null})
      on conflict (project_id, client_id) do nothing
      returning id
    ), blob as (
      insert into attachment_blobs (sha256, content_type, byte_size, width, height, data)
      select ${imageSha256}, ${image?.checked.contentType ?? null}, ${image?.bytes.length ?? null}, ${image?.checked.width ?? null},
             ${image?.checked.height ?? null}, ${image?.bytes ?? null}
      where ${imageSha256}::text is not null and exists (select 1 from inserted)
      on conflict (sha256) do nothing
    ), attachment as (
      insert into report_attachments (report_id, sha256, kind, filename)
      select id, ${imageSha256}, 'screenshot', ${image?.filename?.slice(0, 255) ?? null} from inserted where ${imageSha256}::text is not null
    ), job as (
      insert into jobs (kind, project_id, payload, idempotency_key)
      select ${processReportJobKind}, ${input.projectId}, jsonb_build_object('reportId', id), ${`${processReportJobKind}:`} || id::text from inserted
      on conflict (idempotency_key) do nothing
    )
    select id from inserted
  `.execute(db);
  const inserted = result.rows[0];
  if (inserted) return accepted(inserted.id, report.id, false);
  // A retry (or a concurrent twin that committed first): answer as the first time.
  const existing = await db
    .selectFrom('reports')
    .select('id')
    .where('projectId', '=', input.projectId)
    .where('clientId', '=', report.id)
    .executeTakeFirstOrThrow();
  return accepted(existing.id, report.id, true);
}

type ToStore = ReportToStore;

function accepted(id: string, clientId: string, duplicate: boolean): ReportAccepted {
  return { status: 'accepted', id, clientId, reference: reportReference(id), duplicate };
}
