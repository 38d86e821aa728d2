import Router from '@koa/router';
import type { Context } from 'koa';
import { sql } from 'kysely';
import type { z } from 'zod';
import { authenticatedReportSchema, type Report, reportSchema } from '../../shared/report-schema';
import type { AppDependencies } from '../app';
import type { Config } from '../config';
import type { Project } from '../db/schema';
import { scrubReport } from '../enrich/scrub-report';
import { AppError } from '../http/app-error';
import type { Principal } from '../http/authenticate';
import { RateLimiter } from '../http/rate-limiter';
import { findProjectByPublicKey, findProjectById } from '../projects/project-service';
import { checkImage } from './image-check';
import { readReportBody } from './report-body';
import { ReportWriter, processReportJobKind } from './report-ingest';
import { SpamGuard } from './spam-guard';

const publicKeyPattern = /^pk_[A-Za-z0-9]{8,64}$/;

/**
 * `POST /api/v1/reports`: the widget's public endpoint (project public key + allowed origin) and,
 * with `Authorization: Bearer blt_…` (scope reports:write), the endpoint for backends, support
 * tools, QA and CI (which may set `origin`).
 */
export function reportRoutes(config: Config, dependencies: AppDependencies): Router {
  const { db } = dependencies.database;
  const perKey = new RateLimiter(config.rateLimits.perKeyPerMinute, 60_000);
  const perIp = new RateLimiter(config.rateLimits.perIpPerMinute, 60_000);
  const spamGuard = new SpamGuard();
  const projectsByKey = new ProjectKeyCache(db);
  // One store in flight: whatever arrives meanwhile goes in the next one. Two in flight on
  // PostgreSQL (to overlap a commit with the next insert) measured worse: half-size batches cost
  // 0.31 ms server and 0.13 ms PostgreSQL CPU per report against 0.24 and 0.095 with one, and the
  // request path alone reached 3,150 reports/s against 3,740 (bench:ingest --quick --profile, load 1–2).
  const writer = new ReportWriter(
    db,
    { maxInFlight: 1, maxBatch: 64, maxBatchBytes: 16 * 1024 * 1024 },
    () => dependencies.jobs.poke(processReportJobKind),
  );
  const router = new Router();

  router.options('/api/v1/reports', async (ctx) => {
    const origin = ctx.get('origin');
    const key = ctx.query.key;
    let allowed = false;
    if (origin) {
      if (typeof key === 'string' && publicKeyPattern.test(key)) {
        const project = await findProjectByPublicKey(db, key);
        allowed = Boolean(project?.allowedOrigins.includes(origin));
      } else {
        // The key travels in a header the preflight cannot show; allow origins some project allows.
        const match = await db
          .selectFrom('projects')
          .select('id')
          .where('archivedAt', 'is', null)
          .where(sql<boolean>`${origin} = any(allowed_origins)`)
          .executeTakeFirst();
        allowed = Boolean(match);
      }
    }
    if (!allowed) throw new AppError('origin_not_allowed', `The origin ${origin || '(none)'} may not send reports`);
    setCorsHeaders(ctx);
    ctx.set('Access-Control-Allow-Methods', 'POST, OPTIONS');
    ctx.set('Access-Control-Allow-Headers', 'Content-Type, X-Bugloop-Key, X-Request-Id');
    ctx.set('Access-Control-Max-Age', '600');
    ctx.status = 204;
  });

  router.post('/api/v1/reports', async (ctx) => {
    setCorsHeaders(ctx);
    const principal = ctx.state.principal as Principal | undefined;
    const ipVerdict = perIp.take(ctx.ip);
    if (!ipVerdict.allowed && principal?.kind !== 'token') throw rateLimited(ipVerdict.retryAfterMs, 'this address');

    if (principal?.kind === 'token') {
      if (!principal.scopes.includes('reports:write')) throw new AppError('insufficient_scope', 'This token lacks the reports:write scope');
      const project = await findProjectById(db, principal.projectId);
      if (!project || project.archivedAt) throw new AppError('invalid_token', 'The token’s project no longer exists');
      const body = await readReportBody(ctx);
      const report = validate(authenticatedReportSchema, body.json);
      await accept(ctx, project, scrubReport(report), report.origin, body.image);
      return;
    }

    const headerKey = ctx.get('x-bugloop-key') || (typeof ctx.query.key === 'string' ? ctx.query.key : '');
    let project = headerKey ? await resolveProject(headerKey, ctx) : undefined;
    const body = await readReportBody(ctx);
    project ??= await resolveProject(body.keyField ?? '', ctx);
    const report = validate(reportSchema, body.json);
    spamGuard.check(project.id, report);
    await accept(ctx, project, scrubReport(report), 'field', body.image);
  });

  async function resolveProject(key: string, ctx: Context): Promise<Project> {
    if (!key) throw new AppError('invalid_project_key', 'Send the project’s public key in the X-Bugloop-Key header (or a "key" field)');
    const project = publicKeyPattern.test(key) ? await projectsByKey.get(key) : undefined;
    if (!project) throw new AppError('invalid_project_key', 'Unknown project key');
    const origin = ctx.get('origin');
    if (origin && !project.allowedOrigins.includes(origin)) {
      throw new AppError('origin_not_allowed', `Reports from ${origin} are not allowed for this project; add the origin in the project settings`);
    }
    const keyVerdict = perKey.take(project.id);
    if (!keyVerdict.allowed) throw rateLimited(keyVerdict.retryAfterMs, 'this project');
    return project;
  }

  async function accept(ctx: Context, project: Project, report: Report, origin: 'field' | 'qa' | 'ci', image?: { bytes: Buffer; filename?: string }) {
    const checked = image ? checkImage(image.bytes) : undefined;
    const answer = await writer.store({
      projectId: project.id,
      report,
      origin,
      image: image && checked ? { ...image, checked } : undefined,
      clientIp: ctx.ip,
      userAgent: ctx.get('user-agent') || null,
    });
    ctx.status = 202;
    ctx.body = answer;
  }

  return router;
}

