import type { Context } from 'koa';
import type { Kysely, Transaction } from 'kysely';
import type { AuditActorKind, Database } from '../db/schema';
import type { Principal } from '../http/authenticate';

type Executor = Kysely<Database> | Transaction<Database>;

/** Who did it and under which request: taken from the HTTP context, or given by the CLI. */
export interface AuditActor {
  kind: AuditActorKind;
  userId: string | null;
  requestId: string | null;
}

/** One administrative action, written in the transaction that performs it. */
export interface AuditEntry {
  projectId: string | null;
  action: string;
  /** The id of what was acted on: a member's user id, a token id, a destination id… */
  target?: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  detail?: Record<string, unknown>;
}

/** The signed-in person behind a request and its request id. */
export function auditActorOf(ctx: Context): AuditActor {
  const principal = ctx.state.principal as Principal | undefined;
  return { kind: 'user', userId: principal?.kind === 'user' ? principal.userId : null, requestId: (ctx.state.requestId as string | undefined) ?? null };
}

// Names whose values are secrets or their stand-ins; summaries keep the name, never the value.
const secretKeyPattern = /secret|password|token|apikey|api_key|accesskey|encrypted|hash|credential|authorization/i;

/**
 * A before/after summary safe to keep forever: values under secret-looking keys become
 * "[redacted]", long strings are cut, depth and width are bounded.
 */
export function auditSummary(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value.length > 500 ? `${value.slice(0, 500)}…` : value;
  if (typeof value !== 'object') return value;
  if (value instanceof Date) return value.toISOString();
  if (depth >= 4) return '[…]';
  if (Array.isArray(value)) return value.slice(0, 50).map((item) => auditSummary(item, depth + 1));
  const summary: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value).slice(0, 50)) {
    summary[key] = secretKeyPattern.test(key) && child !== null && typeof child !== 'boolean' && !Array.isArray(child) ? '[redacted]' : auditSummary(child, depth + 1);
  }
  return summary;
}

/** Writes one audit row. Pass the transaction of the action, so both commit or neither does. */
export async function recordAudit(db: Executor, actor: AuditActor, entry: AuditEntry): Promise<void> {
  const summarize = (value: Record<string, unknown> | null | undefined) => (value ? JSON.stringify(auditSummary(value)) : null);
  await db
    .insertInto('auditLog')
    .values({
      projectId: entry.projectId,
      actorUserId: actor.userId,
      actorKind: actor.kind,
      requestId: actor.requestId,
      action: entry.action,
      target: entry.target ?? null,
      before: summarize(entry.before),
      after: summarize(entry.after),
      detail: JSON.stringify(auditSummary(entry.detail ?? {})),
    })
    .execute();
}

export interface AuditPage {
  entries: {
    id: string;
    projectId: string | null;
    action: string;
    target: string | null;
    actorKind: AuditActorKind;
    actorUserId: string | null;
    actorEmail: string | null;
    requestId: string | null;
    before: Record<string, unknown> | null;
    after: Record<string, unknown> | null;
    detail: Record<string, unknown>;
    createdAt: Date;
  }[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** Newest first, keyset-paginated by id; `projectId` undefined lists the whole instance. */
export async function listAuditLog(db: Executor, options: { projectId?: string; before?: string; limit: number; action?: string }): Promise<AuditPage> {
  let query = db
    .selectFrom('auditLog')
    .leftJoin('users', 'users.id', 'auditLog.actorUserId')
    .select([
      'auditLog.id',
      'auditLog.projectId',
      'auditLog.action',
      'auditLog.target',
      'auditLog.actorKind',
      'auditLog.actorUserId',
      'users.email as actorEmail',
      'auditLog.requestId',
      'auditLog.before',
      'auditLog.after',
      'auditLog.detail',
      'auditLog.createdAt',
    ])
    .orderBy('auditLog.id', 'desc')
    .limit(options.limit + 1);
  if (options.projectId) query = query.where('auditLog.projectId', '=', options.projectId);
  if (options.before) query = query.where('auditLog.id', '<', options.before as never);
  if (options.action) query = query.where('auditLog.action', '=', options.action);
  const rows = await query.execute();
  const entries = rows.slice(0, options.limit);
  return { entries, nextCursor: rows.length > options.limit ? entries[entries.length - 1].id : null };
}
