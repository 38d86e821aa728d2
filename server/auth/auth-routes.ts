import Router from '@koa/router';
import { z } from 'zod';
import type { AppDependencies } from '../app';
import type { Config } from '../config';
import {
  clearSessionCookie,
  createSession,
  deleteAllSessions,
  deleteSession,
  requirePrincipal,
  requireUser,
  sessionCookieName,
  setSessionCookie,
} from '../http/authenticate';
import { sha256Hex } from './random-tokens';
import { AppError } from '../http/app-error';
import { readBody } from '../http/json-body';
import { RateLimiter } from '../http/rate-limiter';
import { findUserByEmail } from '../users/user-service';
import { verifyPassword } from './passwords';

const signInSchema = z.object({
  email: z.string().trim().min(1, 'is required').max(320),
  password: z.string().min(1, 'is required').max(1024),
});

// Verified against when the email is unknown, so a wrong email costs the same time as a wrong
// password and response times do not reveal which accounts exist.
const decoyHash = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

/** Sign-in attempts allowed per window: per account (guessing one password) and per address. */
export const signInLimits = { perEmail: 10, perIp: 30, windowMs: 10 * 60_000 } as const;

/**
 * Sessions for people: `POST /api/v1/session` (sign in), `DELETE /api/v1/session` (sign out),
 * `POST /api/v1/sessions/revoke-all` (sign out everywhere), `GET /api/v1/me`.
 */
export function authRoutes(config: Config, dependencies: AppDependencies): Router {
  const { db } = dependencies.database;
  const secure = config.publicUrl.startsWith('https://');
  const perEmail = new RateLimiter(signInLimits.perEmail, signInLimits.windowMs);
  const perIp = new RateLimiter(signInLimits.perIp, signInLimits.windowMs);
  const router = new Router({ prefix: '/api/v1' });

  router.post('/session', async (ctx) => {
    const input = await readBody(ctx, signInSchema);
    for (const verdict of [perIp.take(ctx.ip), perEmail.take(input.email.toLowerCase())]) {
      if (!verdict.allowed) {
        const seconds = Math.ceil(verdict.retryAfterMs / 1000);
        throw new AppError('rate_limited', `Too many sign-in attempts; try again in ${seconds} s`, { headers: { 'Retry-After': String(seconds) } });
      }
    }
    const user = await findUserByEmail(db, input.email);
    const valid = await verifyPassword(input.password, user?.passwordHash ?? decoyHash);
    if (!user || !valid || !user.passwordHash || user.disabledAt) {
      throw new AppError('invalid_credentials', 'The email or password is wrong');
    }
    // Session fixation: whatever session the browser arrived with (planted by someone else, or
    // an older one) ends here; the signed-in session is always a new random id.
    const arrivedWith = ctx.cookies.get(sessionCookieName);
    if (arrivedWith) await deleteSession(db, sha256Hex(arrivedWith));
    const session = await createSession(db, user.id, { userAgent: ctx.get('user-agent'), ip: ctx.ip });
    setSessionCookie(ctx, session.cookieValue, session.expiresAt, secure);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { user: { id: user.id, email: user.email, name: user.name, isInstanceAdmin: user.isInstanceAdmin }, csrfToken: session.csrfToken };
  });

  router.delete('/session', async (ctx) => {
    const principal = requireUser(ctx);
    await deleteSession(db, principal.sessionHash);
    clearSessionCookie(ctx, secure);
    ctx.status = 204;
  });

  router.post('/sessions/revoke-all', async (ctx) => {
    const principal = requireUser(ctx);
    const ended = await deleteAllSessions(db, principal.userId);
    clearSessionCookie(ctx, secure);
    ctx.body = { ended };
  });

  router.get('/me', async (ctx) => {
    const principal = requirePrincipal(ctx);
    if (principal.kind !== 'user') throw new AppError('forbidden', '/me describes a signed-in person; API tokens have no profile');
    const user = await db.selectFrom('users').select(['id', 'email', 'name', 'isInstanceAdmin']).where('id', '=', principal.userId).executeTakeFirstOrThrow();
    const projects = principal.isInstanceAdmin
      ? (await db.selectFrom('projects').select(['id', 'name', 'keyPrefix']).where('archivedAt', 'is', null).orderBy('name').execute()).map((project) => ({
          ...project,
          role: 'admin' as const,
        }))
      : await db
          .selectFrom('projectMembers')
          .innerJoin('projects', 'projects.id', 'projectMembers.projectId')
          .select(['projects.id', 'projects.name', 'projects.keyPrefix', 'projectMembers.role'])
          .where('projectMembers.userId', '=', principal.userId)
          .where('projects.archivedAt', 'is', null)
          .orderBy('projects.name')
          .execute();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { user, projects, csrfToken: principal.csrfToken };
  });

  return router;
}
