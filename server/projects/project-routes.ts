import Router from '@koa/router';
import type { Context } from 'koa';
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { apiTokenScopes } from '../../shared/scopes';
import type { AppDependencies } from '../app';
import { createApiToken } from '../auth/api-token-service';
import type { Database, ProjectRole } from '../db/schema';
import { validateRulePattern } from '../enrich/component-rules';
import { AppError, notFound } from '../http/app-error';
import { authorizeProject, requirePrincipal, requireUser } from '../http/authenticate';
import { readBody } from '../http/json-body';
import { createUser, findUserByEmail, setProjectRole } from '../users/user-service';
import { auditActorOf, recordAudit } from '../audit/audit-log';
import { isUuid, normalizeOrigin } from './project-service';
import { orderReleases } from '../releases/release-order';
import type { Kysely } from 'kysely';

const roleSchema = z.enum(['admin', 'triager', 'viewer']);
const projectUpdateSchema = z.object({
  name: z.string().trim().min(1, 'is required').max(200).optional(),
  allowedOrigins: z.array(z.string().max(300)).max(100).optional(),
  /** Merged key by key into the stored settings; a key set to null is removed. */
  settings: z.record(z.string().max(100), z.unknown()).optional(),
});
const ruleSchema = z.object({
  pattern: z.string().trim().min(1, 'is required').max(500),
  patternKind: z.enum(['glob', 'regex']).default('glob'),
  component: z.string().trim().min(1, 'is required').max(100),
  position: z.number().int().min(0).max(100_000).optional(),
});
const memberSchema = z.object({
  email: z.string().trim().min(3).max(320),
  role: roleSchema,
  /** Needed only when no user with this email exists yet: the new account's first password. */
  password: z.string().min(8, 'must be at least 8 characters').max(1024).optional(),
  name: z.string().trim().max(200).optional(),
});
const tokenSchema = z.object({
  name: z.string().trim().min(1, 'is required').max(100),
  scopes: z.array(z.string()).min(1, 'needs at least one scope'),
});
const savedViewSchema = z.object({
  name: z.string().trim().min(1, 'is required').max(80),
  /** Inbox query parameters (status, severity, q, …) exactly as the inbox URL carries them. */
  query: z.record(z.string().max(40), z.string().max(500)).refine((value) => Object.keys(value).length <= 20, 'has too many keys'),
});

/** A saved inbox view, kept in `projects.settings.savedViews` (small, per project, shared by the team). */
export interface SavedView {
  id: string;
  name: string;
  query: Record<string, string>;
  createdBy: string | null;
}

/**
 * Projects and their administration: settings, allowed origins, component rules, members and
 * roles, API tokens, saved views and releases. Reads need viewer (or a token with defects:read);
 * administration needs a signed-in admin; saved views need triager.
 */