/**
 * The public endpoint echoes the caller's origin on every answer, errors included, so the
 * widget can read a permanent 4xx and drop the report instead of retrying it forever. No
 * credentials are ever allowed; whether an origin may *store* a report is checked per project.
 */
function setCorsHeaders(ctx: Context): void {
  const origin = ctx.get('origin');
  if (!origin) return;
  ctx.set('Access-Control-Allow-Origin', origin);
  ctx.set('Access-Control-Expose-Headers', 'Retry-After, X-Request-Id');
  ctx.vary('Origin');
}

function rateLimited(retryAfterMs: number, who: string): AppError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new AppError('rate_limited', `Too many reports from ${who}; retry in ${seconds} s`, { headers: { 'Retry-After': String(seconds) } });
}

/** Validates with a shared schema; the 400 names the first bad field by its dotted path. */
export function validate<Schema extends z.ZodType>(schema: Schema, value: unknown): z.output<Schema> {
  const badText = findInvalidText(value, '');
  if (badText !== undefined) {
    throw new AppError('invalid_report', `${badText || '(body)'}: contains characters that are not valid text (NUL or a lone surrogate)`, { field: badText });
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.join('.') || '(body)';
  const message = issue.code === 'invalid_type' && issue.message.includes('received undefined') ? 'is required' : issue.message;
  throw new AppError('invalid_report', `${field}: ${message}`, { field });
}

/**
 * PostgreSQL text and jsonb cannot hold NUL characters or lone UTF-16 surrogates (JSON allows
 * both as escapes). Finds the first such string (or key) and returns its path.
 */
function findInvalidText(value: unknown, path: string, depth = 0): string | undefined {
  if (depth > 64) return undefined; // the schema rejects such depth anyway
  if (typeof value === 'string') return value.includes('\u0000') || !value.isWellFormed() ? path : undefined;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index += 1) {
      const found = findInvalidText(value[index], path ? `${path}.${index}` : String(index), depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const childPath = path ? `${path}.${key}` : key;
      if (key.includes('\u0000') || !key.isWellFormed()) return childPath;
      const found = findInvalidText(child, childPath, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * Public keys are looked up on every report; a few seconds of caching saves a query per report.
 * A project's origins or archival take effect within `ttlMs`.
 */
class ProjectKeyCache {
  private readonly entries = new Map<string, { project: Project | undefined; expiresAt: number }>();

  constructor(
    private readonly db: AppDependencies['database']['db'],
    private readonly ttlMs = 5000,
  ) {}

  async get(key: string): Promise<Project | undefined> {
    const now = Date.now();
    const cached = this.entries.get(key);
    if (cached && cached.expiresAt > now) return cached.project;
    const project = await findProjectByPublicKey(this.db, key);
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(key, { project, expiresAt: now + this.ttlMs });
    return project;
  }
}
