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
  const { projectId, ...defect } = input;
  const [created] = await createDefects(trx, projectId, [defect], actor);
  return created;
}

/**
 * SQL: the `new_value` of a defect's `created` event, over the columns of the inserted defect row
 * (every writer that creates defects in SQL uses it, so the event reads the same everywhere).
 */
export const createdEventValue = sql<unknown>`jsonb_build_object('status', status, 'origin', origin, 'foundInReleaseId', found_in_release_id, 'severity', severity)`;

/**
 * Creates many defects in one statement, exactly as `createDefect` would one by one: numbers
 * taken from the project's counter in input order, a `created` event each. Bulk writers (a CI
 * run failing a thousand tests) pay one round trip, and the `defect_states` trigger replays all
 * their histories in one pass. Returns the defects in input order.
 */
export async function createDefects(trx: Transaction<Database>, projectId: string, inputs: readonly Omit<NewDefectInput, 'projectId'>[], actor: Actor = systemActor): Promise<Defect[]> {
  if (inputs.length === 0) return [];
  const column = <T>(pick: (input: Omit<NewDefectInput, 'projectId'>) => T) => inputs.map(pick);
  const now = new Date();
  const result = await sql<Defect>`
    with input as (
      select * from unnest(
        ${column((input) => input.title.slice(0, 300) || 'Untitled defect')}::text[],
        ${column((input) => input.description ?? '')}::text[],
        ${column((input) => input.origin)}::text[],
        ${column((input) => input.component ?? null)}::text[],
        ${column((input) => input.route ?? null)}::text[],
        ${column((input) => input.severity ?? null)}::text[],
        ${column((input) => input.priority ?? null)}::text[],
        ${column((input) => input.foundInReleaseId ?? null)}::uuid[],
        ${column((input) => input.errorSignature ?? null)}::text[],
        ${column((input) => input.requestSignature ?? null)}::text[],
        ${column((input) => (input.firstSeenAt ?? now).toISOString())}::timestamptz[]
      ) with ordinality as i(title, description, origin, component, route, severity, priority, found_in_release_id,
                              error_signature, request_signature, seen_at, position)
    ), counter as (
      update projects set next_defect_number = next_defect_number + ${inputs.length} where id = ${projectId}
      returning key_prefix, next_defect_number - ${inputs.length} as first_number
    ), defect as (
      insert into defects (project_id, number, key, title, description, origin, component, route, severity, priority,
                           found_in_release_id, error_signature, request_signature, first_seen_at, last_seen_at, created_at)
      select ${projectId}, first_number + position - 1, key_prefix || '-' || (first_number + position - 1), title, description,
             origin, component, route, severity, priority, found_in_release_id, error_signature, request_signature, seen_at, seen_at, seen_at
      from input cross join counter
      order by position
      returning *
    ), event as (
      insert into defect_events (project_id, defect_id, actor_user_id, actor_kind, kind, new_value, created_at)
      select project_id, id, ${actor.userId ?? null}::uuid, ${actor.kind}, 'created', ${createdEventValue}, created_at
      from defect
      order by number
    )
    select * from defect order by number
  `.execute(trx);
  if (result.rows.length !== inputs.length) throw new AppError('not_found', 'project not found');
  return result.rows;
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
/**
 * SQL: who sent a report, for "affected users": the reporter's id, else their email, else the
 * widget's anonymous reporter token, else the report itself (an anonymous report is one user).
 * `reports_reporter` indexes exactly this expression (with the defect), for the lookup by sender.
 */
export function reporterIdentity(table: string) {
  const column = (name: string) => sql.ref(`${table}.${name}`);
  return sql<string>`coalesce(${column('reporter_id')}, lower(${column('reporter_email')}), ${column('reporter_token_hash')}, ${column('id')}::text)`;
}

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
             count(distinct ${reporterIdentity('reports')})::int as users,
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
  // The move and its history event in one statement; the counts need a second one, which sees the move.
  const candidatesJson = candidates ? JSON.stringify(candidates) : null;
  const moved = await sql<{ projectId: string }>`
    with moved as (
      update reports set defect_id = ${defectId}, candidates = coalesce(${candidatesJson}::jsonb, candidates)
      where id = ${reportId} returning project_id
    ), event as (
      insert into defect_events (project_id, defect_id, actor_user_id, actor_kind, kind, new_value, created_at)
      select project_id, ${defectId}, ${actor.userId ?? null}::uuid, ${actor.kind}, 'report_added', ${JSON.stringify({ reportId })}::jsonb, ${new Date()}::timestamptz
      from moved
    )
    select project_id from moved
  `.execute(trx);
  if (moved.rows.length === 0) throw new AppError('not_found', 'report not found');
  await refreshDefectCounts(trx, defectId);
}
