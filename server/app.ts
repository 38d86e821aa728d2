import path from 'node:path';
import type Router from '@koa/router';
import Koa from 'koa';
import type { Config } from './config';
import type { DatabaseHandle } from './db/database';
import type { Logger } from './logger';
import type { JobWorker } from './outbox/job-queue';
import { healthRoutes } from './http/health-routes';
import { errorHandler, type HttpLoad, requestContext } from './http/request-context';
import { requestGuard } from './http/request-guard';
import { authenticate } from './http/authenticate';
import { securityHeaders } from './http/security-headers';
import { distDirectory, loadAssetFolder, serveAssets } from './http/static-assets';
import { demoRoutes } from './demo/demo-routes';
import { integrationRoutes } from './integrations/integration-routes';
import { reportRoutes } from './reports/report-routes';
import { metricsRoutes } from './metrics/metrics-routes';
import { testManagementRoutes } from './test-management/test-management-routes';
import { dedupRoutes } from './dedup/dedup-routes';
import { authRoutes } from './auth/auth-routes';
import { projectRoutes } from './projects/project-routes';
import { defectRoutes } from './defects/defect-routes';
import { auditRoutes } from './audit/audit-routes';

/** Everything the app needs from outside, passed in so tests can build their own. */
export interface AppDependencies {
  database: DatabaseHandle;
  logger: Logger;
  jobs: JobWorker;
  /** Counts requests in flight (the job workers' signal that HTTP is saturated). */
  httpLoad?: HttpLoad;
  /** Where the built widget and dashboard are; defaults to <repo>/dist. */
  distDirectory?: string;
}

/** Builds the Koa application. It opens nothing itself: the caller owns the database and workers. */
export function createApp(config: Config, dependencies: AppDependencies): Koa {
  const app = new Koa({ proxy: config.trustProxy });
  app.silent = true; // errors are logged by the error middleware, with their request id
  const dist = dependencies.distDirectory ?? distDirectory;
  const widgetAssets = loadAssetFolder(path.join(dist, 'widget'));
  const dashboardAssets = loadAssetFolder(path.join(dist, 'dashboard'));

  app.use(requestContext(dependencies.logger, dependencies.httpLoad));
  app.use(securityHeaders({ https: config.publicUrl.startsWith('https://'), widgetPaths: (path) => widgetAssets.has(path) }));
  app.use(errorHandler());
  app.use(requestGuard());
  app.use(authenticate(dependencies.database.db));

  for (const router of appRouters(config, dependencies)) {
    app.use(router.routes()).use(router.allowedMethods());
  }

  app.use(serveAssets('/', widgetAssets, { crossOrigin: true }));
  app.use(serveAssets('/', dashboardAssets));
  app.use(dashboardFallback(dashboardAssets));
  return app;
}

/**
 * Every router of the API, in mounting order. Exported so tests can enumerate every route the app
 * really serves: the authorization matrix classifies each one (a route added later fails it until
 * classified), and the route-table test checks that no two routers answer the same method and path
 * (the first one mounted would silently win: that is how `GET …/releases` once served the
 * dashboard test management's answer shape).
 */
export function appRouters(config: Config, dependencies: AppDependencies): Router[] {
  // Each feature exports one router; add it here (one line each).
  return [
    healthRoutes(dependencies.database),
    demoRoutes(config, dependencies),
    reportRoutes(config, dependencies),
    metricsRoutes(dependencies.database),
    testManagementRoutes(dependencies),
    dedupRoutes(dependencies),
    integrationRoutes(config, dependencies),
    authRoutes(config, dependencies),
    projectRoutes(dependencies),
    defectRoutes(dependencies),
    auditRoutes(dependencies),
  ];
}

/** The dashboard is a single-page app: unknown GET pages (not /api) get its index.html. */
function dashboardFallback(assets: ReturnType<typeof loadAssetFolder>): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'GET' || ctx.path.startsWith('/api/') || !ctx.accepts('html')) return next();
    const index = assets.get('/index.html');
    if (!index) {
      ctx.status = 503;
      ctx.type = 'text/plain';
      ctx.body = 'The dashboard has not been built yet. Run `npm run build` (npm start does this for you).';
      return;
    }
    ctx.type = index.type;
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = index.body;
  };
}
