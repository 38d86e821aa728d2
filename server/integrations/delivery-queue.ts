import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Database, DestinationRow } from '../db/schema';
import { enqueueJob } from '../outbox/job-queue';
import { findDestination } from '../destinations/registry';

/** Job kinds of the integrations; each is handled in `delivery-jobs.ts`. */
export const integrationJobKinds = {
  createTicket: 'integration.create_ticket',
  attachScreenshot: 'integration.attach_screenshot',
  linkBack: 'integration.link_back',
  comment: 'integration.comment',
  notify: 'integration.notify',
  notifyReporter: 'integration.notify_reporter',
} as const;

/** Why a delivery happens; the routing rule triggers plus a person's "Send to…". */
export type DeliveryTrigger = 'defect_created' | 'threshold_crossed' | 'reopened' | 'manual';

/**
 * Writes the job that sends a defect to a destination, in the caller's transaction (outbox).
 * A tracker gets one create-ticket job per defect ever (its idempotency key has no trigger in it),
 * so however many rules or clicks ask, a defect gets one ticket per tracker. A notifier gets one
 * job per defect, trigger and `occasion` (e.g. the reopen count), so a repeat is dropped but a
 * second reopen notifies again.
 */
export async function enqueueDelivery(
  trx: Transaction<Database>,
  destination: Pick<DestinationRow, 'id' | 'kind' | 'projectId' | 'maxAttempts'>,
  defectId: string,
  trigger: DeliveryTrigger,
  occasion: string,
): Promise<void> {
  const kind = findDestination(destination.kind);
  if (!kind) return;
  if (kind.role === 'tracker') {
    const idempotencyKey = `ticket:${destination.id}:${defectId}`;
    await enqueueJob(trx, {
      kind: integrationJobKinds.createTicket,
      projectId: destination.projectId,
      payload: { destinationId: destination.id, defectId, trigger },
      idempotencyKey,
      maxAttempts: destination.maxAttempts,
    });
    if (trigger === 'manual') await revive(trx, idempotencyKey);
    return;
  }
  await enqueueJob(trx, {
    kind: integrationJobKinds.notify,
    projectId: destination.projectId,
    payload: { destinationId: destination.id, defectId, trigger },
    idempotencyKey: `notify:${destination.id}:${defectId}:${trigger}:${trigger === 'manual' ? randomUUID() : occasion}`,
    maxAttempts: destination.maxAttempts,
  });
}

/** A person asking again for a delivery that died gets it retried rather than silently dropped. */
async function revive(trx: Transaction<Database>, idempotencyKey: string): Promise<void> {
  await trx
    .updateTable('jobs')
    .set({ state: 'pending', attempts: 0, runAt: new Date(), finishedAt: null })
    .where('idempotencyKey', '=', idempotencyKey)
    .where('state', '=', 'dead')
    .execute();
}