export function projectRoutes(dependencies: AppDependencies): Router {
  const { db } = dependencies.database;
  const router = new Router({ prefix: '/api/v1/projects' });
  const read = { role: 'viewer', scope: 'defects:read' } as const;
  const triage = { role: 'triager', scope: 'defects:write' } as const;

  /** Admin work is for people: a token never manages members, tokens or settings. */
  async function requireAdmin(ctx: Context, projectId: string): Promise<string> {
    // The project check comes first, so another project's token gets 404 like anyone outside it.
    await authorizeProject(ctx, db, projectId, { role: 'admin', scope: 'defects:write' });
    return requireUser(ctx).userId;
  }

  router.get('/', async (ctx) => {
    const principal = requirePrincipal(ctx);
    let query = db.selectFrom('projects').select(['projects.id', 'projects.name', 'projects.keyPrefix']).where('projects.archivedAt', 'is', null);
    if (principal.kind === 'token') query = query.where('projects.id', '=', principal.projectId);
    else if (!principal.isInstanceAdmin) {
      query = query.where('projects.id', 'in', db.selectFrom('projectMembers').select('projectId').where('userId', '=', principal.userId));
    }
    ctx.body = { projects: await query.orderBy('projects.name').execute() };
  });

  router.get('/:projectId', async (ctx) => {
    const role = await authorizeProject(ctx, db, ctx.params.projectId, read);
    const project = await db
      .selectFrom('projects')
      .select(['id', 'name', 'keyPrefix', 'publicKey', 'allowedOrigins', 'settings', 'createdAt'])
      .where('id', '=', ctx.params.projectId)
      .executeTakeFirstOrThrow();
    ctx.body = { project, role };
  });

  router.patch('/:projectId', async (ctx) => {
    await requireAdmin(ctx, ctx.params.projectId);
    const input = await readBody(ctx, projectUpdateSchema);
    const project = await db.transaction().execute(async (trx) => {
      const current = await trx.selectFrom('projects').select(['name', 'allowedOrigins', 'settings']).where('id', '=', ctx.params.projectId).forUpdate().executeTakeFirstOrThrow();
      const update: Record<string, unknown> = { updatedAt: new Date() };
      if (input.name !== undefined) update.name = input.name;
      if (input.allowedOrigins !== undefined) update.allowedOrigins = [...new Set(input.allowedOrigins.map(normalizeOrigin))];
      if (input.settings !== undefined) {
        if ('savedViews' in input.settings) throw new AppError('invalid_request', 'Saved views are changed through /views', { field: 'settings.savedViews' });
        const settings: Record<string, unknown> = { ...current.settings };
        for (const [key, value] of Object.entries(input.settings)) {
          if (value === null) delete settings[key];
          else settings[key] = value;
        }
        update.settings = JSON.stringify(settings);
      }
      const updated = await trx
        .updateTable('projects')
        .set(update)
        .where('id', '=', ctx.params.projectId)
        .returning(['id', 'name', 'keyPrefix', 'publicKey', 'allowedOrigins', 'settings', 'createdAt'])
        .executeTakeFirstOrThrow();
      const changedSettings = Object.keys(input.settings ?? {});
      const summary = (project: { name: string; allowedOrigins: string[]; settings: Record<string, unknown> }) => ({
        ...(input.name !== undefined ? { name: project.name } : {}),
        ...(input.allowedOrigins !== undefined ? { allowedOrigins: project.allowedOrigins } : {}),
        ...(changedSettings.length > 0 ? { settings: Object.fromEntries(changedSettings.map((key) => [key, project.settings[key] ?? null])) } : {}),
      });
      await recordAudit(trx, auditActorOf(ctx), { projectId: ctx.params.projectId, action: 'project.updated', target: ctx.params.projectId, before: summary(current), after: summary(updated) });
      return updated;
    });
    ctx.body = { project };
  });

  // Component rules: the first matching pattern names a report's component.
  router.get('/:projectId/component-rules', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    ctx.body = { rules: await listRules(db, ctx.params.projectId) };
  });

  router.post('/:projectId/component-rules', async (ctx) => {
    await requireAdmin(ctx, ctx.params.projectId);
    const input = await readBody(ctx, ruleSchema);
    assertValidRule(input);
    const rule = await db.transaction().execute(async (trx) => {
      const last = await trx.selectFrom('componentRules').select(sql<number>`coalesce(max(position), -1)`.as('position')).where('projectId', '=', ctx.params.projectId).executeTakeFirstOrThrow();
      const created = await trx
        .insertInto('componentRules')
        .values({ projectId: ctx.params.projectId, pattern: input.pattern, patternKind: input.patternKind, component: input.component, position: input.position ?? last.position + 1 })
        .returning(['id', 'position', 'pattern', 'patternKind', 'component'])
        .executeTakeFirstOrThrow();
      await recordAudit(trx, auditActorOf(ctx), { projectId: ctx.params.projectId, action: 'component_rule.created', target: created.id, after: created });
      return created;
    });
    ctx.status = 201;
    ctx.body = { rule };
  });

  router.patch('/:projectId/component-rules/:ruleId', async (ctx) => {
    await requireAdmin(ctx, ctx.params.projectId);
    const input = await readBody(ctx, ruleSchema.partial());
    const current = await findRule(db, ctx.params.projectId, ctx.params.ruleId);
    const merged = { ...current, ...Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) };
    assertValidRule(merged);
    const rule = await db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('componentRules')
        .set({ pattern: merged.pattern, patternKind: merged.patternKind, component: merged.component, position: merged.position })
        .where('id', '=', current.id)
        .returning(['id', 'position', 'pattern', 'patternKind', 'component'])
        .executeTakeFirstOrThrow();
      await recordAudit(trx, auditActorOf(ctx), { projectId: ctx.params.projectId, action: 'component_rule.updated', target: current.id, before: current, after: updated });
      return updated;
    });
    ctx.body = { rule };
  });

  router.delete('/:projectId/component-rules/:ruleId', async (ctx) => {
    await requireAdmin(ctx, ctx.params.projectId);
    const current = await findRule(db, ctx.params.projectId, ctx.params.ruleId);
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('componentRules').where('id', '=', current.id).execute();
      await recordAudit(trx, auditActorOf(ctx), { projectId: ctx.params.projectId, action: 'component_rule.deleted', target: current.id, before: current });
    });
    ctx.status = 204;
  });

  // Members and roles. Everyone in the project may see who is in it (assignee lists need it).
  router.get('/:projectId/members', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    ctx.body = { members: await listMembers(db, ctx.params.projectId) };
  });

  router.post('/:projectId/members', async (ctx) => {
    await requireAdmin(ctx, ctx.params.projectId);
    const input = await readBody(ctx, memberSchema);
    const actor = auditActorOf(ctx);
    const member = await db.transaction().execute(async (trx) => {
      let user = await findUserByEmail(trx, input.email);
      if (!user) {
        if (!input.password) {
          throw new AppError('invalid_request', `No account exists for ${input.email}; give a first password to create one`, { field: 'password' });
        }
        user = await createUser(trx, { email: input.email, password: input.password, name: input.name });
        await recordAudit(trx, actor, { projectId: ctx.params.projectId, action: 'user.created', target: user.id, after: { email: user.email, name: user.name } });
      }
      const previous = await trx.selectFrom('projectMembers').select('role').where('projectId', '=', ctx.params.projectId).where('userId', '=', user.id).executeTakeFirst();
      await setProjectRole(trx, ctx.params.projectId, user.id, input.role);
      await recordAudit(trx, actor, {
        projectId: ctx.params.projectId,
        action: previous ? 'member.role_changed' : 'member.added',
        target: user.id,
        before: previous ? { role: previous.role } : null,
        after: { email: user.email, role: input.role },
      });
      return { userId: user.id, email: user.email, name: user.name, role: input.role };
    });
    ctx.status = 201;
    ctx.body = { member };
  });

  router.patch('/:projectId/members/:userId', async (ctx) => {
    await requireAdmin(ctx, ctx.params.projectId);
    const input = await readBody(ctx, z.object({ role: roleSchema }));
    await db.transaction().execute(async (trx) => {
      const previous = await findMember(trx, ctx.params.projectId, ctx.params.userId);
      if (input.role !== 'admin') await keepOneAdmin(trx, ctx.params.projectId, ctx.params.userId);
      await setProjectRole(trx, ctx.params.projectId, ctx.params.userId, input.role);
      await recordAudit(trx, auditActorOf(ctx), { projectId: ctx.params.projectId, action: 'member.role_changed', target: ctx.params.userId, before: { role: previous }, after: { role: input.role } });
    });
    ctx.body = { members: await listMembers(db, ctx.params.projectId) };
  });

  router.delete('/:projectId/members/:userId', async (ctx) => {
    await requireAdmin(ctx, ctx.params.projectId);
    await db.transaction().execute(async (trx) => {
      const previous = await findMember(trx, ctx.params.projectId, ctx.params.userId);
      await keepOneAdmin(trx, ctx.params.projectId, ctx.params.userId);
      await trx.deleteFrom('projectMembers').where('projectId', '=', ctx.params.projectId).where('userId', '=', ctx.params.userId).execute();
      await recordAudit(trx, auditActorOf(ctx), { projectId: ctx.params.projectId, action: 'member.removed', target: ctx.params.userId, before: { role: previous } });
    });
    ctx.status = 204;
  });

  // API tokens: the token is shown once, at creation; afterwards only its prefix.
  router.get('/:projectId/api-tokens', async (ctx) => {
    await requireAdmin(ctx, ctx.params.projectId);
    const tokens = await db
      .selectFrom('apiTokens')
      .leftJoin('users', 'users.id', 'apiTokens.createdBy')
      .select(['apiTokens.id', 'apiTokens.name', 'apiTokens.tokenPrefix', 'apiTokens.scopes', 'apiTokens.createdAt', 'apiTokens.lastUsedAt', 'apiTokens.revokedAt', 'users.email as createdByEmail'])
      .where('apiTokens.projectId', '=', ctx.params.projectId)
      .orderBy('apiTokens.createdAt', 'desc')
      .execute();
    ctx.body = { tokens, scopes: apiTokenScopes };
  });

  router.post('/:projectId/api-tokens', async (ctx) => {
    const actorId = await requireAdmin(ctx, ctx.params.projectId);
    const input = await readBody(ctx, tokenSchema);
    const created = await db.transaction().execute(async (trx) => {
      const token = await createApiToken(trx, { projectId: ctx.params.projectId, name: input.name, scopes: input.scopes, createdBy: actorId });
      await recordAudit(trx, auditActorOf(ctx), { projectId: ctx.params.projectId, action: 'api_token.created', target: token.id, after: { name: input.name, scopes: token.scopes, prefix: token.token.slice(0, 10) } });
      return token;
    });
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { token: { id: created.id, name: input.name, scopes: created.scopes, tokenPrefix: created.token.slice(0, 10) }, secret: created.token };
  });

  router.delete('/:projectId/api-tokens/:tokenId', async (ctx) => {
    await requireAdmin(ctx, ctx.params.projectId);
    if (!isUuid(ctx.params.tokenId)) throw notFound('API token');
    await db.transaction().execute(async (trx) => {
      const revoked = await trx
        .updateTable('apiTokens')
        .set({ revokedAt: new Date() })
        .where('id', '=', ctx.params.tokenId)
        .where('projectId', '=', ctx.params.projectId)
        .where('revokedAt', 'is', null)
        .returning(['id', 'name', 'scopes'])
        .executeTakeFirst();
      if (!revoked) throw notFound('API token');
      await recordAudit(trx, auditActorOf(ctx), { projectId: ctx.params.projectId, action: 'api_token.revoked', target: revoked.id, before: { name: revoked.name, scopes: revoked.scopes } });
    });
    ctx.status = 204;
  });

  // Releases, for the inbox's release filter and the triage fields: newest first, in the one
  // release order (server/releases/release-order.ts), so pre-releases and nightlies sit where the
  // test pages and the metrics put them.
  router.get('/:projectId/releases', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    const rows = await db
      .selectFrom('releases')
      .select(['id', 'version', 'releasedAt', 'firstSeenAt', 'semverMajor', 'semverMinor', 'semverPatch', 'semverPrerelease'])
      .where('projectId', '=', ctx.params.projectId)
      .execute();
    const releases = orderReleases(rows)
      .reverse()
      .slice(0, 500)
      .map(({ id, version, releasedAt, firstSeenAt }) => ({ id, version, releasedAt, firstSeenAt }));
    ctx.body = { releases };
  });

  // Saved inbox views, shared by the project's team.
  router.get('/:projectId/views', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    ctx.body = { views: await readViews(db, ctx.params.projectId) };
  });

  router.post('/:projectId/views', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, triage);
    const principal = requirePrincipal(ctx);
    const input = await readBody(ctx, savedViewSchema);
    const view: SavedView = { id: randomUUID(), name: input.name, query: input.query, createdBy: principal.kind === 'user' ? principal.userId : null };
    await db.transaction().execute(async (trx) => {
      const views = await readViews(trx, ctx.params.projectId, true);
      if (views.length >= 50) throw new AppError('invalid_request', 'A project keeps at most 50 saved views; delete one first');
      await writeViews(trx, ctx.params.projectId, [...views, view]);
    });
    ctx.status = 201;
    ctx.body = { view };
  });

  router.delete('/:projectId/views/:viewId', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, triage);
    await db.transaction().execute(async (trx) => {
      const views = await readViews(trx, ctx.params.projectId, true);
      const remaining = views.filter((view) => view.id !== ctx.params.viewId);
      if (remaining.length === views.length) throw notFound('saved view');
      await writeViews(trx, ctx.params.projectId, remaining);
    });
    ctx.status = 204;
  });

  return router;
}

