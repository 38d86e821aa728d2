import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouters } from '../../server/app';
import { startTestApp, type TestApp } from '../support/test-server';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

describe('the route table', () => {
  // Regression: after a merge, test management and the dashboard both served GET
  // /api/v1/projects/:projectId/releases; the router mounted first won, the inbox got an answer
  // of the wrong shape and the dashboard crashed (the skipped triage browser test of issue 6).
  it('has no two routes for the same method and path, whatever their parameter names', () => {
    const owners = new Map<string, string[]>();
    const routers = appRouters(app.config, app.dependencies);
    routers.forEach((router, index) => {
      for (const layer of router.stack) {
        const path = String(layer.path).replace(/:[A-Za-z]+/g, ':param');
        for (const method of layer.methods.filter((name) => name !== 'HEAD')) {
          const key = `${method} ${path}`;
          owners.set(key, [...(owners.get(key) ?? []), `router ${index}`]);
        }
      }
    });
    expect(owners.size).toBeGreaterThan(50);
    const collisions = [...owners].filter(([, list]) => list.length > 1).map(([key, list]) => `${key} (${list.join(', ')})`);
    expect(collisions).toEqual([]);
  });
});
