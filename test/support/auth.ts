import type { Kysely } from 'kysely';
import type { Database, ProjectRole } from '../../server/db/schema';
import { createSession, csrfHeaderName, sessionCookieName } from '../../server/http/authenticate';
import { createUser, setProjectRole } from '../../server/users/user-service';

/** Headers that make a request as a freshly created user with `role` in `projectId`. */
export async function signedInHeaders(
  db: Kysely<Database>,
  options: { projectId?: string; role?: ProjectRole; isInstanceAdmin?: boolean; email?: string } = {},
): Promise<{ userId: string; headers: Record<string, string> }> {
  const user = await createUser(db, {
    email: options.email ?? `user-${crypto.randomUUID()}@example.com`,
    password: 'a long test password',
    isInstanceAdmin: options.isInstanceAdmin ?? false,
  });
  if (options.projectId && options.role) await setProjectRole(db, options.projectId, user.id, options.role);
  const session = await createSession(db, user.id);
  return {
    userId: user.id,
    headers: { cookie: `${sessionCookieName}=${session.cookieValue}`, [csrfHeaderName]: session.csrfToken },
  };
}
