import { type Kysely, type Transaction, sql } from 'kysely';
import type { Database, Defect } from '../db/schema';
import { type Actor, attachReportToDefect, createDefect, recordDefectEvent, refreshDefectCounts } from '../defects/defect-service';
import { AppError } from '../http/app-error';
import { reportTitle } from './assign-report';

type Executor = Kysely<Database> | Transaction<Database>;

/** Loads defects of a project and locks them, in id order so two merges cannot deadlock. */
async function lockDefects(trx: Transaction<Database>, projectId: string, ids: string[]): Promise<Map<string, Defect>> {
  const rows = await trx
    .selectFrom('defects')
    .selectAll()
    .where('projectId', '=', projectId)
    .where('id', 'in', ids)
    .orderBy('id')
    .forUpdate()
    .execute();
  const found = new Map(rows.map((row) => [row.id, row]));
  for (const id of ids) if (!found.has(id)) throw new AppError('not_found', `defect ${id} not found in this project`);
  return found;
}

function rejectMerged(defect: Defect, role: string): void {
  if (defect.mergedIntoId) {
    throw new AppError('conflict', `The ${role} defect ${defect.key} was already merged into another defect; use that one`);
  }
}

/** Orders a pair the way defect_non_duplicates stores it: smaller uuid first. */
export function orderedPair(a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a];
}

/**
 * Merges `sourceId` into `targetId`: the source's reports move to the target, the source keeps
 * a pointer (`mergedIntoId`) and leaves every candidate list, defects earlier merged into the
 * source now point at the target, and "not a duplicate" marks move along. Both histories record
 * it; counts, first/last seen and affected users are recomputed from the reports.
 */
export async function mergeDefects(
  trx: Transaction<Database>,
  input: { projectId: string; sourceId: string; targetId: string; actor: Actor },
): Promise<Defect> {
  const { projectId, sourceId, targetId, actor } = input;
  if (sourceId === targetId) throw new AppError('invalid_request', 'A defect cannot be merged into itself', { field: 'targetDefectId' });
  const defects = await lockDefects(trx, projectId, [sourceId, targetId]);
  const source = defects.get(sourceId)!;
  const target = defects.get(targetId)!;
  rejectMerged(source, 'source');
  rejectMerged(target, 'target');

  const moved = await trx.updateTable('reports').set({ defectId: targetId }).where('defectId', '=', sourceId).returning('id').execute();
  const now = new Date();
  await trx.updateTable('defects').set({ mergedIntoId: targetId, updatedAt: now }).where('id', '=', sourceId).execute();
  await trx.updateTable('defects').set({ mergedIntoId: targetId }).where('mergedIntoId', '=', sourceId).execute();
  // A pair marked "not a duplicate" with the source stays marked with the defect that absorbed it.
  await sql`
    insert into defect_non_duplicates (project_id, defect_a, defect_b, created_by, created_at)
    select project_id, least(other, ${targetId}::uuid), greatest(other, ${targetId}::uuid), created_by, created_at
    from (
      select project_id, case when defect_a = ${sourceId}::uuid then defect_b else defect_a end as other, created_by, created_at
      from defect_non_duplicates where defect_a = ${sourceId}::uuid or defect_b = ${sourceId}::uuid
    ) pairs
    where other <> ${targetId}::uuid
    on conflict do nothing
  `.execute(trx);

  const reportIds = moved.map((row) => row.id);
  await recordDefectEvent(trx, {
    projectId, defectId: sourceId, actor, kind: 'merged_into', newValue: { defectId: targetId, key: target.key, reportIds }, at: now,
  });
  await recordDefectEvent(trx, {
    projectId, defectId: targetId, actor, kind: 'merged_from', newValue: { defectId: sourceId, key: source.key, reportIds }, at: now,
  });
  await refreshDefectCounts(trx, sourceId);
  await refreshDefectCounts(trx, targetId);
  return trx.selectFrom('defects').selectAll().where('id', '=', targetId).executeTakeFirstOrThrow();
}

