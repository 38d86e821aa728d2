import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { type Report, type ReportAccepted, reportReference } from '../../shared/report-schema';
import type { Database, DefectOrigin } from '../db/schema';
import { isDatabaseConnectionError } from '../db/database-errors';
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
 * Stores validated reports, their images and their processing jobs in one statement, hence one
 * transaction and one commit, so a report answered with 202 is a report that will be processed,
 * whatever fails afterwards; answers in the order given. A client id sent twice (a retry, in this
 * call or stored before) is stored once and answered as a duplicate with the first one's id.
 */
export async function storeReports(db: Kysely<Database>, inputs: readonly ReportToStore[]): Promise<ReportAccepted[]> {
  // A retry racing its original inside one batch: only the first of each client id is inserted.
  const ordinalByClientId = new Map<string, number>();
  const unique: ReportToStore[] = [];
  for (const input of inputs) {
    const key = clientKey(input);
    if (!ordinalByClientId.has(key)) {
      unique.push(input);
      ordinalByClientId.set(key, unique.length);
    }
  }
  const images = unique.flatMap((input, index) => (input.image ? [{ ordinal: index + 1, image: input.image }] : []));
  // Images are separate parameters (a bytea array would travel hex-encoded); the statement's text
  // then depends only on how many images the batch has, so it stays prepared per count.
  const imageRows =
    images.length === 0
      ? sql`select null::int, null::text, null::text, null::int, null::int, null::int, null::bytea, null::text where false`
      : sql`values ${sql.join(
          images.map(
            ({ ordinal, image }) =>
              sql`(${ordinal}::int, ${createHash('sha256').update(image.bytes).digest('hex')}::text, ${image.checked.contentType}::text,
                   ${image.bytes.length}::int, ${image.checked.width}::int, ${image.checked.height}::int, ${image.bytes}::bytea,
                   ${image.filename?.slice(0, 255) ?? null}::text)`,
          ),
        )}`;
  // One statement (data-modifying CTEs) is atomic without an explicit transaction and costs one
  // round trip: the reports, their content-addressed images and their processing jobs commit
  // together. Rows are inserted in the order given, each stamped with the clock (not the
  // transaction's start), so processing sees them in the order they arrived.
  const result = await sql<{ id: string; ordinal: number }>`${sql.raw(preparedStatement)}
    with incoming as (
      select * from jsonb_to_recordset(${JSON.stringify(unique.map(incomingRow))}::jsonb)
        as t(ordinal int, project_id uuid, client_id uuid, origin text, payload jsonb, title text, description text, expected text,
             steps text, reporter_email text, reporter_id text, url text, environment text, client_ip text, user_agent text,
             reporter_token_hash text)
    ), inserted as (
      insert into reports (project_id, client_id, origin, payload, title, description, expected, steps, reporter_email,
                           reporter_id, url, environment, client_ip, user_agent, reporter_token_hash, received_at)
      select project_id, client_id, origin, payload, title, description, expected, steps, reporter_email,
             reporter_id, url, environment, client_ip, user_agent, reporter_token_hash, clock_timestamp()
      from incoming order by ordinal
      on conflict (project_id, client_id) do nothing
      returning id, project_id, client_id
    ), numbered as (
      select inserted.id, incoming.ordinal, inserted.project_id
      from inserted join incoming on incoming.project_id = inserted.project_id and incoming.client_id = inserted.client_id
    ), images (ordinal, sha256, content_type, byte_size, width, height, data, filename) as (
      ${imageRows}
    ), stored_images as (
      select numbered.id as report_id, images.* from numbered join images on images.ordinal = numbered.ordinal
    ), blob as (
      insert into attachment_blobs (sha256, content_type, byte_size, width, height, data)
      select distinct on (sha256) sha256, content_type, byte_size, width, height, data from stored_images
      on conflict (sha256) do nothing
    ), attachment as (
      insert into report_attachments (report_id, sha256, kind, filename)
      select report_id, sha256, 'screenshot', filename from stored_images
    ), job as (
      insert into jobs (kind, project_id, payload, idempotency_key)
      select ${processReportJobKind}, project_id, jsonb_build_object('reportId', id), ${`${processReportJobKind}:`} || id::text
      from numbered order by ordinal
      on conflict (idempotency_key) do nothing
    )
    select id, ordinal from numbered
  `.execute(db);
  const insertedByOrdinal = new Map(result.rows.map((row) => [Number(row.ordinal), String(row.id)]));
  // Retries (or concurrent twins that committed first) are answered as the first time.
  const existingIds = new Map<string, string>();
  const retried = unique.filter((_, index) => !insertedByOrdinal.has(index + 1));
  if (retried.length > 0) {
    const rows = await db
      .selectFrom('reports')
      .select(['id', 'projectId', 'clientId'])
      .where((eb) => eb.or(retried.map((input) => eb.and([eb('projectId', '=', input.projectId), eb('clientId', '=', input.report.id)]))))
      .execute();
    for (const row of rows) existingIds.set(clientKey({ projectId: row.projectId, report: { id: row.clientId } }), row.id);
  }
  return inputs.map((input) => {
    const key = clientKey(input);
    const ordinal = ordinalByClientId.get(key)!;
    const insertedId = insertedByOrdinal.get(ordinal);
    // The first of its client id in this call was inserted: it is new, any twin after it is not.
    if (insertedId && unique[ordinal - 1] === input) return accepted(insertedId, input.report.id, false);
    const id = insertedId ?? existingIds.get(key);
    if (!id) throw new Error(`report ${input.report.id} was neither stored nor found`);
    return accepted(id, input.report.id, true);
  });
}

