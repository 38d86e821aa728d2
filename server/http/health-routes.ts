import Router from '@koa/router';
import type { DatabaseHandle } from '../db/database';

/** `GET /healthz`: 200 when the database answers, 503 when it does not. */
export function healthRoutes(database: DatabaseHandle): Router {
  const router = new Router();
  router.get('/healthz', async (ctx) => {
    try {
      await database.ping(2000);
      ctx.body = { status: 'ok', database: 'ok' };
    } catch {
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.body = { status: 'unavailable', database: 'unreachable' };
    }
  });
  return router;
}