type Executor = Kysely<Database>;

function assertValidRule(rule: { pattern: string; patternKind: 'glob' | 'regex' }): void {
  const problem = validateRulePattern(rule);
  if (problem) throw new AppError('invalid_request', problem, { field: 'pattern' });
}

async function listRules(db: Executor, projectId: string) {
  return db
    .selectFrom('componentRules')
    .select(['id', 'position', 'pattern', 'patternKind', 'component'])
    .where('projectId', '=', projectId)
    .orderBy('position')
    .orderBy('createdAt')
    .execute();
}

async function findRule(db: Executor, projectId: string, ruleId: string) {
  if (!isUuid(ruleId)) throw notFound('component rule');
  const rule = await db
    .selectFrom('componentRules')
    .select(['id', 'position', 'pattern', 'patternKind', 'component'])
    .where('id', '=', ruleId)
    .where('projectId', '=', projectId)
    .executeTakeFirst();
  if (!rule) throw notFound('component rule');
  return rule;
}

async function listMembers(db: Executor, projectId: string) {
  return db
    .selectFrom('projectMembers')
    .innerJoin('users', 'users.id', 'projectMembers.userId')
    .select(['users.id as userId', 'users.email', 'users.name', 'projectMembers.role', 'users.disabledAt'])
    .where('projectMembers.projectId', '=', projectId)
    .orderBy('users.email')
    .execute();
}

