import type { Transaction } from 'kysely';
import { reportReference } from '../../shared/report-schema';
import type { Database, DestinationRow, Job } from '../db/schema';
import { recordDefectEvent } from '../defects/defect-service';
import type { DeliveryContext, DestinationSettings, TicketReference } from '../destinations/destination';
import { settingsOf } from '../destinations/destination-repository';
import type { AnyDestination } from '../destinations/registry';
import { loadScreenshot, loadTicketContent } from '../destinations/ticket-content';
import { enqueueJob, type JobWorker, PermanentJobError, RetryLaterError } from '../outbox/job-queue';
import { integrationJobKinds } from './delivery-queue';
import { SecretBox } from './secret-box';
import type { OutboundNetwork } from './outbound-network';
import type { Logger } from '../logger';

export interface IntegrationOptions {
  secretKey: string;
  publicUrl: string;
  /** Every destination connects through it (the SSRF address policy). */
  network: OutboundNetwork;
  logger?: Logger;
}

interface Loaded {
  row: DestinationRow;
  destination: AnyDestination;
  settings: DestinationSettings;
  context: DeliveryContext;
}

/**
 * The handlers that talk to trackers and notifiers. Each runs inside the job's transaction, so
 * the bookkeeping (ticket rows, history, follow-up jobs) commits exactly when the job is marked
 * done. Failures are classified by the destination (429 → RetryLaterError with Retry-After,
 * other 4xx → PermanentJobError); after `destinations.max_attempts` a job is `dead`.
 */
