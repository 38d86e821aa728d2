import Router from '@koa/router';
import { z } from 'zod';
import type { AppDependencies } from '../app';
import { AppError } from '../http/app-error';
import { authorizeProject, requireUser } from '../http/authenticate';
import { parseWith } from '../http/json-body';
import { listAuditLog } from './audit-log';

const pageSchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** The `nextCursor` of the previous page. */
  before: z.string().regex(/^\d{1,18}$/, 'must be a cursor from nextCursor').optional(),
  action: z.string().max(100).optional(),
});

/**
 * The audit log of administrative actions, newest first, in pages:
 * - `GET /api/v1/projects/:projectId/audit-log?limit=&before=&action=` (a signed-in admin of the project)
 * - `GET /api/v1/audit-log` (instance admins: every project, plus actions outside projects)
 * Tokens never read it: it names people and what they changed.
 */
export function auditRoutes(dependencies: Pick<AppDependencies, 'database'>): Router {
  const { db } = dependencies.database;
  const router = new Router({ prefix: '/api/v1' });

  router.get('/projects/:projectId/audit-log', async (ctx) => {
    await authorizeProject(ctx, db, ctx.params.projectId, { role: 'admin', scope: 'defects:write' });
    requireUser(ctx);
    const page = parseWith(pageSchema, ctx.query);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await listAuditLog(db, { projectId: ctx.params.projectId, ...page });
  });

  router.get('/audit-log', async (ctx) => {
    const user = requireUser(ctx);
    if (!user.isInstanceAdmin) throw new AppError('forbidden', 'The instance audit log is for instance administrators');
    const page = parseWith(pageSchema, ctx.query);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await listAuditLog(db, page);
  });

  return router;
}
