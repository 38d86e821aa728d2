import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { AppDependencies } from '../app';
import type { Transaction } from 'kysely';
import type { Database, DefectOrigin, DefectSeverity, DefectStatus } from '../db/schema';
import { AppError, notFound } from '../http/app-error';
import { authorizeProject, type Principal } from '../http/authenticate';
import { parseWith, readBody } from '../http/json-body';
import { isUuid } from '../projects/project-service';
import {
  assertProjectMember,
  assertProjectRelease,
  getDefectDetail,
  inboxSorts,
  latestProjectActivity,
  listDefectComments,
  listDefectEvents,
  listDefectReports,
  listComponents,
  listInbox,
  openStatuses,
  resolveDefectId,
} from './defect-queries';
import { type Actor, type DefectChanges, defectStatuses, recordDefectEvent, updateDefect } from './defect-service';
import { onDefectStatusChanged } from '../routing/route-defect';
import { isTimeZone } from '../metrics/metric-math';
import { parseInstant } from '../metrics/metrics-service';
import { inboxAgeBuckets, noComponent } from '../../shared/dashboard-api';

const severities = ['blocker', 'critical', 'major', 'minor', 'trivial'] as const;
const priorities = ['urgent', 'high', 'medium', 'low', 'none'] as const;
const settableStatuses = defectStatuses.filter((status) => status !== 'reopened') as [DefectStatus, ...DefectStatus[]];

const list = <T extends string>(values: readonly T[], name: string) =>
  z
    .string()
    .transform((value) => value.split(',').map((part) => part.trim()).filter(Boolean))
    .pipe(z.array(z.enum(values as unknown as [T, ...T[]], { message: `must be a comma-separated list of ${values.join(', ')}` })).max(20))
    .describe(name);

const booleanParameter = z.enum(['true', 'false']).transform((value) => value === 'true');

const inboxQuerySchema = z.object({
  status: z.union([z.literal('open'), z.literal('all'), list(defectStatuses, 'status')]).optional(),
  severity: list([...severities, 'none'] as const, 'severity').optional(),
  component: z.string().max(100).optional(),
  release: z.string().max(100).optional(),
  origin: list(['field', 'qa', 'ci'] as const, 'origin').optional(),
  reopened: booleanParameter.optional(),
  hasTicket: booleanParameter.optional(),
  coverageGap: booleanParameter.optional(),
  assignee: z.string().max(40).optional(),
  q: z.string().max(200).optional(),
  sort: z.enum(inboxSorts).optional(),
  createdFrom: z.string().max(40).optional(),
  createdTo: z.string().max(40).optional(),
  resolvedFrom: z.string().max(40).optional(),
  resolvedTo: z.string().max(40).optional(),
  tz: z.string().max(64).optional(),
  age: z.enum(inboxAgeBuckets.map((bucket) => bucket.key) as [string, ...string[]], { message: `must be one of ${inboxAgeBuckets.map((bucket) => bucket.key).join(', ')}` }).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
  offset: z.coerce.number().int().min(0).max(10_000).optional(),
});

const defectChangesSchema = z
  .object({
    title: z.string().trim().min(1).max(300),
    status: z.enum(settableStatuses),
    severity: z.enum(severities).nullable(),
    priority: z.enum(priorities).nullable(),
    assigneeId: z.string().nullable(),
    component: z.string().trim().max(100).nullable(),
    foundInReleaseId: z.string().nullable(),
    fixedInReleaseId: z.string().nullable(),
  })
  .partial()
  .strict();

const bulkSchema = z.object({
  defectIds: z.array(z.string().refine(isUuid, 'must be defect ids')).min(1, 'needs at least one defect').max(200),
  changes: z.object({ status: z.enum(settableStatuses).optional(), severity: z.enum(severities).nullable().optional() }).strict(),
});

const commentSchema = z.object({ body: z.string().trim().min(1, 'is required').max(10_000) });

/** Who made a change, for the history: a person, or a script with an API token. */
export function actorOf(ctx: Context): Actor {
  const principal = ctx.state.principal as Principal;
  return principal.kind === 'user' ? { kind: 'user', userId: principal.userId } : { kind: 'api' };
}

/**
 * The triage API: the inbox (filters, search, sort, pages), bulk changes, the defect page
 * (detail, reports, screenshots, history, comments) and triage field updates. Reads need
 * viewer or `defects:read`; changes need triager or `defects:write`. Every change goes
 * through `updateDefect`, so it lands in the history.
 */
