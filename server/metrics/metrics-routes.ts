import Router from '@koa/router';
import type { Context } from 'koa';
import type { DatabaseHandle } from '../db/database';
import { SharedSnapshotReader } from '../db/shared-snapshot';
import { AppError } from '../http/app-error';
import { authorizeProject } from '../http/authenticate';
import { isTimeZone } from './metric-math';
import { MetricsCache, endOfMinute } from './metrics-cache';
import { isUuid } from '../projects/project-service';
import { type MetricsQueryInput, computeMetrics, parseInstant, resolveMetricsQuery } from './metrics-service';
import { computeReadiness, readinessToCsv } from './readiness-service';

/**
 * `GET /api/v1/projects/:projectId/metrics?release=&component=&from=&to=&asOf=&tz=`: every
 * metric with its numerator and denominator.
 * `GET /api/v1/projects/:projectId/releases/:release/readiness?asOf=&tz=&format=csv|json`: the
 * go/no-go evidence; `format` turns it into a download.
 * Both need the viewer role (people) or the `metrics:read` scope (API tokens). Answers are reused
 * while the data is unchanged (`MetricsCache`; header `X-Metrics-Cache: hit|miss`); a request
 * with `Cache-Control: no-cache` is always computed afresh.
 */
export function metricsRoutes(database: DatabaseHandle): Router {
  const { db } = database;
  const cache = new MetricsCache();
  // Metrics and readiness parts run at once on PostgreSQL (two connections per answer); two
  // connections stay free for everything else, so a burst of these requests cannot hold the pool.
  const snapshotReader = database.connections > 1 ? new SharedSnapshotReader(db, database.connections - 2) : null;
  const router = new Router({ prefix: '/api/v1/projects/:projectId' });

  router.get('/metrics', async (ctx) => {
    const projectId = await authorize(ctx);
    const query = await resolveMetricsQuery(db, projectId, {
      release: single(ctx, 'release'),
      component: single(ctx, 'component'),
      from: single(ctx, 'from'),
      to: single(ctx, 'to'),
      asOf: single(ctx, 'asOf'),
      tz: single(ctx, 'tz'),
    } satisfies MetricsQueryInput);
    const key = JSON.stringify(['metrics', projectId, query.release?.id ?? null, query.component, query.from, query.to, query.asOf, query.timeZone]);
    const { value, hit } = await cache.get(db, projectId, key, () => computeMetrics(db, query, { snapshotReader }), bypassCache(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Metrics-Cache', hit ? 'hit' : 'miss');
    ctx.body = value;
  });

  router.get('/releases/:release/readiness', async (ctx) => {
    const projectId = await authorize(ctx);
    const format = single(ctx, 'format');
    if (format !== undefined && format !== 'csv' && format !== 'json') {
      throw new AppError('invalid_request', 'format must be csv or json', { field: 'format' });
    }
    const timeZone = single(ctx, 'tz') || 'UTC';
    if (!isTimeZone(timeZone)) throw new AppError('invalid_request', 'tz must be an IANA time zone such as UTC or Europe/Berlin', { field: 'tz' });
    const asOfText = single(ctx, 'asOf');
    const asOf = asOfText ? parseInstant(asOfText, timeZone, 'end', 'asOf') : endOfMinute(new Date());
    const reference = ctx.params.release;
    if (reference.length > 200) throw new AppError('not_found', 'release not found');
    const key = JSON.stringify(['readiness', projectId, reference, asOf]);
    const { value: report, hit } = await cache.get(db, projectId, key, () => computeReadiness(db, projectId, reference, asOf, { snapshotReader }), bypassCache(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Metrics-Cache', hit ? 'hit' : 'miss');
    const filename = `readiness-${report.release.version.replace(/[^A-Za-z0-9._-]+/g, '_')}`;
    if (format === 'csv') {
      ctx.type = 'text/csv; charset=utf-8';
      ctx.attachment(`${filename}.csv`);
      ctx.body = readinessToCsv(report);
      return;
    }
    if (format === 'json') ctx.attachment(`${filename}.json`);
    ctx.body = report;
  });

  async function authorize(ctx: Context): Promise<string> {
    const projectId = ctx.params.projectId as string;
    // A malformed id can name no project: answer like an unknown one (and keep it away from a uuid cast).
    if (!isUuid(projectId)) {
      if (!ctx.state.principal) throw new AppError('unauthenticated', 'Sign in or send an API token');
      throw new AppError('not_found', 'project not found');
    }
    await authorizeProject(ctx, db, projectId, { role: 'viewer', scope: 'metrics:read' });
    return projectId;
  }

  return router;
}

/** `Cache-Control: no-cache` from the caller asks for a freshly computed answer. */
function bypassCache(ctx: Context): boolean {
  return /no-cache/i.test(ctx.get('cache-control'));
}

/** One query-string value; a repeated parameter is a mistake worth a clear 400, not a silent pick. */
function single(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  if (Array.isArray(value)) throw new AppError('invalid_request', `${name} may be given once`, { field: name });
  return value === undefined || value === '' ? undefined : value;
}
