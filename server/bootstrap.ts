import { sql, type Kysely } from 'kysely';
import type { Config } from './config';
import type { Database } from './db/schema';
import { randomPassword } from './auth/random-tokens';
import { createProject } from './projects/project-service';
import { createUser, setProjectRole } from './users/user-service';

export interface FirstRunResult {
  admin: { email: string; password?: string; created: boolean };
  demoProject: { id: string; name: string; publicKey: string; created: boolean };
}

/** The component the demo project's rule gives the demo page's reports. */
export const demoComponent = 'Storefront';

/**
 * On the first start: an admin user and a demo project. On later starts: nothing is created,
 * and the password is not shown again (it is stored only as a hash).
 */
export async function ensureFirstRunSetup(db: Kysely<Database>, config: Config): Promise<FirstRunResult> {
  return db.transaction().execute(async (trx) => {
    // Serialises two processes starting together against one PostgreSQL.
    await sql`select pg_advisory_xact_lock(7130501)`.execute(trx);
    let admin: FirstRunResult['admin'];
    const existingAdmin = await trx.selectFrom('users').select(['id', 'email']).where('isInstanceAdmin', '=', true).orderBy('createdAt').executeTakeFirst();
    let adminId: string;
    if (existingAdmin) {
      admin = { email: existingAdmin.email, created: false };
      adminId = existingAdmin.id;
    } else {
      const email = config.admin.email ?? 'admin@bugloop.local';
      const password = config.admin.password ?? randomPassword();
      const user = await createUser(trx, { email, password, name: 'Admin', isInstanceAdmin: true });
      adminId = user.id;
      admin = { email, password: config.admin.password ? undefined : password, created: true };
    }

    const existingDemo = await trx
      .selectFrom('projects')
      .select(['id', 'name', 'publicKey'])
      .where(sql<boolean>`settings ->> 'demo' = 'true'`)
      .executeTakeFirst();
    if (existingDemo) return { admin, demoProject: { ...existingDemo, created: false } };
    const anyProject = await trx.selectFrom('projects').select('id').executeTakeFirst();
    if (anyProject) {
      // An instance already set up by hand gets no demo project forced into it.
      return { admin, demoProject: { id: '', name: '', publicKey: '', created: false } };
    }
    const origins = new Set([new URL(config.publicUrl).origin, `http://localhost:${config.port}`, `http://127.0.0.1:${config.port}`]);
    const project = await createProject(trx, { name: 'Demo shop', keyPrefix: 'DEMO', allowedOrigins: [...origins], settings: { demo: true } });
    await setProjectRole(trx, project.id, adminId, 'admin');
    // The demo page's reports get a component from a rule, as a real project's would once its
    // routes are mapped (Settings → Components), so the first defect shows enrichment at work.
    await trx.insertInto('componentRules').values({ projectId: project.id, position: 0, pattern: '/demo/**', patternKind: 'glob', component: demoComponent }).execute();
    return { admin, demoProject: { id: project.id, name: project.name, publicKey: project.publicKey, created: true } };
  });
}