export function registerIntegrationJobHandlers(jobs: JobWorker, options: IntegrationOptions): void {
  const box = new SecretBox(options.secretKey);

  async function load(trx: Transaction<Database>, destinationId: string, job: Job): Promise<Loaded | undefined> {
    const row = await trx.selectFrom('destinations').selectAll().where('id', '=', destinationId).executeTakeFirst();
    if (!row) return undefined; // deleted since: nothing left to deliver to
    if (!row.enabled) throw new PermanentJobError(`destination "${row.name}" is disabled`);
    const { destination, settings } = settingsOf(box, row);
    if (!destination.isConfigured(settings)) throw new PermanentJobError(`destination "${row.name}" is not fully configured`);
    const context: DeliveryContext = {
      publicUrl: options.publicUrl,
      timeoutMs: row.timeoutMs,
      network: options.network,
      attempt: job.totalAttempts,
      deliveryId: deliveryId(job),
      requestedAt: job.createdAt,
      warn: (details, message) => options.logger?.warn({ destinationId: row.id, destinationKind: row.kind, jobId: job.id, ...details }, message),
    };
    return { row, destination, settings, context };
  }

  async function loadTicket(trx: Transaction<Database>, externalTicketId: string, job: Job) {
    const ticket = await trx.selectFrom('externalTickets').selectAll().where('id', '=', externalTicketId).executeTakeFirst();
    if (!ticket?.externalKey) return undefined;
    const loaded = await load(trx, ticket.destinationId, job);
    if (!loaded) return undefined;
    const reference: TicketReference = { externalId: ticket.externalId ?? ticket.externalKey, key: ticket.externalKey, url: ticket.url ?? '', state: ticket.state };
    return { ticket, reference, ...loaded };
  }

  jobs.register(integrationJobKinds.createTicket, async (job, trx) => {
    const { destinationId, defectId } = job.payload as { destinationId: string; defectId: string };
    const loaded = await load(trx, destinationId, job);
    if (!loaded) return;
    const { row, destination, settings, context } = loaded;
    if (!destination.createTicket) throw new PermanentJobError(`${destination.label} cannot hold tickets`);
    const existing = await trx.selectFrom('externalTickets').select('externalKey').where('defectId', '=', defectId).where('destinationId', '=', row.id).executeTakeFirst();
    if (existing?.externalKey) return;
    const content = await loadTicketContent(trx, defectId, options.publicUrl);
    // Look before creating: an earlier attempt may have timed out after the tracker created the issue.
    const ticket = (await destination.findTicket?.(settings, content, context)) ?? (await createOnce(destination, settings, () => destination.createTicket!(settings, content, context)));
    // From here on the ticket exists remotely. If recording it fails (the database went away),
    // the retry must give the tracker's search time to see the ticket, or it would create another.
    try {
      await recordTicket(trx, row, defectId, ticket, destination, content.hasScreenshot);
    } catch (error) {
      const searchLagMs = destination.searchLagMs?.(settings) ?? 0;
      if (searchLagMs === 0) throw error;
      throw new RetryLaterError(`ticket ${ticket.key} was created but could not be recorded: ${(error as Error).message}`, searchLagMs);
    }
  });

  /** The ticket row, the history event and the follow-up jobs (link back, screenshot), in the job's transaction. */
  async function recordTicket(trx: Transaction<Database>, row: DestinationRow, defectId: string, ticket: TicketReference, destination: AnyDestination, hasScreenshot: boolean): Promise<void> {
    const now = new Date();
    const saved = await trx
      .insertInto('externalTickets')
      .values({
        defectId,
        destinationId: row.id,
        destinationKind: row.kind,
        externalId: ticket.externalId,
        externalKey: ticket.key,
        url: ticket.url,
        state: ticket.state ?? null,
        lastSyncedAt: now,
      })
      .onConflict((conflict) =>
        conflict.columns(['defectId', 'destinationId']).doUpdateSet({ externalId: ticket.externalId, externalKey: ticket.key, url: ticket.url, updatedAt: now, lastSyncedAt: now }),
      )
      .returning('id')
      .executeTakeFirstOrThrow();
    await recordDefectEvent(trx, {
      projectId: row.projectId,
      defectId,
      actor: { kind: 'integration' },
      kind: 'ticket_linked',
      newValue: { destination: row.kind, destinationId: row.id, key: ticket.key, url: ticket.url },
    });
    // Follow-ups are their own jobs, so a failed upload never risks a second ticket.
    if (destination.linkBack) {
      await enqueueJob(trx, { kind: integrationJobKinds.linkBack, projectId: row.projectId, payload: { externalTicketId: saved.id, defectId }, idempotencyKey: `link-back:${saved.id}`, maxAttempts: row.maxAttempts });
    }
    if (destination.attachScreenshot && hasScreenshot) {
      await enqueueJob(trx, {
        kind: integrationJobKinds.attachScreenshot,
        projectId: row.projectId,
        payload: { externalTicketId: saved.id, defectId },
        idempotencyKey: `screenshot:${saved.id}`,
        maxAttempts: row.maxAttempts,
      });
    }
  }

  jobs.register(integrationJobKinds.linkBack, async (job, trx) => {
    const { externalTicketId, defectId } = job.payload as { externalTicketId: string; defectId: string };
    const found = await loadTicket(trx, externalTicketId, job);
    if (!found?.destination.linkBack) return;
    const content = await loadTicketContent(trx, defectId, options.publicUrl);
    await found.destination.linkBack(found.settings, found.reference, content, found.context);
  });

  jobs.register(integrationJobKinds.attachScreenshot, async (job, trx) => {
    const { externalTicketId, defectId } = job.payload as { externalTicketId: string; defectId: string };
    const found = await loadTicket(trx, externalTicketId, job);
    if (!found?.destination.attachScreenshot) return;
    const screenshot = await loadScreenshot(trx, defectId);
    if (!screenshot) return;
    await found.destination.attachScreenshot(found.settings, found.reference, screenshot, found.context);
  });

  jobs.register(integrationJobKinds.comment, async (job, trx) => {
    const { externalTicketId, defectId, since } = job.payload as { externalTicketId: string; defectId: string; since: string | null };
    const found = await loadTicket(trx, externalTicketId, job);
    if (!found?.destination.addComment) return;
    const text = await regressionComment(trx, defectId, since ? new Date(since) : null, options.publicUrl);
    if (!text) return;
    await found.destination.addComment(found.settings, found.reference, text, found.context);
  });

  jobs.register(integrationJobKinds.notify, async (job, trx) => {
    const { destinationId, defectId, trigger } = job.payload as { destinationId: string; defectId: string; trigger: string };
    const loaded = await load(trx, destinationId, job);
    if (!loaded?.destination.notify) return;
    const content = await loadTicketContent(trx, defectId, options.publicUrl);
    const tickets = await trx.selectFrom('externalTickets').selectAll().where('defectId', '=', defectId).where('externalKey', 'is not', null).execute();
    const screenshot = loaded.destination.sendsScreenshots && content.hasScreenshot ? await loadScreenshot(trx, defectId) : undefined;
    await loaded.destination.notify(
      loaded.settings,
      {
        type: 'defect',
        trigger,
        content,
        tickets: tickets.map((ticket) => ({ kind: ticket.destinationKind, externalId: ticket.externalId ?? '', key: ticket.externalKey!, url: ticket.url ?? '', state: ticket.state })),
        deliveryId: deliveryId(job),
        ...(screenshot ? { screenshot } : {}),
      },
      loaded.context,
    );
  });

  jobs.register(integrationJobKinds.notifyReporter, async (job, trx) => {
    const { destinationId, reportId, defectId } = job.payload as { destinationId: string; reportId: string; defectId: string };
    const loaded = await load(trx, destinationId, job);
    if (!loaded?.destination.notify) return;
    const report = await trx.selectFrom('reports').select(['id', 'title', 'description', 'reporterEmail', 'url']).where('id', '=', reportId).executeTakeFirst();
    const defect = await trx
      .selectFrom('defects')
      .leftJoin('releases', 'releases.id', 'defects.fixedInReleaseId')
      .select(['defects.status', 'releases.version as fixedIn'])
      .where('defects.id', '=', defectId)
      .executeTakeFirst();
    if (!report?.reporterEmail || !defect) return;
    await loaded.destination.notify(
      loaded.settings,
      {
        type: 'reporter_update',
        to: report.reporterEmail,
        reportReference: reportReference(report.id),
        reportTitle: (report.title ?? report.description).replace(/\s+/g, ' ').slice(0, 120),
        defectStatus: defect.status,
        fixedIn: defect.fixedIn,
        statusUrl: originOf(report.url) ?? null,
        deliveryId: deliveryId(job),
      },
      loaded.context,
    );
  });
}

