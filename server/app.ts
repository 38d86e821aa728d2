import path from 'node:path';
import Koa from 'koa';
import type { Config } from './config';
import type { DatabaseHandle } from './db/database';
import type { Logger } from './logger';
import type { JobWorker } from './outbox/job-queue';
import { healthRoutes } from './http/health-routes';
import { errorHandler, type HttpLoad, requestContext } from './http/request-context';
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
  app.use(authenticate(dependencies.database.db));

  // Each feature exports one router; mount it here (one line each).
  const routers = [
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
  ];
  for (const router of routers) {
    app.use(router.routes()).use(router.allowedMethods());
  }

  app.use(serveAssets('/', widgetAssets, { crossOrigin: true }));
  app.use(serveAssets('/', dashboardAssets));
  app.use(dashboardFallback(dashboardAssets));
  return app;
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
