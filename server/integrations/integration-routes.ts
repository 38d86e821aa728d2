import Router from '@koa/router';
import type { Context } from 'koa';
import type { Transaction } from 'kysely';
import { z } from 'zod';
import type { ApiTokenScope } from '../../shared/scopes';
import type { AppDependencies } from '../app';
import type { Config } from '../config';
import type { Database, ProjectRole } from '../db/schema';
import { authorizeProject } from '../http/authenticate';
import { AppError } from '../http/app-error';
import {
  createDestination,
  deleteDestination,
  destinationInputSchema,
  destinationPatchSchema,
  findDestinationRow,
  settingsOf,
  toView,
  updateDestination,
} from '../destinations/destination-repository';
import { InvalidSignatureError } from '../destinations/destination';
import { destinationKinds, findDestination } from '../destinations/registry';
import { loadTicketContent } from '../destinations/ticket-content';
import { routeDefect } from '../routing/route-defect';
import { createRule, deleteRule, listRules, reorderRules, routingRuleInputSchema, routingRulePatchSchema, ruleView, updateRule } from '../routing/routing-rules';
import { enqueueDelivery, integrationJobKinds } from './delivery-queue';
import { buildOpenApiDocument, type RouteSpec } from './openapi';
import { readJsonBody, readRawBody } from './request-body';
import { reporterReportsQuerySchema, reporterStatusRoutes } from './reporter-status';
import { SecretBox } from './secret-box';
import { createOutboundNetwork } from './outbound-network';
import { applyStatusChange } from './status-sync';
import { type AuditEntry, auditActorOf, recordAudit } from '../audit/audit-log';
import type { DestinationRow, RoutingRuleRow } from '../db/schema';

const uuid = z.uuid();
const sendSchema = z.object({ destinationId: z.uuid().optional() });

/**
 * The integrations API: destinations and routing rules (admins), dead letters and "Send to…"
 * (triagers), ticket links per defect (viewers), inbound tracker webhooks (signature-checked),
 * the reporter-status endpoint for the widget, and the OpenAPI description of all of it.
 */
