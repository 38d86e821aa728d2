import type { Transaction } from 'kysely';
import type { Database, DefectStatus, DestinationRow } from '../db/schema';
import { defectStatuses, doneStatuses, updateDefect } from '../defects/defect-service';
import type { StatusChange } from '../destinations/destination';
import { findOrCreateRelease } from '../releases/release-service';
import { onDefectStatusChanged } from '../routing/route-defect';

const integrationActor = { kind: 'integration' as const };

/**
 * The default meaning of remote state categories (Jira statusCategory keys, Linear state types).
 * `null`: no opinion, unless the defect is done, in which case the ticket going back to an open
 * state means it was reopened.
 */
const defaultCategoryMap: Record<string, DefectStatus | null> = {
  done: 'resolved',
  completed: 'resolved',
  canceled: 'wont_fix',
  indeterminate: 'in_progress',
  started: 'in_progress',
  new: null,
  unstarted: null,
  backlog: null,
  triage: null,
};

/** The Bugloop status a remote state maps to: by state name, then category (configurable), then the default. */
export function mapRemoteState(state: StatusChange['state'], statusMap: Record<string, string>, current: DefectStatus): DefectStatus | null {
  const configured = statusMap[state.name] ?? statusMap[state.name.toLowerCase()] ?? statusMap[state.category];
  let target: DefectStatus | null;
  if (configured && (defectStatuses as string[]).includes(configured)) target = configured as DefectStatus;
  else target = defaultCategoryMap[state.category] ?? null;
  if (target === null) return doneStatuses.has(current) && state.category in defaultCategoryMap ? 'reopened' : null;
  // verified/closed → resolved would only lose information: both mean done.
  if (doneStatuses.has(current) && doneStatuses.has(target)) return null;
  return target;
}

export type StatusSyncOutcome = 'applied' | 'unchanged' | 'unknown_ticket';

/**
 * Applies a tracker's status change to the defect behind the ticket, through `updateDefect`
 * (so history and metrics see it, with actor `integration`), records fixed-in when the tracker
 * names a version, updates the ticket row, and runs the consequences (reopen rules, reporter emails).
 */
export async function applyStatusChange(trx: Transaction<Database>, destination: DestinationRow, change: StatusChange): Promise<StatusSyncOutcome> {
  const ticket = await trx
    .selectFrom('externalTickets')
    .selectAll()
    .where('destinationId', '=', destination.id)
    .where((eb) =>
      eb.or([
        ...(change.externalId ? [eb('externalId', '=', change.externalId)] : []),
        ...(change.externalKey ? [eb('externalKey', '=', change.externalKey)] : []),
        eb.val(false),
      ]),
    )
    .executeTakeFirst();
  if (!ticket) return 'unknown_ticket';
  await trx
    .updateTable('externalTickets')
    .set({ state: change.state.category || ticket.state, stateName: change.state.name || ticket.stateName, lastSyncedAt: new Date(), updatedAt: new Date() })
    .where('id', '=', ticket.id)
    .execute();
  const defect = await trx.selectFrom('defects').select(['id', 'projectId', 'status', 'fixedInReleaseId']).where('id', '=', ticket.defectId).executeTakeFirstOrThrow();
  const statusMap = ((destination.config as { statusMap?: Record<string, string> }).statusMap ?? {}) as Record<string, string>;
  const target = mapRemoteState(change.state, statusMap, defect.status);
  const changes: { status?: DefectStatus; fixedInReleaseId?: string } = {};
  if (target && target !== defect.status) changes.status = target;
  if (change.fixedIn?.trim()) changes.fixedInReleaseId = (await findOrCreateRelease(trx, defect.projectId, change.fixedIn)).id;
  if (!changes.status && (!changes.fixedInReleaseId || changes.fixedInReleaseId === defect.fixedInReleaseId)) return 'unchanged';
  const updated = await updateDefect(trx, defect.id, changes, integrationActor);
  await onDefectStatusChanged(trx, defect.id, defect.status, updated.status);
  return 'applied';
}
