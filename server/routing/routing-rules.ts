import type { Kysely, Transaction } from 'kysely';
import { z } from 'zod';
import type { Database, RoutingRuleRow } from '../db/schema';
import { AppError } from '../http/app-error';
import { findDestination } from '../destinations/registry';

type Executor = Kysely<Database> | Transaction<Database>;

export const routingTriggers = ['defect_created', 'threshold_crossed', 'reopened', 'manual'] as const;
export type RoutingTrigger = (typeof routingTriggers)[number];

/** Every condition present must hold; an absent condition matches anything. */
export const routingConditionsSchema = z
  .object({
    components: z.array(z.string().min(1).max(200)).max(50).optional(),
    severities: z.array(z.enum(['blocker', 'critical', 'major', 'minor', 'trivial'])).optional(),
    origins: z.array(z.enum(['field', 'qa', 'ci'])).optional(),
    /** Versions of the release the defect was found in. */
    releases: z.array(z.string().min(1).max(100)).max(50).optional(),
    /** At least this many reports; with the threshold_crossed trigger, fires once when reached. */
    minReports: z.number().int().min(1).max(1_000_000).optional(),
    /** Case-insensitive words that must all appear in the title or description. */
    text: z.string().trim().min(1).max(200).optional(),
  })
  .strict();
export type RoutingConditions = z.output<typeof routingConditionsSchema>;

/** What a matching rule does; `stop` ends evaluation of later rules (like a mail filter). */
export const routingActionSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('create_ticket'), destinationId: z.uuid() }),
  z.object({ type: z.literal('notify_slack'), destinationId: z.uuid() }),
  z.object({ type: z.literal('call_webhook'), destinationId: z.uuid() }),
  z.object({ type: z.literal('send_email'), destinationId: z.uuid() }),
  z.object({ type: z.literal('stop') }),
]);
export type RoutingAction = z.output<typeof routingActionSchema>;

const actionKinds: Record<Exclude<RoutingAction['type'], 'stop'>, (kind: string) => boolean> = {
  create_ticket: (kind) => findDestination(kind)?.role === 'tracker',
  notify_slack: (kind) => kind === 'slack',
  call_webhook: (kind) => kind === 'webhook',
  send_email: (kind) => kind === 'email',
};

export const routingRuleInputSchema = z.object({
  name: z.string().trim().min(1).max(200),
  triggers: z.array(z.enum(routingTriggers)).min(1).max(routingTriggers.length),
  conditions: routingConditionsSchema.default({}),
  actions: z.array(routingActionSchema).min(1).max(20),
  enabled: z.boolean().default(true),
  /** Where it goes in the order; appended at the end when absent. */
  position: z.number().int().min(0).max(10_000).optional(),
});
/** A change: every field optional and without defaults, so an absent field is left alone. */
export const routingRulePatchSchema = z.object({
  name: z.string().trim().min(1).max(200).optional(),
  triggers: z.array(z.enum(routingTriggers)).min(1).max(routingTriggers.length).optional(),
  conditions: routingConditionsSchema.optional(),
  actions: z.array(routingActionSchema).min(1).max(20).optional(),
  enabled: z.boolean().optional(),
  position: z.number().int().min(0).max(10_000).optional(),
});

/** The facts about a defect that rules look at. */
export interface RoutingFacts {
  component: string | null;
  severity: string | null;
  origin: string;
  release: string | null;
  reportCount: number;
  title: string;
  description: string;
}

/** Whether a rule's conditions hold for a defect. Pure, so it is unit-tested alone. */
export function conditionsMatch(conditions: RoutingConditions, facts: RoutingFacts): boolean {
  if (conditions.components && !(facts.component && conditions.components.some((component) => component.toLowerCase() === facts.component!.toLowerCase()))) return false;
  if (conditions.severities && !(facts.severity && (conditions.severities as string[]).includes(facts.severity))) return false;
  if (conditions.origins && !(conditions.origins as string[]).includes(facts.origin)) return false;
  if (conditions.releases && !(facts.release && conditions.releases.includes(facts.release))) return false;
  if (conditions.minReports !== undefined && facts.reportCount < conditions.minReports) return false;
  if (conditions.text) {
    const haystack = `${facts.title}\n${facts.description}`.toLowerCase();
    if (!conditions.text.toLowerCase().split(/\s+/).every((word) => haystack.includes(word))) return false;
  }
  return true;
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path.map(String).join('.');
    throw new AppError('invalid_request', `${path ? `${path}: ` : ''}${issue.message}`, { field: path || undefined });
  }
  return parsed.data;
}

