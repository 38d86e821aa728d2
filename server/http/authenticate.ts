import type { Context, Middleware } from 'koa';
import type { Kysely } from 'kysely';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiTokenScope } from '../../shared/scopes';
import type { Database, ProjectRole } from '../db/schema';
import { authenticateApiToken } from '../auth/api-token-service';
import { sha256Hex } from '../auth/random-tokens';
import { AppError } from './app-error';
import { isUuid } from '../projects/project-service';

export const sessionCookieName = 'bugloop_session';
export const csrfHeaderName = 'x-csrf-token';
const sessionLifetimeMs = 14 * 24 * 60 * 60 * 1000;

/** Who is calling: a signed-in person (session cookie) or a project API token (Bearer). */
export type Principal =
  | { kind: 'user'; userId: string; email: string; isInstanceAdmin: boolean; csrfToken: string; sessionHash: string }
  | { kind: 'token'; tokenId: string; projectId: string; scopes: ApiTokenScope[] };

const roleRank: Record<ProjectRole, number> = { viewer: 1, triager: 2, admin: 3 };
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Resolves the caller from `Authorization: Bearer blt_…` or the session cookie and puts it on
 * `ctx.state.principal` (undefined when anonymous). Routes decide what they require; public
 * routes (report ingest) never look at the cookie, so they need no CSRF token.
 */
export function authenticate(db: Kysely<Database>): Middleware {
  return async (ctx, next) => {
    const authorization = ctx.get('authorization');
    if (authorization) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      const principal = match ? await authenticateApiToken(db, match[1]) : undefined;
      if (!principal) throw new AppError('invalid_token', 'The API token is invalid or revoked');
      ctx.state.principal = { kind: 'token', ...principal } satisfies Principal;
      return next();
    }
    const cookie = ctx.cookies.get(sessionCookieName);
    if (cookie) {
      const sessionHash = sha256Hex(cookie);
      const session = await db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.userId')
        .select(['sessions.userId', 'sessions.csrfToken', 'sessions.expiresAt', 'users.email', 'users.isInstanceAdmin', 'users.disabledAt'])
        .where('sessions.tokenHash', '=', sessionHash)
        .executeTakeFirst();
      if (session && session.expiresAt > new Date() && !session.disabledAt) {
        ctx.state.principal = {
          kind: 'user',
          userId: session.userId,
          email: session.email,
          isInstanceAdmin: session.isInstanceAdmin,
          csrfToken: session.csrfToken,
          sessionHash,
        } satisfies Principal;
      }
    }
    return next();
  };
}

function csrfMatches(sent: string, expected: string): boolean {
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The caller, or 401 when anonymous. A cookie session making a mutation must carry the
 * session's CSRF token in `X-CSRF-Token` (403 `csrf_failed` otherwise).
 */
export function requirePrincipal(ctx: Context): Principal {
  const principal = ctx.state.principal as Principal | undefined;
  if (!principal) throw new AppError('unauthenticated', 'Sign in or send an API token');
  if (principal.kind === 'user' && !safeMethods.has(ctx.method) && !csrfMatches(ctx.get(csrfHeaderName), principal.csrfToken)) {
    throw new AppError('csrf_failed', 'Missing or wrong X-CSRF-Token header for this session');
  }
  return principal;
}

/** The signed-in person, or 401/403 (API tokens cannot manage people or projects). */
export function requireUser(ctx: Context): Extract<Principal, { kind: 'user' }> {
  const principal = requirePrincipal(ctx);
  if (principal.kind !== 'user') throw new AppError('forbidden', 'This action needs a signed-in user, not an API token');
  return principal;
}

/**
 * Checks access to a project: a person needs at least `role` there (instance admins have all),
 * a token must belong to the project and carry `scope`. Returns the caller's effective role.
 * Someone with no access at all gets 404, so project ids cannot be probed.
 */
export async function authorizeProject(
  ctx: Context,
  db: Kysely<Database>,
  projectId: string,
  need: { role: ProjectRole; scope: ApiTokenScope },
): Promise<ProjectRole | 'token'> {
  const principal = requirePrincipal(ctx);
  // A malformed id would otherwise reach PostgreSQL as an invalid uuid (a 500).
  if (!isUuid(projectId)) throw new AppError('not_found', 'project not found');
  if (principal.kind === 'token') {
    if (principal.projectId !== projectId) throw new AppError('not_found', 'project not found');
    if (!principal.scopes.includes(need.scope)) throw new AppError('insufficient_scope', `This token lacks the ${need.scope} scope`);
    return 'token';
  }
  let role: ProjectRole | undefined;
  if (principal.isInstanceAdmin) role = 'admin';
  else {
    const membership = await db
      .selectFrom('projectMembers')
      .select('role')
      .where('projectId', '=', projectId)
      .where('userId', '=', principal.userId)
      .executeTakeFirst();
    role = membership?.role;
  }
  const exists = role ? true : Boolean(await db.selectFrom('projects').select('id').where('id', '=', projectId).executeTakeFirst());
  if (!role || !exists) throw new AppError('not_found', 'project not found');
  if (roleRank[role] < roleRank[need.role]) throw new AppError('forbidden', `This needs the ${need.role} role in this project; you are ${role}`);
  return role;
}

/** Starts a session: returns the cookie value (shown to the browser only) and its CSRF token. */
export async function createSession(
  db: Kysely<Database>,
  userId: string,
  details: { userAgent?: string; ip?: string } = {},
): Promise<{ cookieValue: string; csrfToken: string; expiresAt: Date }> {
  const cookieValue = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(24).toString('base64url');
  const expiresAt = new Date(Date.now() + sessionLifetimeMs);
  await db
    .insertInto('sessions')
    .values({ tokenHash: sha256Hex(cookieValue), userId, csrfToken, expiresAt, userAgent: details.userAgent?.slice(0, 500) ?? null, ip: details.ip ?? null })
    .execute();
  return { cookieValue, csrfToken, expiresAt };
}

/**
 * Sets the session cookie: httpOnly (scripts cannot read it), SameSite=Lax (other sites cannot
 * send it with their forms' POSTs), and Secure when the server is reached over https. Written by
 * hand because Koa's cookie helper refuses Secure on a plain-http hop behind a TLS proxy.
 */
export function setSessionCookie(ctx: Context, value: string, expiresAt: Date, secure: boolean): void {
  const parts = [`${sessionCookieName}=${value}`, 'Path=/', `Expires=${expiresAt.toUTCString()}`, 'HttpOnly', 'SameSite=Lax'];
  if (secure) parts.push('Secure');
  ctx.append('Set-Cookie', parts.join('; '));
}

/** Tells the browser to forget the session cookie. */
export function clearSessionCookie(ctx: Context, secure: boolean): void {
  setSessionCookie(ctx, '', new Date(0), secure);
}

/** Ends one session (sign out on this device). */
export async function deleteSession(db: Kysely<Database>, sessionHash: string): Promise<void> {
  await db.deleteFrom('sessions').where('tokenHash', '=', sessionHash).execute();
}

/** Ends every session of a user (sign out everywhere); answers how many were ended. */
export async function deleteAllSessions(db: Kysely<Database>, userId: string): Promise<number> {
  const result = await db.deleteFrom('sessions').where('userId', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}
