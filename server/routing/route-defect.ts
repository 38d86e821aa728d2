import { type Transaction, sql } from 'kysely';
import type { Database, Defect, DefectStatus } from '../db/schema';
import { doneStatuses, recordDefectEvent } from '../defects/defect-service';
import { enqueueJob } from '../outbox/job-queue';
import { enqueueDelivery, integrationJobKinds } from '../integrations/delivery-queue';
import { findDestination } from '../destinations/registry';
import { conditionsMatch, type RoutingAction, type RoutingConditions, type RoutingFacts, type RoutingTrigger } from './routing-rules';

/** Remote state categories meaning "done" (Jira statusCategory, Linear state type). */
export const doneTicketStates = new Set(['done', 'completed', 'canceled']);
/** How long new reports on a resolved defect are gathered into one tracker comment. */
const regressionCommentWindowMs = 15 * 60_000;

async function routingFacts(trx: Transaction<Database>, defectId: string): Promise<(RoutingFacts & { projectId: string; reopenCount: number }) | undefined> {
  return trx
    .selectFrom('defects')
    .leftJoin('releases', 'releases.id', 'defects.foundInReleaseId')
    .select([
      'defects.projectId',
      'defects.component',
      'defects.severity',
      'defects.origin',
      'releases.version as release',
      'defects.reportCount',
      'defects.title',
      'defects.description',
      'defects.reopenCount',
    ])
    .where('defects.id', '=', defectId)
    .where('defects.mergedIntoId', 'is', null)
    .executeTakeFirst();
}

/**
 * Runs the project's rules for one trigger, in order, and writes a delivery job for every action
 * of every matching rule (a `stop` action ends the walk). Everything is written in `trx`, the
 * transaction of the change that caused it. Returns how many deliveries were asked for.
 */
export async function routeDefect(trx: Transaction<Database>, defectId: string, trigger: RoutingTrigger): Promise<number> {
  // Rules first: most projects have none for most triggers, and then the defect need not be read.
  const rules = await trx
    .selectFrom('routingRules')
    .selectAll()
    .where('projectId', '=', (query) => query.selectFrom('defects').select('projectId').where('id', '=', defectId))
    .where('enabled', '=', true)
    .where(sql<boolean>`${trigger} = any(triggers)`)
    .orderBy('position')
    .orderBy('createdAt')
    .execute();
  if (rules.length === 0) return 0;
  const facts = await routingFacts(trx, defectId);
  if (!facts) return 0;
  let deliveries = 0;
  for (const rule of rules) {
    const conditions = rule.conditions as RoutingConditions;
    // A threshold rule without a threshold would fire on every report; it needs minReports.
    if (trigger === 'threshold_crossed' && conditions.minReports === undefined) continue;
    if (!conditionsMatch(conditions, facts)) continue;
    let stop = false;
    for (const action of rule.actions as RoutingAction[]) {
      if (action.type === 'stop') {
        stop = true;
        continue;
      }
      const destination = await trx
        .selectFrom('destinations')
        .select(['id', 'kind', 'projectId', 'maxAttempts', 'enabled'])
        .where('id', '=', action.destinationId)
        .executeTakeFirst();
      if (!destination?.enabled) continue;
      // The occasion makes each notification happen once: once per threshold rule, once per reopen.
      const occasion = trigger === 'threshold_crossed' ? `${rule.id}:${conditions.minReports}` : trigger === 'reopened' ? String(facts.reopenCount) : '';
      await enqueueDelivery(trx, destination, defectId, trigger, occasion);
      deliveries += 1;
    }
    if (stop) break;
  }
  return deliveries;
}

/**
 * The triggers each project has enabled rules for, in one read: report processing asks once per
 * batch and skips `routeDefect` for the triggers no rule listens to (most projects, most triggers).
 */
export async function routingTriggersByProject(trx: Transaction<Database>, projectIds: readonly string[]): Promise<Map<string, Set<RoutingTrigger>>> {
  const byProject = new Map<string, Set<RoutingTrigger>>(projectIds.map((id) => [id, new Set()]));
  if (projectIds.length === 0) return byProject;
  const rows = await trx
    .selectFrom('routingRules')
    .select(['projectId', 'triggers'])
    .where('projectId', 'in', [...projectIds])
    .where('enabled', '=', true)
    .execute();
  for (const row of rows) for (const trigger of row.triggers as RoutingTrigger[]) byProject.get(row.projectId)?.add(trigger);
  return byProject;
}

/**
 * Call after a new defect is committed to (inside the same transaction): runs the
 * `defect_created` rules. The lead's report processing calls this after dedup created a defect.
 */
export async function onDefectCreated(trx: Transaction<Database>, defect: Pick<Defect, 'id'>): Promise<void> {
  await routeDefect(trx, defect.id, 'defect_created');
}