/**
 * A create that failed in an unknown way (timeout, 5xx) may have happened remotely. The retry
 * waits at least the tracker's search lag, so its look-before-create can see such a ticket.
 */
async function createOnce(destination: AnyDestination, settings: DestinationSettings, create: () => Promise<TicketReference>): Promise<TicketReference> {
  try {
    return await create();
  } catch (error) {
    const searchLagMs = destination.searchLagMs?.(settings) ?? 0;
    if (!searchLagMs || error instanceof PermanentJobError) throw error;
    const delayMs = Math.max(searchLagMs, error instanceof RetryLaterError ? error.delayMs : 0);
    throw new RetryLaterError(`${(error as Error).message} (retrying after the search lag, so an issue created anyway is found)`, delayMs);
  }
}

/** Stable across retries of one job, so receivers can drop repeats. */
function deliveryId(job: Job): string {
  return job.idempotencyKey ? `bugloop-${Buffer.from(job.idempotencyKey).toString('base64url').slice(0, 120)}` : `bugloop-job-${job.id}`;
}

function originOf(url: string | null): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** "3 new reports since it was resolved, last on 1.4.2." — counted when the comment is written. */
export async function regressionComment(trx: Transaction<Database>, defectId: string, since: Date | null, publicUrl: string): Promise<string | undefined> {
  const defect = await trx.selectFrom('defects').select(['projectId', 'key', 'resolvedAt']).where('id', '=', defectId).executeTakeFirst();
  if (!defect) return undefined;
  const from = since ?? defect.resolvedAt;
  if (!from) return undefined;
  const reports = await trx
    .selectFrom('reports')
    .leftJoin('releases', 'releases.id', 'reports.releaseId')
    .select(['reports.receivedAt', 'releases.version'])
    .where('reports.defectId', '=', defectId)
    .where('reports.receivedAt', '>', from)
    .orderBy('reports.receivedAt', 'desc')
    .execute();
  if (reports.length === 0) return undefined;
  const last = reports[0];
  const where = last.version ? `last on ${last.version}` : `last on ${last.receivedAt.toISOString().slice(0, 10)}`;
  return `${reports.length} new report${reports.length === 1 ? '' : 's'} since it was resolved, ${where}. Possible regression — see Bugloop ${defect.key}: ${publicUrl}/projects/${defect.projectId}/defects/${defectId}`;
}
