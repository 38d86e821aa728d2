import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoComponent, ensureFirstRunSetup } from '../../server/bootstrap';
import { loadConfig } from '../../server/config';
import type { DatabaseHandle } from '../../server/db/database';
import { componentForRoute } from '../../server/enrich/component-rules';
import { routePattern } from '../../server/enrich/route-pattern';
import { createTestDatabase } from '../support/test-database';

let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

const config = loadConfig({ SECRET_KEY: 'first-run-secret-key-first-run-secret-key-0123', PORT: '3917', LOG_LEVEL: 'silent' });

describe('first run', () => {
  it('creates the admin, the demo project and a component rule that names the demo page’s component', async () => {
    const first = await ensureFirstRunSetup(database.db, config);
    expect(first.admin.created).toBe(true);
    expect(first.admin.password).toMatch(/\S{10,}/);
    expect(first.demoProject.created).toBe(true);
    const project = await database.db.selectFrom('projects').select(['allowedOrigins']).where('id', '=', first.demoProject.id).executeTakeFirstOrThrow();
    expect(project.allowedOrigins).toEqual(expect.arrayContaining(['http://localhost:3917', 'http://127.0.0.1:3917']));

    const rules = await database.db.selectFrom('componentRules').select(['pattern', 'patternKind', 'component']).where('projectId', '=', first.demoProject.id).orderBy('position').execute();
    expect(componentForRoute(routePattern('http://localhost:3917/demo'), rules)).toBe(demoComponent);
    expect(componentForRoute(routePattern('http://localhost:3917/demo?coupon=WINTER10'), rules)).toBe(demoComponent);
  });

  it('creates nothing on a later start and does not show the password again', async () => {
    const again = await ensureFirstRunSetup(database.db, config);
    expect(again.admin).toEqual({ email: 'admin@bugloop.local', password: undefined, created: false });
    expect(again.demoProject.created).toBe(false);
    const counts = await database.db
      .selectFrom('componentRules')
      .select((eb) => eb.fn.countAll<number>().as('rules'))
      .where('projectId', '=', again.demoProject.id)
      .executeTakeFirstOrThrow();
    expect(Number(counts.rules)).toBe(1);
  });
});
