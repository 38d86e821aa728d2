import Router from '@koa/router';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import type { AppDependencies } from '../app';
import type { Actor } from '../defects/defect-service';
import { AppError } from '../http/app-error';
import { parseJson } from '../http/json-body';
import { authorizeProject, type Principal } from '../http/authenticate';
import { isUuid } from '../projects/project-service';
import { defectCandidates } from './defect-candidates';
import { markNotDuplicate, mergeDefects, splitReport } from './duplicate-actions';

function uuidParameter(value: string | undefined, name: string): string {
  if (!value || !isUuid(value)) throw new AppError('invalid_request', `${name} must be a UUID`, { field: name });
  return value.toLowerCase();
}

/** Reads a small JSON object body (empty body: `{}`). */
async function readJsonObject(ctx: Context): Promise<Record<string, unknown>> {
  const length = ctx.get('content-length');
  if (length === '0') return {};
  if (ctx.request.length && !ctx.is('application/json')) throw new AppError('unsupported_media_type', 'Send the body as application/json');
  let text: string;
  try {
    text = await getRawBody(ctx.req, { limit: '16kb', encoding: 'utf8' });
  } catch (error) {
    if ((error as { type?: string }).type === 'entity.too.large') throw new AppError('payload_too_large', 'The request body is too large');
    throw error;
  }
  if (text.trim() === '') return {};
  const value = parseJson(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AppError('invalid_request', 'The request body must be a JSON object');
  return value as Record<string, unknown>;
}

function bodyUuid(body: Record<string, unknown>, name: string, required: boolean): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) {
    if (required) throw new AppError('invalid_request', `${name} is required`, { field: name });
    return undefined;
  }
  if (typeof value !== 'string' || !isUuid(value)) throw new AppError('invalid_request', `${name} must be a UUID`, { field: name });
  return value.toLowerCase();
}

function actorOf(ctx: Context): Actor {
  const principal = ctx.state.principal as Principal;
  return principal.kind === 'user' ? { kind: 'user', userId: principal.userId } : { kind: 'api' };
}

/**
 * Possible duplicates and the triage actions on them:
 * - `GET  /api/v1/projects/:projectId/defects/:defectId/candidates` (viewer, defects:read)
 * - `POST /api/v1/projects/:projectId/defects/:defectId/merge` `{ targetDefectId }` (triager, defects:write)
 * - `POST /api/v1/projects/:projectId/reports/:reportId/split` `{ targetDefectId? }` (triager, defects:write)
 * - `POST /api/v1/projects/:projectId/defects/:defectId/not-duplicate` `{ otherDefectId }` (triager, defects:write)
 */
export function dedupRoutes(dependencies: Pick<AppDependencies, 'database'>): Router {
  const { db } = dependencies.database;
  const router = new Router({ prefix: '/api/v1/projects/:projectId' });

  router.get('/defects/:defectId/candidates', async (ctx) => {
    const projectId = uuidParameter(ctx.params.projectId, 'projectId');
    await authorizeProject(ctx, db, projectId, { role: 'viewer', scope: 'defects:read' });
    const defectId = uuidParameter(ctx.params.defectId, 'defectId');
    ctx.body = { candidates: await defectCandidates(db, projectId, defectId) };
  });

  router.post('/defects/:defectId/merge', async (ctx) => {
    const projectId = uuidParameter(ctx.params.projectId, 'projectId');
    await authorizeProject(ctx, db, projectId, { role: 'triager', scope: 'defects:write' });
    const sourceId = uuidParameter(ctx.params.defectId, 'defectId');
    const targetId = bodyUuid(await readJsonObject(ctx), 'targetDefectId', true)!;
    const defect = await db.transaction().execute((trx) => mergeDefects(trx, { projectId, sourceId, targetId, actor: actorOf(ctx) }));
    ctx.body = { defect };
  });

  router.post('/reports/:reportId/split', async (ctx) => {
    const projectId = uuidParameter(ctx.params.projectId, 'projectId');
    await authorizeProject(ctx, db, projectId, { role: 'triager', scope: 'defects:write' });
    const reportId = uuidParameter(ctx.params.reportId, 'reportId');
    const targetDefectId = bodyUuid(await readJsonObject(ctx), 'targetDefectId', false);
    const defect = await db.transaction().execute((trx) => splitReport(trx, { projectId, reportId, targetDefectId, actor: actorOf(ctx) }));
    ctx.body = { defect };
  });

  router.post('/defects/:defectId/not-duplicate', async (ctx) => {
    const projectId = uuidParameter(ctx.params.projectId, 'projectId');
    await authorizeProject(ctx, db, projectId, { role: 'triager', scope: 'defects:write' });
    const defectId = uuidParameter(ctx.params.defectId, 'defectId');
    const otherDefectId = bodyUuid(await readJsonObject(ctx), 'otherDefectId', true)!;
    await db.transaction().execute((trx) => markNotDuplicate(trx, { projectId, defectId, otherDefectId, actor: actorOf(ctx) }));
    ctx.status = 204;
  });

  return router;
}