async function findMember(db: Executor, projectId: string, userId: string): Promise<ProjectRole> {
  if (!isUuid(userId)) throw notFound('member');
  const member = await db.selectFrom('projectMembers').select('role').where('projectId', '=', projectId).where('userId', '=', userId).executeTakeFirst();
  if (!member) throw notFound('member');
  return member.role;
}

/** A project must keep one admin member, or nobody but an instance admin could manage it. */
async function keepOneAdmin(db: Executor, projectId: string, leavingUserId: string): Promise<void> {
  const others = await db
    .selectFrom('projectMembers')
    .select('userId')
    .where('projectId', '=', projectId)
    .where('role', '=', 'admin')
    .where('userId', '!=', leavingUserId)
    .executeTakeFirst();
  const leavingIsAdmin = (await findMember(db, projectId, leavingUserId)) === 'admin';
  if (leavingIsAdmin && !others) throw new AppError('conflict', 'A project needs at least one admin; make someone else admin first');
}

async function readViews(db: Executor, projectId: string, lock = false): Promise<SavedView[]> {
  let query = db.selectFrom('projects').select('settings').where('id', '=', projectId);
  if (lock) query = query.forUpdate();
  const row = await query.executeTakeFirstOrThrow();
  const views = (row.settings as { savedViews?: unknown }).savedViews;
  return Array.isArray(views) ? (views as SavedView[]) : [];
}

async function writeViews(db: Executor, projectId: string, views: SavedView[]): Promise<void> {
  await db
    .updateTable('projects')
    .set({ settings: sql`jsonb_set(settings, '{savedViews}', ${JSON.stringify(views)}::jsonb)` })
    .where('id', '=', projectId)
    .execute();
}

