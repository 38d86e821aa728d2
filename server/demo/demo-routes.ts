import Router from '@koa/router';
import { sql } from 'kysely';
import type { Config } from '../config';
import type { AppDependencies } from '../app';
import { renderDemoPage } from './demo-page';

/**
 * `GET /demo`: a small, realistic shop page embedding the widget with the demo project's key,
 * so a newcomer can report a bug within a minute of `npm start`.
 */
export function demoRoutes(config: Config, dependencies: AppDependencies): Router {
  const router = new Router();
  router.get('/demo', async (ctx) => {
    const project = await dependencies.database.db
      .selectFrom('projects')
      .select(['publicKey'])
      .where(sql<boolean>`settings ->> 'demo' = 'true'`)
      .orderBy('createdAt')
      .executeTakeFirst();
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = renderDemoPage({ publicKey: project?.publicKey, serverUrl: '' });
  });
  // A deliberately failing endpoint, so the demo's "broken" button produces a real failed request.
  router.all('/demo/api/{*rest}', async (ctx) => {
    ctx.status = 500;
    ctx.body = { error: { code: 'internal_error', message: 'The demo checkout service is down (on purpose).' } };
  });
  void config;
  return router;
}
