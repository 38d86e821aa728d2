import { type Kysely, type Transaction, sql } from 'kysely';
import type { Database, Defect, DefectOrigin, DefectPriority, DefectSeverity, DefectStatus } from '../db/schema';
import { AppError } from '../http/app-error';

type Executor = Kysely<Database> | Transaction<Database>;

/** Who made a change; every history event records it. */
export interface Actor {
  kind: 'user' | 'system' | 'integration' | 'api';
  userId?: string | null;
}

export const systemActor: Actor = { kind: 'system' };

export const defectStatuses: DefectStatus[] = ['new', 'triaged', 'in_progress', 'resolved', 'verified', 'closed', 'wont_fix', 'reopened'];
/** Statuses in which the defect counts as dealt with (for MTTR, reopen detection, regressions). */
export const doneStatuses: ReadonlySet<DefectStatus> = new Set(['resolved', 'verified', 'closed', 'wont_fix']);

export interface NewDefectInput {
  projectId: string;
  title: string;
  description?: string;
  origin: DefectOrigin;
  component?: string | null;
  route?: string | null;
  severity?: DefectSeverity | null;
  priority?: DefectPriority | null;
  foundInReleaseId?: string | null;
  errorSignature?: string | null;
  requestSignature?: string | null;
  /** When the problem was first seen; defaults to now. */
  firstSeenAt?: Date;
}

/**
 * Creates a defect with the project's next key (WEB-42) and a `created` history event.
 * The number comes from a row-locked counter on the project, so keys never repeat or skip
 * under concurrency (the lock is held until the caller's transaction ends).
 */
