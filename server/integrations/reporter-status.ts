import type { Context } from 'koa';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import { reportReference } from '../../shared/report-schema';
import { sha256Hex } from '../auth/random-tokens';
import type { Database, Project } from '../db/schema';
import { AppError } from '../http/app-error';
import { findProjectByPublicKey } from '../projects/project-service';
import type { RouteSpec } from './openapi';

/** The header the widget sends its reporter token in (the token never goes in a URL, so no log keeps it). */
export const reporterTokenHeader = 'x-bugloop-reporter-token';
const reporterTokenPattern = /^[A-Za-z0-9_-]{16,100}$/;
const maxReports = 50;

export const reporterReportsQuerySchema = z.object({ key: z.string().min(1).max(200) });

/** What a reporter sees about one of their reports: nothing about anyone else. */
export interface ReporterReportStatus {
  reference: string;
  title: string;
  receivedAt: Date;
  /** received (not looked at yet), open, in_progress, fixed, wont_fix, reopened */
  status: 'received' | 'open' | 'in_progress' | 'fixed' | 'wont_fix' | 'reopened';
  fixedIn: string | null;
}

function reporterStatus(defectStatus: string | null): ReporterReportStatus['status'] {
  switch (defectStatus) {
    case null:
      return 'received';
    case 'in_progress':
      return 'in_progress';
    case 'resolved':
    case 'verified':
    case 'closed':
      return 'fixed';
    case 'wont_fix':
      return 'wont_fix';
    case 'reopened':
      return 'reopened';
    default:
      return 'open';
  }
}

/** CORS for the project's allowed origins only; a request without Origin (not a browser) is fine. */
function allowOrigin(ctx: Context, project: Project): void {
  const origin = ctx.get('origin');
  ctx.vary('Origin');
  if (!origin) return;
  if (!project.allowedOrigins.includes(origin)) throw new AppError('origin_not_allowed', 'This origin is not allowed for this project');
  ctx.set('Access-Control-Allow-Origin', origin);
}

async function projectFor(ctx: Context, db: Kysely<Database>): Promise<Project> {
  const key = (ctx.query.key as string | undefined) ?? ctx.get('x-bugloop-key');
  const project = key ? await findProjectByPublicKey(db, key) : undefined;
  if (!project) throw new AppError('invalid_project_key', 'Unknown project key; pass the public key as ?key=pk_…');
  return project;
}

/**
 * `GET /api/v1/reporter/reports?key=pk_…` with `X-Bugloop-Reporter-Token`: the status of the
 * reports sent from this browser (reports store sha256 of the token), e.g. "Fixed in 1.4.2".
 */
export function reporterStatusRoutes(db: Kysely<Database>) {
  const specs: RouteSpec[] = [
    {
      method: 'get',
      path: '/api/v1/reporter/reports',
      summary: "A reporter's own reports and their status, by the reporter token kept in their browser (header X-Bugloop-Reporter-Token)",
      access: 'reporter token',
      handler: async (ctx) => {
        const project = await projectFor(ctx, db);
        allowOrigin(ctx, project);
        ctx.set('Cache-Control', 'no-store');
        const token = ctx.get(reporterTokenHeader);
        if (!reporterTokenPattern.test(token)) throw new AppError('invalid_token', 'Send the reporter token (16–100 URL-safe characters) in X-Bugloop-Reporter-Token');
        const rows = await db
          .selectFrom('reports')
          .leftJoin('defects', 'defects.id', 'reports.defectId')
          .leftJoin('releases', 'releases.id', 'defects.fixedInReleaseId')
          .select(['reports.id', 'reports.title', 'reports.description', 'reports.receivedAt', 'defects.status', 'releases.version as fixedIn'])
          .where('reports.projectId', '=', project.id)
          .where('reports.reporterTokenHash', '=', sha256Hex(token))
          .orderBy('reports.receivedAt', 'desc')
          .limit(maxReports)
          .execute();
        const reports: ReporterReportStatus[] = rows.map((row) => {
          const status = reporterStatus(row.status);
          return {
            reference: reportReference(row.id),
            title: (row.title ?? row.description).replace(/\s+/g, ' ').trim().slice(0, 120),
            receivedAt: row.receivedAt,
            status,
            fixedIn: status === 'fixed' ? row.fixedIn : null,
          };
        });
        ctx.body = { reports };
      },
    },
  ];
  return {
    specs,
    preflightPath: '/api/v1/reporter/reports',
    /** Preflight: custom header needs permission; only allowed origins get it. */
    async preflight(ctx: Context) {
      // A preflight cannot carry the X-Bugloop-Key header's value: without ?key, an origin that
      // some project allows may ask (the GET itself is then checked against its own project).
      if (ctx.query.key) allowOrigin(ctx, await projectFor(ctx, db));
      else {
        const origin = ctx.get('origin');
        const allowed = origin
          ? await db.selectFrom('projects').select('id').where(sql<boolean>`${origin} = any(allowed_origins)`).where('archivedAt', 'is', null).executeTakeFirst()
          : undefined;
        if (!allowed) throw new AppError('origin_not_allowed', 'This origin is not allowed for any project');
        ctx.vary('Origin');
        ctx.set('Access-Control-Allow-Origin', origin);
      }
      ctx.set('Access-Control-Allow-Methods', 'GET');
      ctx.set('Access-Control-Allow-Headers', 'X-Bugloop-Reporter-Token, X-Bugloop-Key');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
    },
  };
}