/**
 * Call after a report was attached to an existing defect and its counts refreshed (same
 * transaction). Runs `threshold_crossed` rules, and when the defect or one of its tickets is
 * already done, flags a possible regression and queues a comment on each ticket
 * ("3 new reports since it was resolved, last on 1.4.2"), gathered over a short window.
 */
export async function onReportAddedToDefect(
  trx: Transaction<Database>,
  defectId: string,
  options: { /** False when the caller knows the project has no enabled `threshold_crossed` rule (saves reading them). */ thresholdRules?: boolean } = {},
): Promise<void> {
  if (options.thresholdRules !== false) await routeDefect(trx, defectId, 'threshold_crossed');
  const defect = await trx.selectFrom('defects').select(['id', 'projectId', 'status', 'resolvedAt']).where('id', '=', defectId).executeTakeFirst();
  if (!defect) return;
  const tickets = await trx.selectFrom('externalTickets').select(['id', 'state', 'updatedAt', 'destinationId']).where('defectId', '=', defectId).execute();
  const doneTickets = tickets.filter((ticket) => ticket.state && doneTicketStates.has(ticket.state));
  const defectDone = doneStatuses.has(defect.status);
  if (!defectDone && doneTickets.length === 0) return;

  const since = defect.resolvedAt ?? doneTickets.map((ticket) => ticket.updatedAt).sort((a, b) => a.getTime() - b.getTime())[0];
  const alreadyFlagged = await trx
    .selectFrom('defectEvents')
    .select('id')
    .where('defectId', '=', defectId)
    .where('kind', '=', 'possible_regression')
    .where('createdAt', '>=', since ?? new Date(0))
    .executeTakeFirst();
  if (!alreadyFlagged) {
    await recordDefectEvent(trx, {
      projectId: defect.projectId,
      defectId,
      actor: { kind: 'integration' },
      kind: 'possible_regression',
      newValue: { since: since?.toISOString() ?? null, status: defect.status },
    });
  }
  const window = Math.floor(Date.now() / regressionCommentWindowMs);
  for (const ticket of defectDone ? tickets : doneTickets) {
    const destination = await trx.selectFrom('destinations').select(['kind', 'maxAttempts', 'enabled']).where('id', '=', ticket.destinationId).executeTakeFirst();
    if (!destination?.enabled || !findDestination(destination.kind)?.addComment) continue;
    await enqueueJob(trx, {
      kind: integrationJobKinds.comment,
      projectId: defect.projectId,
      payload: { externalTicketId: ticket.id, defectId, since: since?.toISOString() ?? null },
      // One comment per ticket per window; the text is written when the job runs, with the count by then.
      idempotencyKey: `regression:${ticket.id}:${window}`,
      runAt: new Date(Date.now() + 60_000),
      maxAttempts: destination.maxAttempts,
    });
  }
}

/**
 * Call after a defect's status changed (same transaction), whoever changed it: runs `reopened`
 * rules on a reopen and tells reporters who left an email when it became done.
 */
export async function onDefectStatusChanged(trx: Transaction<Database>, defectId: string, previous: DefectStatus, current: DefectStatus): Promise<void> {
  if (previous === current) return;
  if (current === 'reopened') await routeDefect(trx, defectId, 'reopened');
  if (!doneStatuses.has(previous) && doneStatuses.has(current)) await notifyReporters(trx, defectId, current);
}

/** One email job per reporter address of the defect (and its merged duplicates), once per resolution. */
async function notifyReporters(trx: Transaction<Database>, defectId: string, status: DefectStatus): Promise<void> {
  const defect = await trx.selectFrom('defects').select(['projectId', 'reopenCount']).where('id', '=', defectId).executeTakeFirstOrThrow();
  const email = await trx
    .selectFrom('destinations')
    .select(['id', 'maxAttempts'])
    .where('projectId', '=', defect.projectId)
    .where('kind', '=', 'email')
    .where('enabled', '=', true)
    .orderBy('createdAt')
    .executeTakeFirst();
  if (!email) return;
  const reports = await trx
    .selectFrom('reports')
    .select(['id', 'reporterEmail'])
    .where((eb) => eb.or([eb('defectId', '=', defectId), eb('defectId', 'in', eb.selectFrom('defects').select('id').where('mergedIntoId', '=', defectId))]))
    .where('reporterEmail', 'is not', null)
    .orderBy('receivedAt')
    .execute();
  const seen = new Set<string>();
  for (const report of reports) {
    const address = report.reporterEmail!.trim().toLowerCase();
    if (seen.has(address)) continue;
    seen.add(address);
    await enqueueJob(trx, {
      kind: integrationJobKinds.notifyReporter,
      projectId: defect.projectId,
      payload: { destinationId: email.id, reportId: report.id, defectId, status },
      idempotencyKey: `reporter:${defectId}:${address}:${defect.reopenCount}`,
      maxAttempts: email.maxAttempts,
    });
  }
}