/**
 * One report's row of the insert. The batch travels as one JSON document (one parameter,
 * serialized natively by JSON.stringify) rather than as sixteen text arrays: node-postgres
 * escapes every element of an array parameter in JavaScript, the JSON payloads' quotes included,
 * which was the largest part of building the statement under a flood.
 */
function incomingRow(input: ReportToStore, index: number) {
  const { report } = input;
  return {
    ordinal: index + 1,
    project_id: input.projectId,
    client_id: report.id,
    origin: input.origin,
    payload: report,
    title: report.title?.trim() || null,
    description: report.description,
    expected: report.expected?.trim() || null,
    steps: report.steps?.trim() || null,
    reporter_email: report.email || report.user?.email || null,
    reporter_id: report.user?.id ?? null,
    url: report.url ?? null,
    environment: report.environment?.trim() || null,
    client_ip: input.clientIp ?? null,
    user_agent: (report.browser?.userAgent ?? input.userAgent ?? null)?.slice(0, 1000) ?? null,
    reporter_token_hash: report.reporterToken ? createHash('sha256').update(report.reporterToken).digest('hex') : null,
  };
}

function clientKey(input: { projectId: string; report: { id: string } }): string {
  return `${input.projectId}\u0000${input.report.id.toLowerCase()}`;
}

function accepted(id: string, clientId: string, duplicate: boolean): ReportAccepted {
  return { status: 'accepted', id, clientId, reference: reportReference(id), duplicate };
}

export interface GroupCommitOptions {
  /** Statements in flight at once; each batch waits for its commit. */
  maxInFlight: number;
  /** Reports per statement. */
  maxBatch: number;
  /** Image bytes per statement (a batch holds at least one report whatever its size). */
  maxBatchBytes: number;
}

interface Waiting {
  input: ReportToStore;
  resolve: (answer: ReportAccepted) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for the public endpoint: reports that arrive while a store is in flight are
 * written together by the next statement (one round trip, one commit and one WAL flush for all
 * of them), and each request is answered after its own report has committed, as before. An idle
 * server stores a lone report at once, so this adds no wait; under a flood it divides the
 * database's per-report cost (the statement, the commit) by the batch size. A batch that fails
 * for a reason other than an outage is retried report by report, so one bad report fails alone.
 */
export class ReportWriter {
  private readonly waiting: Waiting[] = [];
  private inFlight = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: GroupCommitOptions,
    /** Called after every batch that stored at least one new report (wakes the processing worker). */
    private readonly onStored: () => void = () => {},
  ) {}

  store(input: ReportToStore): Promise<ReportAccepted> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.options.maxInFlight && this.waiting.length > 0) {
      const batch = this.takeBatch();
      this.inFlight += 1;
      void this.write(batch).finally(() => {
        this.inFlight -= 1;
        this.flush();
      });
    }
  }

  private takeBatch(): Waiting[] {
    let bytes = 0;
    let count = 0;
    while (count < this.waiting.length && count < this.options.maxBatch) {
      const size = this.waiting[count].input.image?.bytes.length ?? 0;
      if (count > 0 && bytes + size > this.options.maxBatchBytes) break;
      bytes += size;
      count += 1;
    }
    return this.waiting.splice(0, count);
  }

  private async write(batch: Waiting[]): Promise<void> {
    try {
      const answers = await storeReports(
        this.db,
        batch.map((entry) => entry.input),
      );
      batch.forEach((entry, index) => entry.resolve(answers[index]));
      if (answers.some((answer) => !answer.duplicate)) this.onStored();
    } catch (error) {
      if (batch.length === 1 || isDatabaseConnectionError(error)) {
        for (const entry of batch) entry.reject(error);
        return;
      }
      // Nothing of the batch was stored (one statement): each report again on its own.
      await Promise.all(batch.map((entry) => this.write([entry])));
    }
  }
}