export async function createDefect(trx: Transaction<Database>, input: NewDefectInput, actor: Actor = systemActor): Promise<Defect> {
  const project = await trx
    .updateTable('projects')
    .set({ nextDefectNumber: sql`next_defect_number + 1` })
    .where('id', '=', input.projectId)
    .returning(['keyPrefix', sql<number>`next_defect_number - 1`.as('number')])
    .executeTakeFirst();
  if (!project) throw new AppError('not_found', 'project not found');
  const seenAt = input.firstSeenAt ?? new Date();
  const defect = await trx
    .insertInto('defects')
    .values({
      projectId: input.projectId,
      number: project.number,
      key: `${project.keyPrefix}-${project.number}`,
      title: input.title.slice(0, 300) || 'Untitled defect',
      description: input.description ?? '',
      origin: input.origin,
      component: input.component ?? null,
      route: input.route ?? null,
      severity: input.severity ?? null,
      priority: input.priority ?? null,
      foundInReleaseId: input.foundInReleaseId ?? null,
      errorSignature: input.errorSignature ?? null,
      requestSignature: input.requestSignature ?? null,
      firstSeenAt: seenAt,
      lastSeenAt: seenAt,
      createdAt: seenAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordDefectEvent(trx, {
    projectId: input.projectId,
    defectId: defect.id,
    actor,
    kind: 'created',
    newValue: { status: defect.status, origin: defect.origin, foundInReleaseId: defect.foundInReleaseId, severity: defect.severity },
    at: seenAt,
  });
  return defect;
}

/** Appends one history event. Metrics read these, so every change to a defect goes through here. */
export async function recordDefectEvent(
  db: Executor,
  event: { projectId: string; defectId: string; actor: Actor; kind: string; field?: string; oldValue?: unknown; newValue?: unknown; at?: Date },
): Promise<void> {
  await db
    .insertInto('defectEvents')
    .values({
      projectId: event.projectId,
      defectId: event.defectId,
      actorUserId: event.actor.userId ?? null,
      actorKind: event.actor.kind,
      kind: event.kind,
      field: event.field ?? null,
      oldValue: event.oldValue === undefined ? null : JSON.stringify(event.oldValue),
      newValue: event.newValue === undefined ? null : JSON.stringify(event.newValue),
      createdAt: event.at ?? new Date(),
    })
    .execute();
}

/** Fields a person (or an integration) may change on a defect. */
export interface DefectChanges {
  title?: string;
  status?: DefectStatus;
  severity?: DefectSeverity | null;
  priority?: DefectPriority | null;
  assigneeId?: string | null;
  component?: string | null;
  foundInReleaseId?: string | null;
  fixedInReleaseId?: string | null;
}

/**
 * Applies changes and writes one history event per changed field. A defect leaving a done
 * status is a reopen (status becomes `reopened`, counted in `reopenCount`); entering one sets
 * `resolvedAt`.
 */
export async function updateDefect(
  trx: Transaction<Database>,
  defectId: string,
  changes: DefectChanges,
  actor: Actor,
  options: { /** When the change happened (imports, seeded histories); defaults to now. */ at?: Date } = {},
): Promise<Defect> {
  const current = await trx.selectFrom('defects').selectAll().where('id', '=', defectId).forUpdate().executeTakeFirst();
  if (!current) throw new AppError('not_found', 'defect not found');
  const update: Record<string, unknown> = {};
  const now = options.at ?? new Date();
  for (const [field, value] of Object.entries(changes) as [keyof DefectChanges, unknown][]) {
    if (value === undefined || current[field] === value) continue;
    let next = value;
    if (field === 'status') {
      const wasDone = doneStatuses.has(current.status);
      const willBeDone = doneStatuses.has(value as DefectStatus);
      if (wasDone && !willBeDone) {
        next = 'reopened';
        update.reopenCount = current.reopenCount + 1;
        update.resolvedAt = null;
      }
      if (!wasDone && willBeDone) update.resolvedAt = now;
      if (next === current.status) continue;
    }
    update[field] = next;
    await recordDefectEvent(trx, {
      projectId: current.projectId,
      defectId,
      actor,
      kind: field === 'status' ? 'status_changed' : 'field_changed',
      field,
      oldValue: current[field] ?? null,
      newValue: next,
      at: now,
    });
  }
  if (Object.keys(update).length === 0) return current;
  return trx
    .updateTable('defects')
    .set({ ...update, updatedAt: now })
    .where('id', '=', defectId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Recomputes report count, affected users and first/last seen from the reports themselves,
 * so merges and splits can never leave the counters wrong. A distinct user is the reporter's
 * id, else their email, else their browser's reporter token, else the report itself.
 */
export async function refreshDefectCounts(db: Executor, defectId: string): Promise<void> {
  await sql`
    update defects d set
      report_count = coalesce(stats.reports, 0),
      affected_users = coalesce(stats.users, 0),
      first_seen_at = least(d.created_at, coalesce(stats.first_seen, d.first_seen_at)),
      last_seen_at = greatest(coalesce(stats.last_seen, d.last_seen_at), d.created_at),
      updated_at = now()
    from (
      select count(*)::int as reports,
             count(distinct coalesce(reporter_id, lower(reporter_email), reporter_token_hash, id::text))::int as users,
             min(received_at) as first_seen,
             max(received_at) as last_seen
      from reports where defect_id = ${defectId}
    ) stats
    where d.id = ${defectId}
  `.execute(db);
}

/**
 * Puts a report on a defect, records it in the history and refreshes the defect's counters.
 * `candidates`, when given, are stored in the same update (dedup's possible duplicates).
 */
export async function attachReportToDefect(
  trx: Transaction<Database>,
  reportId: string,
  defectId: string,
  actor: Actor = systemActor,
  candidates?: readonly unknown[],
): Promise<void> {
  const report = await trx
    .updateTable('reports')
    .set(candidates ? { defectId, candidates: JSON.stringify(candidates) } : { defectId })
    .where('id', '=', reportId)
    .returning(['projectId', 'receivedAt'])
    .executeTakeFirstOrThrow();
  await recordDefectEvent(trx, { projectId: report.projectId, defectId, actor, kind: 'report_added', newValue: { reportId } });
  await refreshDefectCounts(trx, defectId);
}