export function integrationRoutes(config: Config, dependencies: AppDependencies): Router {
  const db = dependencies.database.db;
  const box = new SecretBox(config.secretKey);
  // Save-time half of the SSRF check (the connect-time half is in the delivery jobs).
  const outbound = createOutboundNetwork({ allowPrivateAddresses: config.allowPrivateDestinationAddresses });
  const router = new Router();

  /** Configuration holds secrets: only signed-in admins manage it, never API tokens. */
  async function access(ctx: Context, role: ProjectRole, scope: ApiTokenScope, allowTokens: boolean): Promise<string> {
    const projectId = ctx.params.projectId as string;
    if (!uuid.safeParse(projectId).success) throw new AppError('not_found', 'project not found');
    const granted = await authorizeProject(ctx, db, projectId, { role, scope });
    if (granted === 'token' && !allowTokens) throw new AppError('forbidden', 'Integration settings can only be changed by a signed-in admin, not an API token');
    return projectId;
  }

  async function requireDefect(projectId: string, defectId: string) {
    const defect = uuid.safeParse(defectId).success
      ? await db.selectFrom('defects').select(['id', 'projectId']).where('id', '=', defectId).where('projectId', '=', projectId).executeTakeFirst()
      : undefined;
    if (!defect) throw new AppError('not_found', 'defect not found');
    return defect;
  }

  /** What the audit log keeps of a destination: its settings and which secrets are set, never their values. */
  function destinationSummary(row: DestinationRow) {
    const view = toView(box, row, config.publicUrl);
    return { kind: view.kind, name: view.name, config: view.config, secretsSet: view.secretsSet, enabled: view.enabled, maxAttempts: view.maxAttempts, timeoutMs: view.timeoutMs };
  }

  /** Runs an administrative change and its audit row in one transaction. */
  function audited<T>(ctx: Context, change: (trx: Transaction<Database>) => Promise<{ result: T; entry: AuditEntry }>): Promise<T> {
    return db.transaction().execute(async (trx) => {
      const { result, entry } = await change(trx);
      await recordAudit(trx, auditActorOf(ctx), entry);
      return result;
    });
  }

  const specs: RouteSpec[] = [
    {
      method: 'get',
      path: '/api/v1/integrations/kinds',
      summary: 'Destination kinds with the JSON schema of their config and the names of their secrets',
      access: 'public',
      handler: async (ctx) => {
        ctx.body = {
          kinds: destinationKinds().map((kind) => {
            const destination = findDestination(kind)!;
            return {
              kind,
              label: destination.label,
              role: destination.role,
              configSchema: z.toJSONSchema(destination.configSchema, { io: 'input', unrepresentable: 'any' }),
              secrets: Object.keys((destination.secretsSchema as unknown as z.ZodObject).shape ?? {}),
            };
          }),
        };
      },
    },
    {
      method: 'get',
      path: '/api/v1/projects/:projectId/destinations',
      summary: 'List destinations (secrets are never returned; `secretsSet` names those stored)',
      access: 'admin',
      handler: async (ctx) => {
        const projectId = await access(ctx, 'admin', 'defects:write', false);
        const rows = await db.selectFrom('destinations').selectAll().where('projectId', '=', projectId).orderBy('createdAt').execute();
        ctx.body = { destinations: rows.map((row) => toView(box, row, config.publicUrl)) };
      },
    },
    {
      method: 'post',
      path: '/api/v1/projects/:projectId/destinations',
      summary: 'Create a destination; secrets are encrypted (AES-256-GCM) and write-only',
      access: 'admin',
      status: 201,
      requestBody: destinationInputSchema,
      handler: async (ctx) => {
        const projectId = await access(ctx, 'admin', 'defects:write', false);
        const input = await readJsonBody(ctx);
        const row = await audited(ctx, async (trx) => {
          const created = await createDestination(trx, box, projectId, input, outbound);
          return { result: created, entry: { projectId, action: 'destination.created', target: created.id, after: destinationSummary(created) } };
        });
        ctx.status = 201;
        ctx.body = { destination: toView(box, row, config.publicUrl) };
      },
    },
    {
      method: 'get',
      path: '/api/v1/projects/:projectId/destinations/:destinationId',
      summary: 'One destination',
      access: 'admin',
      handler: async (ctx) => {
        const projectId = await access(ctx, 'admin', 'defects:write', false);
        ctx.body = { destination: toView(box, await findDestinationRow(db, projectId, ctx.params.destinationId), config.publicUrl) };
      },
    },
    {
      method: 'patch',
      path: '/api/v1/projects/:projectId/destinations/:destinationId',
      summary: 'Change a destination; config is replaced, secrets are merged (null removes one)',
      access: 'admin',
      requestBody: destinationPatchSchema,
      handler: async (ctx) => {
        const projectId = await access(ctx, 'admin', 'defects:write', false);
        const input = await readJsonBody(ctx);
        const row = await audited(ctx, async (trx) => {
          const before = await findDestinationRow(trx, projectId, ctx.params.destinationId);
          const updated = await updateDestination(trx, box, projectId, ctx.params.destinationId, input, outbound);
          const secretsChanged = Object.keys(((input as { secrets?: object } | null)?.secrets ?? {}) as object);
          return {
            result: updated,
            entry: { projectId, action: 'destination.updated', target: updated.id, before: destinationSummary(before), after: destinationSummary(updated), detail: { secretsChanged } },
          };
        });
        ctx.body = { destination: toView(box, row, config.publicUrl) };
      },
    },
    {
      method: 'delete',
      path: '/api/v1/projects/:projectId/destinations/:destinationId',
      summary: 'Delete a destination (its ticket links go with it)',
      access: 'admin',
      status: 204,
      handler: async (ctx) => {
        const projectId = await access(ctx, 'admin', 'defects:write', false);
        await audited(ctx, async (trx) => {
          const before = await findDestinationRow(trx, projectId, ctx.params.destinationId);
          await deleteDestination(trx, projectId, before.id);
          return { result: undefined, entry: { projectId, action: 'destination.deleted', target: before.id, before: destinationSummary(before) } };
        });
        ctx.status = 204;
      },
    },
    {
      method: 'get',
      path: '/api/v1/projects/:projectId/routing-rules',
      summary: 'List routing rules in evaluation order',
      access: 'admin',
      handler: async (ctx) => {
        const projectId = await access(ctx, 'admin', 'defects:write', false);
        ctx.body = { rules: (await listRules(db, projectId)).map(ruleView) };
      },
    },
    {
      method: 'post',
      path: '/api/v1/projects/:projectId/routing-rules',
      summary: 'Create a routing rule (appended at the end unless a position is given)',
      access: 'admin',
      status: 201,
      requestBody: routingRuleInputSchema,
      handler: async (ctx) => {
        const projectId = await access(ctx, 'admin', 'defects:write', false);
        ctx.status = 201;
        const input = await readJsonBody(ctx);
        const rule = await audited(ctx, async (trx) => {
          const created = await createRule(trx, projectId, input);
          return { result: created, entry: { projectId, action: 'routing_rule.created', target: created.id, after: ruleSummary(created) } };
        });
        ctx.body = { rule: ruleView(rule) };
      },
    },
    {
      method: 'put',
      path: '/api/v1/projects/:projectId/routing-rules/order',
      summary: 'Reorder the rules: `ids` lists every rule once, first evaluated first',
      access: 'admin',
      requestBody: z.object({ ids: z.array(z.uuid()) }),
      handler: async (ctx) => {
        const projectId = await access(ctx, 'admin', 'defects:write', false);
        const body = await readJsonBody(ctx);
        const rules = await audited(ctx, async (trx) => {
          const before = (await listRules(trx, projectId)).map((rule) => rule.id);
          const reordered = await reorderRules(trx, projectId, body);
          return { result: reordered, entry: { projectId, action: 'routing_rule.reordered', before: { order: before }, after: { order: reordered.map((rule) => rule.id) } } };
        });
        ctx.body = { rules: rules.map(ruleView) };
      },
    },
    {
      method: 'patch',
      path: '/api/v1/projects/:projectId/routing-rules/:ruleId',
      summary: 'Change a routing rule',
      access: 'admin',
      requestBody: routingRulePatchSchema,
      handler: async (ctx) => {
        const projectId = await access(ctx, 'admin', 'defects:write', false);
        const input = await readJsonBody(ctx);
        const rule = await audited(ctx, async (trx) => {
          const before = (await listRules(trx, projectId)).find((candidate) => candidate.id === ctx.params.ruleId);
          const updated = await updateRule(trx, projectId, ctx.params.ruleId, input);
          return { result: updated, entry: { projectId, action: 'routing_rule.updated', target: updated.id, before: before ? ruleSummary(before) : null, after: ruleSummary(updated) } };
        });
        ctx.body = { rule: ruleView(rule) };
      },
    },
    {
      method: 'delete',
      path: '/api/v1/projects/:projectId/routing-rules/:ruleId',
      summary: 'Delete a routing rule',
      access: 'admin',
      status: 204,
      handler: async (ctx) => {
        const projectId = await access(ctx, 'admin', 'defects:write', false);
        await audited(ctx, async (trx) => {
          const before = (await listRules(trx, projectId)).find((candidate) => candidate.id === ctx.params.ruleId);
          await deleteRule(trx, projectId, ctx.params.ruleId);
          return { result: undefined, entry: { projectId, action: 'routing_rule.deleted', target: ctx.params.ruleId, before: before ? ruleSummary(before) : null } };
        });
        ctx.status = 204;
      },
    },
    {
      method: 'get',
      path: '/api/v1/projects/:projectId/dead-letters',
      summary: 'Deliveries that failed for good (the dead-letter list), newest first',
      access: 'triager (token: defects:read)',
      handler: async (ctx) => {
        const projectId = await access(ctx, 'triager', 'defects:read', true);
        const rows = await db
          .selectFrom('jobs')
          .select(['id', 'kind', 'payload', 'attempts', 'maxAttempts', 'lastError', 'createdAt', 'finishedAt'])
          .where('projectId', '=', projectId)
          .where('state', '=', 'dead')
          .where('kind', 'in', Object.values(integrationJobKinds))
          .orderBy('finishedAt', 'desc')
          .limit(200)
          .execute();
        ctx.body = { deadLetters: rows };
      },
    },
    {
      method: 'post',
      path: '/api/v1/projects/:projectId/dead-letters/:jobId/retry',
      summary: 'Retry a dead delivery now, with a fresh set of attempts',
      access: 'triager (token: defects:write)',
      status: 202,
      handler: async (ctx) => {
        const projectId = await access(ctx, 'triager', 'defects:write', true);
        const jobId = ctx.params.jobId as string;
        if (!/^\d{1,18}$/.test(jobId)) throw new AppError('not_found', 'dead letter not found');
        const revived = await db
          .updateTable('jobs')
          .set({ state: 'pending', attempts: 0, runAt: new Date(), finishedAt: null })
          .where('id', '=', jobId as never)
          .where('projectId', '=', projectId)
          .where('state', '=', 'dead')
          .where('kind', 'in', Object.values(integrationJobKinds))
          .returning(['id', 'kind', 'state'])
          .executeTakeFirst();
        if (!revived) throw new AppError('not_found', 'dead letter not found');
        dependencies.jobs.poke();
        ctx.status = 202;
        ctx.body = { job: revived };
      },
    },
    {
      method: 'post',
      path: '/api/v1/projects/:projectId/defects/:defectId/send',
      summary: '"Send to…": deliver a defect to one destination now, or (without destinationId) run the rules with the manual trigger. A tracker still gets one ticket at most',
      access: 'triager (token: defects:write)',
      status: 202,
      requestBody: sendSchema,
      handler: async (ctx) => {
        const projectId = await access(ctx, 'triager', 'defects:write', true);
        const defect = await requireDefect(projectId, ctx.params.defectId);
        const parsed = sendSchema.safeParse(await readJsonBody(ctx));
        if (!parsed.success) throw new AppError('invalid_request', 'destinationId must be the id of a destination', { field: 'destinationId' });
        let deliveries = 1;
        if (parsed.data.destinationId) {
          const destination = await findDestinationRow(db, projectId, parsed.data.destinationId);
          if (!destination.enabled) throw new AppError('conflict', 'This destination is disabled');
          await db.transaction().execute((trx) => enqueueDelivery(trx, destination, defect.id, 'manual', ''));
        } else {
          deliveries = await db.transaction().execute((trx) => routeDefect(trx, defect.id, 'manual'));
        }
        dependencies.jobs.poke();
        ctx.status = 202;
        ctx.body = { status: 'queued', deliveries };
      },
    },
    {
      method: 'get',
      path: '/api/v1/projects/:projectId/defects/:defectId/integrations',
      summary: 'Tickets of a defect, delivery state per tracker, a pre-filled "create issue" link where delivery failed, and the destinations it can be sent to',
      access: 'viewer (token: defects:read)',
      handler: async (ctx) => {
        const projectId = await access(ctx, 'viewer', 'defects:read', true);
        const defect = await requireDefect(projectId, ctx.params.defectId);
        ctx.body = await defectIntegrations(projectId, defect.id);
      },
    },
    {
      method: 'post',
      path: '/api/v1/integrations/:destinationId/webhook',
      summary: 'Inbound tracker webhook (Jira: X-Hub-Signature; Linear: Linear-Signature). Bad or stale signatures get 401',
      access: 'signature',
      handler: async (ctx) => {
        const destinationId = ctx.params.destinationId as string;
        const row = uuid.safeParse(destinationId).success ? await db.selectFrom('destinations').selectAll().where('id', '=', destinationId).executeTakeFirst() : undefined;
        const destination = row && findDestination(row.kind);
        if (!row || !destination?.parseInboundWebhook || !row.enabled) throw new AppError('not_found', 'no tracker webhook here');
        const rawBody = await readRawBody(ctx);
        const { settings } = settingsOf(box, row);
        let result;
        try {
          result = destination.parseInboundWebhook(settings, { headers: ctx.headers as Record<string, string | undefined>, rawBody, receivedAt: new Date() });
        } catch (error) {
          if (error instanceof InvalidSignatureError) throw new AppError('invalid_signature', error.message);
          throw error;
        }
        const outcome = await db.transaction().execute(async (trx) => {
          if (result.deliveryId) {
            const fresh = await trx
              .insertInto('inboundWebhookDeliveries')
              .values({ source: `${row.kind}:${row.id}`, deliveryId: result.deliveryId.slice(0, 200) })
              .onConflict((conflict) => conflict.columns(['source', 'deliveryId']).doNothing())
              .returning('deliveryId')
              .executeTakeFirst();
            if (!fresh) return 'duplicate';
          }
          if (result.kind === 'ignored') return 'ignored';
          return applyStatusChange(trx, row, result.change);
        });
        dependencies.jobs.poke();
        ctx.body = { status: outcome };
      },
    },
  ];

  async function defectIntegrations(projectId: string, defectId: string) {
    const destinations = await db.selectFrom('destinations').selectAll().where('projectId', '=', projectId).orderBy('createdAt').execute();
    const tickets = await db.selectFrom('externalTickets').selectAll().where('defectId', '=', defectId).execute();
    const jobs = await db
      .selectFrom('jobs')
      .select(['id', 'state', 'attempts', 'lastError', 'idempotencyKey'])
      .where('idempotencyKey', 'in', destinations.length > 0 ? destinations.map((row) => `ticket:${row.id}:${defectId}`) : ['-'])
      .execute();
    // The "Send to…"s of this defect per notifier (keys `notify:<destination>:<defect>:manual:<uuid>`,
    // a prefix index per destination), newest first.
    const notifierIds = destinations.filter((row) => findDestination(row.kind)?.role === 'notifier').map((row) => row.id);
    const manualSends =
      notifierIds.length === 0
        ? []
        : await db
            .selectFrom('jobs')
            .select(['id', 'state', 'attempts', 'lastError', 'idempotencyKey', 'createdAt', 'finishedAt'])
            .where('kind', '=', integrationJobKinds.notify)
            .where((eb) => eb.or(notifierIds.map((id) => eb('idempotencyKey', 'like', `notify:${id}:${defectId}:manual:%`))))
            .orderBy('createdAt', 'desc')
            .orderBy('id', 'desc')
            .execute();
    let content: Awaited<ReturnType<typeof loadTicketContent>> | undefined;
    const trackers = [];
    for (const row of destinations) {
      const destination = findDestination(row.kind);
      if (destination?.role !== 'tracker') continue;
      const ticket = tickets.find((candidate) => candidate.destinationId === row.id && candidate.externalKey);
      const job = jobs.find((candidate) => candidate.idempotencyKey === `ticket:${row.id}:${defectId}`);
      const delivery = ticket ? 'delivered' : job ? (job.state === 'dead' ? 'failed' : 'pending') : 'not_sent';
      let createIssueUrl: string | null = null;
      if (!ticket && delivery === 'failed' && destination.createIssueUrl) {
        content ??= await loadTicketContent(db, defectId, config.publicUrl);
        try {
          createIssueUrl = destination.createIssueUrl(settingsOf(box, row).settings, content) ?? null;
        } catch {
          createIssueUrl = null;
        }
      }
      trackers.push({
        destinationId: row.id,
        kind: row.kind,
        name: row.name,
        delivery,
        ticket: ticket ? { key: ticket.externalKey, url: ticket.url, state: ticket.state, stateName: ticket.stateName, lastSyncedAt: ticket.lastSyncedAt } : null,
        // A dead delivery's error, or the last failed attempt of one still being retried.
        lastError: job && (job.state === 'dead' || job.attempts > 0) ? job.lastError : null,
        deadLetterId: job?.state === 'dead' ? job.id : null,
        createIssueUrl,
      });
    }
    const regression = await db
      .selectFrom('defectEvents')
      .select('createdAt')
      .where('defectId', '=', defectId)
      .where('kind', '=', 'possible_regression')
      .orderBy('createdAt', 'desc')
      .executeTakeFirst();
    // Where a triager can send this defect by hand ("Send to…"): every destination of the
    // project with what the dashboard needs to offer it, never its config or secrets.
    const sendTargets = destinations.map((row) => {
      const view = toView(box, row, config.publicUrl);
      const send = view.role === 'notifier' ? manualSends.find((job) => job.idempotencyKey?.startsWith(`notify:${row.id}:`)) : undefined;
      const lastSend = send
        ? {
            state: send.state === 'done' ? ('sent' as const) : send.state === 'dead' ? ('failed' as const) : ('queued' as const),
            queuedAt: send.createdAt,
            sentAt: send.state === 'done' ? send.finishedAt : null,
            error: send.state === 'dead' || send.attempts > 0 ? send.lastError : null,
            deadLetterId: send.state === 'dead' ? send.id : null,
          }
        : null;
      return { destinationId: row.id, kind: row.kind, name: row.name, role: view.role, enabled: row.enabled, configured: view.configured, lastSend };
    });
    return { trackers, sendTargets, possibleRegressionAt: regression?.createdAt ?? null };
  }

  for (const spec of specs) router[spec.method](spec.path, spec.handler);
  const reporter = reporterStatusRoutes(db);
  const allSpecs = [...specs, ...reporter.specs];
  for (const spec of reporter.specs) router[spec.method](spec.path, spec.handler);
  router.options(reporter.preflightPath, reporter.preflight);
  const document = buildOpenApiDocument(allSpecs, { reporterQuery: reporterReportsQuerySchema });
  router.get('/api/v1/integrations/openapi.json', async (ctx) => {
    ctx.body = document;
  });
  return router;
}

/** What the audit log keeps of a routing rule. */
function ruleSummary(row: RoutingRuleRow) {
  const { id: _id, createdAt: _createdAt, ...rest } = ruleView(row);
  return rest;
}