/** Actions must name destinations of this project and of the right kind. */
async function checkActions(db: Executor, projectId: string, actions: RoutingAction[]): Promise<void> {
  for (const [index, action] of actions.entries()) {
    if (action.type === 'stop') continue;
    const destination = await db.selectFrom('destinations').select(['kind']).where('id', '=', action.destinationId).where('projectId', '=', projectId).executeTakeFirst();
    if (!destination) throw new AppError('invalid_request', `actions.${index}.destinationId: no such destination in this project`, { field: `actions.${index}.destinationId` });
    if (!actionKinds[action.type](destination.kind)) {
      throw new AppError('invalid_request', `actions.${index}: ${action.type} cannot use a ${destination.kind} destination`, { field: `actions.${index}.type` });
    }
  }
}

/** A rule as the API shows it. */
export function ruleView(row: RoutingRuleRow) {
  return { id: row.id, name: row.name, position: row.position, triggers: row.triggers, conditions: row.conditions, actions: row.actions, enabled: row.enabled, createdAt: row.createdAt };
}

export async function listRules(db: Executor, projectId: string): Promise<RoutingRuleRow[]> {
  return db.selectFrom('routingRules').selectAll().where('projectId', '=', projectId).orderBy('position').orderBy('createdAt').execute();
}

export async function createRule(db: Executor, projectId: string, input: unknown): Promise<RoutingRuleRow> {
  const data = parseWith(routingRuleInputSchema, input);
  await checkActions(db, projectId, data.actions);
  const last = await db.selectFrom('routingRules').select((eb) => eb.fn.max('position').as('position')).where('projectId', '=', projectId).executeTakeFirst();
  const position = data.position ?? (last?.position ?? -1) + 1;
  return db
    .insertInto('routingRules')
    .values({ projectId, position, name: data.name, triggers: data.triggers, conditions: JSON.stringify(data.conditions), actions: JSON.stringify(data.actions), enabled: data.enabled })
    .returningAll()
    .executeTakeFirstOrThrow();
}

async function findRule(db: Executor, projectId: string, id: string): Promise<RoutingRuleRow> {
  const row = z.uuid().safeParse(id).success
    ? await db.selectFrom('routingRules').selectAll().where('id', '=', id).where('projectId', '=', projectId).executeTakeFirst()
    : undefined;
  if (!row) throw new AppError('not_found', 'routing rule not found');
  return row;
}

export async function updateRule(db: Executor, projectId: string, id: string, input: unknown): Promise<RoutingRuleRow> {
  const data = parseWith(routingRulePatchSchema, input);
  const row = await findRule(db, projectId, id);
  if (data.actions) await checkActions(db, projectId, data.actions);
  const update: Record<string, unknown> = {};
  if (data.name !== undefined) update.name = data.name;
  if (data.triggers !== undefined) update.triggers = data.triggers;
  if (data.conditions !== undefined) update.conditions = JSON.stringify(data.conditions);
  if (data.actions !== undefined) update.actions = JSON.stringify(data.actions);
  if (data.enabled !== undefined) update.enabled = data.enabled;
  if (data.position !== undefined) update.position = data.position;
  if (Object.keys(update).length === 0) return row;
  return db.updateTable('routingRules').set(update).where('id', '=', row.id).returningAll().executeTakeFirstOrThrow();
}

export async function deleteRule(db: Executor, projectId: string, id: string): Promise<void> {
  const row = await findRule(db, projectId, id);
  await db.deleteFrom('routingRules').where('id', '=', row.id).execute();
}

/** Puts the project's rules in the given order (every rule id exactly once). */
export async function reorderRules(trx: Transaction<Database>, projectId: string, input: unknown): Promise<RoutingRuleRow[]> {
  const { ids } = parseWith(z.object({ ids: z.array(z.uuid()).max(1000) }), input);
  const current = await listRules(trx, projectId);
  if (ids.length !== current.length || new Set(ids).size !== ids.length || !current.every((rule) => ids.includes(rule.id))) {
    throw new AppError('invalid_request', 'ids must list every rule of the project exactly once', { field: 'ids' });
  }
  for (const [position, id] of ids.entries()) await trx.updateTable('routingRules').set({ position }).where('id', '=', id).execute();
  return listRules(trx, projectId);
}