/**
 * Moves one report out of its defect: onto `targetDefectId`, or onto a new defect made from the
 * report. A new defect is also marked "not a duplicate" of the old one, since a person has just
 * said they differ. Both histories record the move; both defects' counts are recomputed.
 */
export async function splitReport(
  trx: Transaction<Database>,
  input: { projectId: string; reportId: string; targetDefectId?: string; actor: Actor },
): Promise<Defect> {
  const { projectId, reportId, targetDefectId, actor } = input;
  const report = await trx.selectFrom('reports').selectAll().where('id', '=', reportId).where('projectId', '=', projectId).forUpdate().executeTakeFirst();
  if (!report) throw new AppError('not_found', 'report not found in this project');
  if (!report.defectId) throw new AppError('conflict', 'This report is still being processed and has no defect yet');
  const fromId = report.defectId;
  if (targetDefectId === fromId) throw new AppError('invalid_request', 'The report is already on that defect', { field: 'targetDefectId' });

  let target: Defect;
  if (targetDefectId) {
    const locked = await lockDefects(trx, projectId, [fromId, targetDefectId]);
    target = locked.get(targetDefectId)!;
    rejectMerged(target, 'target');
  } else {
    await lockDefects(trx, projectId, [fromId]);
    target = await createDefect(
      trx,
      {
        projectId,
        title: reportTitle(report),
        description: report.description,
        origin: report.origin,
        component: report.component,
        route: report.route,
        foundInReleaseId: report.releaseId,
        errorSignature: report.errorSignature,
        requestSignature: report.requestSignature,
        firstSeenAt: report.receivedAt,
      },
      actor,
    );
    const [defectA, defectB] = orderedPair(fromId, target.id);
    await trx
      .insertInto('defectNonDuplicates')
      .values({ projectId, defectA, defectB, createdBy: actor.userId ?? null })
      .onConflict((conflict) => conflict.columns(['defectA', 'defectB']).doNothing())
      .execute();
  }
  await recordDefectEvent(trx, { projectId, defectId: fromId, actor, kind: 'report_split', newValue: { reportId, toDefectId: target.id, toKey: target.key } });
  await attachReportToDefect(trx, reportId, target.id, actor);
  await refreshDefectCounts(trx, fromId);
  return trx.selectFrom('defects').selectAll().where('id', '=', target.id).executeTakeFirstOrThrow();
}

/** Marks two defects "not a duplicate" (idempotent); the engine never suggests the pair again. */
export async function markNotDuplicate(
  trx: Transaction<Database>,
  input: { projectId: string; defectId: string; otherDefectId: string; actor: Actor },
): Promise<void> {
  const { projectId, defectId, otherDefectId, actor } = input;
  if (defectId === otherDefectId) throw new AppError('invalid_request', 'A defect is always a duplicate of itself', { field: 'otherDefectId' });
  const defects = await lockDefects(trx, projectId, [defectId, otherDefectId]);
  const [defectA, defectB] = orderedPair(defectId, otherDefectId);
  const inserted = await trx
    .insertInto('defectNonDuplicates')
    .values({ projectId, defectA, defectB, createdBy: actor.userId ?? null })
    .onConflict((conflict) => conflict.columns(['defectA', 'defectB']).doNothing())
    .returning('defectA')
    .executeTakeFirst();
  if (!inserted) return;
  for (const [id, otherId] of [[defectId, otherDefectId], [otherDefectId, defectId]]) {
    await recordDefectEvent(trx, {
      projectId, defectId: id, actor, kind: 'marked_not_duplicate', newValue: { defectId: otherId, key: defects.get(otherId)!.key },
    });
  }
}

/** Ids of the defects a person said are not duplicates of `defectId`. */
export async function nonDuplicatesOf(db: Executor, defectId: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('defectNonDuplicates')
    .select(['defectA', 'defectB'])
    .where((where) => where.or([where('defectA', '=', defectId), where('defectB', '=', defectId)]))
    .execute();
  return new Set(rows.map((row) => (row.defectA === defectId ? row.defectB : row.defectA)));
}