export function defectRoutes(dependencies: AppDependencies): Router {
  const { db } = dependencies.database;
  const router = new Router({ prefix: '/api/v1/projects/:projectId' });
  const read = { role: 'viewer', scope: 'defects:read' } as const;
  const triage = { role: 'triager', scope: 'defects:write' } as const;

  router.get('/defects', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    const query = parseWith(inboxQuerySchema, ctx.query);
    const statuses = query.status === 'all' ? undefined : query.status === 'open' || query.status === undefined ? openStatuses : query.status;
    let assigneeId = query.assignee;
    if (assigneeId === 'me') {
      const principal = ctx.state.principal as Principal;
      assigneeId = principal.kind === 'user' ? principal.userId : 'none';
    } else if (assigneeId && assigneeId !== 'none' && !isUuid(assigneeId)) {
      throw new AppError('invalid_request', 'assignee must be a user id, "me" or "none"', { field: 'assignee' });
    }
    if (query.release && !isUuid(query.release)) throw new AppError('invalid_request', 'release must be a release id', { field: 'release' });
    const timeZone = query.tz || 'UTC';
    if (!isTimeZone(timeZone)) throw new AppError('invalid_request', 'tz must be an IANA time zone such as UTC or Europe/Berlin', { field: 'tz' });
    // Days (2026-11-16) are whole days in `tz`, both ends inclusive, as in the metrics API.
    const instant = (name: 'createdFrom' | 'createdTo' | 'resolvedFrom' | 'resolvedTo') =>
      query[name] ? parseInstant(query[name], timeZone, name.endsWith('From') ? 'start' : 'end', name) : undefined;
    const bucket = inboxAgeBuckets.find((entry) => entry.key === query.age);
    ctx.body = await listInbox(
      db,
      ctx.params.projectId,
      {
        statuses,
        severities: query.severity as (DefectSeverity | 'none')[] | undefined,
        component: query.component === noComponent ? undefined : query.component,
        noComponent: query.component === noComponent,
        createdFrom: instant('createdFrom'),
        createdTo: instant('createdTo'),
        resolvedFrom: instant('resolvedFrom'),
        resolvedTo: instant('resolvedTo'),
        age: bucket && { minDays: bucket.minDays, maxDays: bucket.maxDays, now: new Date() },
        releaseId: query.release,
        origin: query.origin && (query.origin.length === 1 ? (query.origin[0] as DefectOrigin) : (query.origin as DefectOrigin[])),
        reopened: query.reopened,
        hasTicket: query.hasTicket,
        coverageGap: query.coverageGap,
        assigneeId,
        search: query.q,
      },
      { sort: query.sort, limit: query.limit, offset: query.offset },
    );
  });

  // Polled by the inbox and the defect page (every few seconds) to show new reports and changes live.
  router.get('/activity', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { cursor: await latestProjectActivity(db, ctx.params.projectId) };
  });

  // Facets for the filter bar: the components in use.
  router.get('/components', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    ctx.body = { components: await listComponents(db, ctx.params.projectId) };
  });

  router.post('/defects/bulk', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, triage);
    const input = await readBody(ctx, bulkSchema);
    const actor = actorOf(ctx);
    const updated = await db.transaction().execute(async (trx) => {
      const found = await trx.selectFrom('defects').select('id').where('projectId', '=', ctx.params.projectId).where('id', 'in', input.defectIds).execute();
      if (found.length !== new Set(input.defectIds).size) throw new AppError('invalid_request', 'Some defects are not in this project', { field: 'defectIds' });
      const results = [];
      for (const { id } of found) results.push(await updateDefectAndRoute(trx, id, input.changes, actor));
      return results;
    });
    ctx.body = { updated: updated.map((defect) => ({ id: defect.id, key: defect.key, status: defect.status, severity: defect.severity })) };
  });

  router.get('/defects/:defectId', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    const defectId = await resolveDefectId(db, ctx.params.projectId, ctx.params.defectId);
    ctx.body = await getDefectDetail(db, ctx.params.projectId, defectId);
  });

  router.patch('/defects/:defectId', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, triage);
    const defectId = await resolveDefectId(db, ctx.params.projectId, ctx.params.defectId);
    const changes = await readBody(ctx, defectChangesSchema);
    await assertProjectMember(db, ctx.params.projectId, changes.assigneeId);
    await assertProjectRelease(db, ctx.params.projectId, changes.foundInReleaseId);
    await assertProjectRelease(db, ctx.params.projectId, changes.fixedInReleaseId);
    await db.transaction().execute((trx) => updateDefectAndRoute(trx, defectId, changes, actorOf(ctx)));
    ctx.body = await getDefectDetail(db, ctx.params.projectId, defectId);
  });

  router.get('/defects/:defectId/reports', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    const defectId = await resolveDefectId(db, ctx.params.projectId, ctx.params.defectId);
    const query = parseWith(z.object({ limit: z.coerce.number().int().min(1).max(50).optional(), offset: z.coerce.number().int().min(0).optional() }), ctx.query);
    ctx.body = await listDefectReports(db, defectId, query);
  });

  router.get('/defects/:defectId/events', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    const defectId = await resolveDefectId(db, ctx.params.projectId, ctx.params.defectId);
    ctx.body = { events: await listDefectEvents(db, defectId) };
  });

  router.get('/defects/:defectId/comments', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    const defectId = await resolveDefectId(db, ctx.params.projectId, ctx.params.defectId);
    ctx.body = { comments: await listDefectComments(db, defectId) };
  });

  router.post('/defects/:defectId/comments', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, triage);
    const defectId = await resolveDefectId(db, ctx.params.projectId, ctx.params.defectId);
    const input = await readBody(ctx, commentSchema);
    const actor = actorOf(ctx);
    const comment = await db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('defectComments')
        .values({ defectId, authorId: actor.userId ?? null, body: input.body })
        .returning(['id', 'body', 'createdAt', 'authorId'])
        .executeTakeFirstOrThrow();
      // In the history too, so the timeline and the live-update cursor see it.
      await recordDefectEvent(trx, { projectId: ctx.params.projectId, defectId, actor, kind: 'commented', newValue: { commentId: row.id } });
      return row;
    });
    ctx.status = 201;
    ctx.body = { comment };
  });

  // Screenshots and other attachments: only for people (or tokens) with access to the project.
  router.get('/attachments/:attachmentId', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, read);
    if (!isUuid(ctx.params.attachmentId)) throw notFound('attachment');
    const attachment = await db
      .selectFrom('reportAttachments')
      .innerJoin('reports', 'reports.id', 'reportAttachments.reportId')
      .innerJoin('attachmentBlobs', 'attachmentBlobs.sha256', 'reportAttachments.sha256')
      .select(['reportAttachments.id', 'reportAttachments.filename', 'attachmentBlobs.contentType', 'attachmentBlobs.data', 'attachmentBlobs.sha256'])
      .where('reportAttachments.id', '=', ctx.params.attachmentId)
      .where('reports.projectId', '=', ctx.params.projectId)
      .executeTakeFirst();
    if (!attachment) throw notFound('attachment');
    const extension = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' }[attachment.contentType] ?? 'bin';
    const filename = `screenshot-${attachment.id.slice(0, 8)}.${extension}`;
    const disposition = ctx.query.download === '1' ? 'attachment' : 'inline';
    ctx.type = attachment.contentType;
    ctx.set('Content-Disposition', `${disposition}; filename="${filename}"`);
    ctx.set('X-Content-Type-Options', 'nosniff');
    // The bytes came from the public internet: never let them run as a document.
    ctx.set('Content-Security-Policy', "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox");
    ctx.set('Cache-Control', 'private, max-age=86400');
    ctx.set('ETag', `"${attachment.sha256}"`);
    ctx.status = 200; // Koa judges freshness only for a 2xx response
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = attachment.data;
  });

  return router;
}

/**
 * A triager's change, then the routing that follows from a status change (reopen rules, the
 * "fixed" email to reporters), queued in the same transaction.
 */
async function updateDefectAndRoute(trx: Transaction<Database>, defectId: string, changes: DefectChanges, actor: Actor) {
  const before = await trx.selectFrom('defects').select('status').where('id', '=', defectId).executeTakeFirstOrThrow();
  const updated = await updateDefect(trx, defectId, changes, actor);
  if (updated.status !== before.status) await onDefectStatusChanged(trx, defectId, before.status, updated.status);
  return updated;
}
