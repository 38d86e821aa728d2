import type Router from '@koa/router';
import { sql, type Kysely } from 'kysely';
import type { ApiTokenScope } from '../../shared/scopes';
import { appRouters } from '../../server/app';
import type { Database, ProjectRole } from '../../server/db/schema';
import type { TestApp } from './test-server';
import type { SecurityProject } from './security-fixtures';

/**
 * Who may call a route. Every route the app serves must be classified here: the
 * authorization matrix and the fuzzers enumerate the routers themselves, so a route added
 * later without an entry fails them until someone decides who may call it.
 */
export type RouteAccess =
  | { kind: 'public' }
  /** CORS preflight of a public endpoint. */
  | { kind: 'preflight' }
  /** The widget's endpoint: a project public key (or a token with reports:write). */
  | { kind: 'ingest' }
  /** A reporter's own reports, by public key + reporter token. */
  | { kind: 'reporter' }
  /** Inbound tracker webhooks, by HMAC signature. */
  | { kind: 'signature' }
  | { kind: 'sign-in' }
  /** Any signed-in person; no project in the path. */
  | { kind: 'person' }
  /** A person or a token; answers only what the caller may see. */
  | { kind: 'any-caller' }
  /** Instance administrators only. */
  | { kind: 'instance-admin' }
  /** A project's members with at least `role`, or its tokens with `scope` (null: people only). */
  | { kind: 'project'; role: ProjectRole; scope: ApiTokenScope | null }
  /** Only a project API token with `scope`; the project comes from the token. */
  | { kind: 'token'; scope: ApiTokenScope }
  | { kind: 'excluded'; why: string };

const viewer = (scope: ApiTokenScope): RouteAccess => ({ kind: 'project', role: 'viewer', scope });
const triager = (scope: ApiTokenScope): RouteAccess => ({ kind: 'project', role: 'triager', scope });
const admin: RouteAccess = { kind: 'project', role: 'admin', scope: null };

/** `METHOD path` → who may call it. */
export const routeAccess: Record<string, RouteAccess> = {
  'GET /healthz': { kind: 'public' },
  'GET /demo': { kind: 'public' },
  'ALL /demo/api/{*rest}': { kind: 'excluded', why: 'the demo shop answers 500 on purpose, so the widget has a failed request to capture' },
  'OPTIONS /api/v1/reports': { kind: 'preflight' },
  'POST /api/v1/reports': { kind: 'ingest' },
  'GET /api/v1/projects/:projectId/metrics': viewer('metrics:read'),
  'GET /api/v1/projects/:projectId/releases/:release/readiness': viewer('metrics:read'),
  'POST /api/v1/test-runs': { kind: 'token', scope: 'test-runs:write' },
  'POST /api/v1/projects/:projectId/test-runs': triager('test-runs:write'),
  'GET /api/v1/projects/:projectId/test-runs': viewer('test-cases:read'),
  'GET /api/v1/projects/:projectId/test-runs/:runId': viewer('test-cases:read'),
  'GET /api/v1/projects/:projectId/test-cases': viewer('test-cases:read'),
  'POST /api/v1/projects/:projectId/test-cases': triager('test-cases:write'),
  'POST /api/v1/projects/:projectId/test-cases/import': triager('test-cases:write'),
  'GET /api/v1/projects/:projectId/test-case-facets': viewer('test-cases:read'),
  'GET /api/v1/projects/:projectId/test-cases/:caseId': viewer('test-cases:read'),
  'PATCH /api/v1/projects/:projectId/test-cases/:caseId': triager('test-cases:write'),
  'POST /api/v1/projects/:projectId/test-cases/:caseId/archive': triager('test-cases:write'),
  'POST /api/v1/projects/:projectId/test-cases/:caseId/restore': triager('test-cases:write'),
  'GET /api/v1/projects/:projectId/defects/:defectId/test-links': viewer('test-cases:read'),
  'POST /api/v1/projects/:projectId/defects/:defectId/test-links': triager('test-cases:write'),
  'DELETE /api/v1/projects/:projectId/defects/:defectId/test-links/:linkId': triager('test-cases:write'),
  'GET /api/v1/projects/:projectId/defects/:defectId/test-suggestions': viewer('test-cases:read'),
  'GET /api/v1/projects/:projectId/coverage/gaps': viewer('test-cases:read'),
  'GET /api/v1/projects/:projectId/coverage/ineffective-tests': viewer('test-cases:read'),
  'GET /api/v1/projects/:projectId/coverage/verified-by-test': viewer('test-cases:read'),
  'GET /api/v1/projects/:projectId/test-releases': viewer('test-cases:read'),
  'GET /api/v1/projects/:projectId/requirements': viewer('test-cases:read'),
  'PUT /api/v1/projects/:projectId/requirements': triager('test-cases:write'),
  'GET /api/v1/projects/:projectId/traceability': viewer('test-cases:read'),
  'GET /api/v1/projects/:projectId/defects/:defectId/candidates': viewer('defects:read'),
  'POST /api/v1/projects/:projectId/defects/:defectId/merge': triager('defects:write'),
  'POST /api/v1/projects/:projectId/reports/:reportId/split': triager('defects:write'),
  'POST /api/v1/projects/:projectId/defects/:defectId/not-duplicate': triager('defects:write'),
  'GET /api/v1/integrations/kinds': { kind: 'public' },
  'GET /api/v1/projects/:projectId/destinations': admin,
  'POST /api/v1/projects/:projectId/destinations': admin,
  'GET /api/v1/projects/:projectId/destinations/:destinationId': admin,
  'PATCH /api/v1/projects/:projectId/destinations/:destinationId': admin,
  'DELETE /api/v1/projects/:projectId/destinations/:destinationId': admin,
  'GET /api/v1/projects/:projectId/routing-rules': admin,
  'POST /api/v1/projects/:projectId/routing-rules': admin,
  'PUT /api/v1/projects/:projectId/routing-rules/order': admin,
  'PATCH /api/v1/projects/:projectId/routing-rules/:ruleId': admin,
  'DELETE /api/v1/projects/:projectId/routing-rules/:ruleId': admin,
  'GET /api/v1/projects/:projectId/dead-letters': triager('defects:read'),
  'POST /api/v1/projects/:projectId/dead-letters/:jobId/retry': triager('defects:write'),
  'POST /api/v1/projects/:projectId/defects/:defectId/send': triager('defects:write'),
  'GET /api/v1/projects/:projectId/defects/:defectId/integrations': viewer('defects:read'),
  'POST /api/v1/integrations/:destinationId/webhook': { kind: 'signature' },
  'GET /api/v1/reporter/reports': { kind: 'reporter' },
  'OPTIONS /api/v1/reporter/reports': { kind: 'preflight' },
  'GET /api/v1/integrations/openapi.json': { kind: 'public' },
  'POST /api/v1/session': { kind: 'sign-in' },
  'DELETE /api/v1/session': { kind: 'person' },
  'POST /api/v1/sessions/revoke-all': { kind: 'person' },
  'GET /api/v1/me': { kind: 'person' },
  'GET /api/v1/projects': { kind: 'any-caller' },
  'GET /api/v1/projects/:projectId': viewer('defects:read'),
  'PATCH /api/v1/projects/:projectId': admin,
  'GET /api/v1/projects/:projectId/component-rules': viewer('defects:read'),
  'POST /api/v1/projects/:projectId/component-rules': admin,
  'PATCH /api/v1/projects/:projectId/component-rules/:ruleId': admin,
  'DELETE /api/v1/projects/:projectId/component-rules/:ruleId': admin,
  'GET /api/v1/projects/:projectId/members': viewer('defects:read'),
  'POST /api/v1/projects/:projectId/members': admin,
  'PATCH /api/v1/projects/:projectId/members/:userId': admin,
  'DELETE /api/v1/projects/:projectId/members/:userId': admin,
  'GET /api/v1/projects/:projectId/api-tokens': admin,
  'POST /api/v1/projects/:projectId/api-tokens': admin,
  'DELETE /api/v1/projects/:projectId/api-tokens/:tokenId': admin,
  'GET /api/v1/projects/:projectId/releases': viewer('defects:read'),
  'GET /api/v1/projects/:projectId/views': viewer('defects:read'),
  'POST /api/v1/projects/:projectId/views': triager('defects:write'),
  'DELETE /api/v1/projects/:projectId/views/:viewId': triager('defects:write'),
  'GET /api/v1/projects/:projectId/defects': viewer('defects:read'),
  'GET /api/v1/projects/:projectId/activity': viewer('defects:read'),
  'GET /api/v1/projects/:projectId/components': viewer('defects:read'),
  'POST /api/v1/projects/:projectId/defects/bulk': triager('defects:write'),
  'GET /api/v1/projects/:projectId/defects/:defectId': viewer('defects:read'),
  'PATCH /api/v1/projects/:projectId/defects/:defectId': triager('defects:write'),
  'GET /api/v1/projects/:projectId/defects/:defectId/reports': viewer('defects:read'),
  'GET /api/v1/projects/:projectId/defects/:defectId/events': viewer('defects:read'),
  'GET /api/v1/projects/:projectId/defects/:defectId/comments': viewer('defects:read'),
  'POST /api/v1/projects/:projectId/defects/:defectId/comments': triager('defects:write'),
  'GET /api/v1/projects/:projectId/attachments/:attachmentId': viewer('defects:read'),
  'GET /api/v1/projects/:projectId/audit-log': admin,
  'GET /api/v1/audit-log': { kind: 'instance-admin' },
};

/** One route the app serves: its method (ALL for router.all) and path pattern. */
export interface ServedRoute {
  method: string;
  path: string;
  key: string;
}

const everyMethodCount = 20;

/** Every route of every router the app mounts, read from the routers themselves. */
export function servedRoutes(app: TestApp): ServedRoute[] {
  const routes: ServedRoute[] = [];
  for (const router of appRouters(app.config, app.dependencies) as Router[]) {
    for (const layer of router.stack as { methods: string[]; path: string }[]) {
      const methods = layer.methods.filter((method) => method !== 'HEAD');
      if (methods.length === 0) continue; // middleware layers (router.use)
      for (const method of methods.length > everyMethodCount ? ['ALL'] : methods) {
        routes.push({ method, path: layer.path, key: `${method} ${layer.path}` });
      }
    }
  }
  return routes;
}

/** The ids a path parameter takes in one project (ruleId depends on which rules the path names). */
export function parameterValue(project: SecurityProject, name: string, path: string): string {
  const ids = project.ids;
  const values: Record<string, string> = {
    projectId: project.projectId,
    defectId: ids.defectId,
    reportId: ids.reportId,
    attachmentId: ids.attachmentId,
    caseId: ids.caseId,
    runId: ids.runId,
    linkId: ids.linkId,
    destinationId: ids.destinationId,
    ruleId: path.includes('component-rules') ? ids.componentRuleId : ids.routingRuleId,
    userId: ids.memberUserId,
    tokenId: ids.tokenId,
    viewId: ids.viewId,
    jobId: ids.jobId,
    release: ids.releaseVersion,
  };
  const value = values[name];
  if (value === undefined) throw new Error(`no fixture value for path parameter :${name} (${path}); add one to parameterValue`);
  return value;
}

/** The names of a path's parameters, in order. */
export function parameterNames(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z]+)/g)].map((match) => match[1]);
}

/** Fills a path's parameters: each from `own`, except those named in `foreign`, taken from `other`. */
export function fillPath(path: string, own: SecurityProject, other?: SecurityProject, foreign: string[] = []): string {
  return path.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(parameterValue(foreign.includes(name) && other ? other : own, name, path)));
}

/** A request body a route accepts (so an authorized call would really do something). */
export interface SampleBody {
  body?: string | Uint8Array;
  contentType?: string;
}

const json = (value: unknown): SampleBody => ({ body: JSON.stringify(value), contentType: 'application/json' });

/** A valid body for each mutation, built from the project's own ids. */
export async function sampleBody(db: Kysely<Database>, key: string, project: SecurityProject): Promise<SampleBody> {
  const ids = project.ids;
  const unique = crypto.randomUUID().slice(0, 8);
  const junit = `<?xml version="1.0"?><testsuite name="s"><testcase classname="shop.Cart" name="adds ${unique}"/></testsuite>`;
  const bodies: Record<string, () => SampleBody | Promise<SampleBody>> = {
    'POST /api/v1/test-runs': () => ({ body: junit, contentType: 'application/xml' }),
    'POST /api/v1/projects/:projectId/test-runs': () => ({ body: junit, contentType: 'application/xml' }),
    'POST /api/v1/projects/:projectId/test-cases': () => json({ title: `Case ${unique}` }),
    'POST /api/v1/projects/:projectId/test-cases/import': () => ({ body: `title\nImported ${unique}\n`, contentType: 'text/csv' }),
    'PATCH /api/v1/projects/:projectId/test-cases/:caseId': () => json({ title: `Renamed case ${unique}` }),
    'POST /api/v1/projects/:projectId/defects/:defectId/test-links': () => json({ testCaseId: ids.caseId, kind: 'regression_test_added' }),
    'PUT /api/v1/projects/:projectId/requirements': () => json({ requirements: [{ key: `REQ-${unique}` }] }),
    'POST /api/v1/projects/:projectId/defects/:defectId/merge': () => json({ targetDefectId: ids.otherDefectId }),
    'POST /api/v1/projects/:projectId/reports/:reportId/split': () => json({}),
    'POST /api/v1/projects/:projectId/defects/:defectId/not-duplicate': () => json({ otherDefectId: ids.otherDefectId }),
    'POST /api/v1/projects/:projectId/destinations': () =>
      json({ kind: 'webhook', name: `Hook ${unique}`, config: { url: 'https://hooks.example.com/new' }, secrets: { signingSecret: `secret-${unique}-0123456789` } }),
    'PATCH /api/v1/projects/:projectId/destinations/:destinationId': () => json({ name: `Renamed ${unique}` }),
    'POST /api/v1/projects/:projectId/routing-rules': () => json({ name: `Rule ${unique}`, triggers: ['manual'], actions: [{ type: 'stop' }] }),
    'PUT /api/v1/projects/:projectId/routing-rules/order': async () => {
      const rules = await db.selectFrom('routingRules').select('id').where('projectId', '=', project.projectId).orderBy('position', 'desc').execute();
      return json({ ids: rules.map((rule) => rule.id) });
    },
    'PATCH /api/v1/projects/:projectId/routing-rules/:ruleId': () => json({ name: `Renamed rule ${unique}` }),
    'POST /api/v1/projects/:projectId/defects/:defectId/send': () => json({ destinationId: ids.destinationId }),
    'PATCH /api/v1/projects/:projectId': () => json({ settings: { theme: unique } }),
    'POST /api/v1/projects/:projectId/component-rules': () => json({ pattern: `/cart-${unique}/**`, component: 'cart' }),
    'PATCH /api/v1/projects/:projectId/component-rules/:ruleId': () => json({ component: `cart-${unique}` }),
    'POST /api/v1/projects/:projectId/members': () => json({ email: `new-${unique}@example.com`, role: 'viewer', password: 'a long first password' }),
    'PATCH /api/v1/projects/:projectId/members/:userId': () => json({ role: 'triager' }),
    'POST /api/v1/projects/:projectId/api-tokens': () => json({ name: `Token ${unique}`, scopes: ['defects:read'] }),
    'POST /api/v1/projects/:projectId/views': () => json({ name: `View ${unique}`, query: { status: 'open' } }),
    'POST /api/v1/projects/:projectId/defects/bulk': () => json({ defectIds: [ids.defectId], changes: { severity: 'minor' } }),
    'PATCH /api/v1/projects/:projectId/defects/:defectId': () => json({ severity: 'minor' }),
    'POST /api/v1/projects/:projectId/defects/:defectId/comments': () => json({ body: `A comment ${unique}` }),
  };
  return (await bodies[key]?.()) ?? {};
}

/**
 * A fingerprint of every row of every table (bar the columns that reading legitimately
 * touches: a token's last use). Equal before and after = the requests in between wrote nothing.
 */
export async function databaseFingerprint(db: Kysely<Database>): Promise<Record<string, string>> {
  const tables = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE' and table_name not like 'kysely_%'
    order by table_name
  `.execute(db);
  const fingerprint: Record<string, string> = {};
  for (const { name } of tables.rows) {
    const rows =
      name === 'api_tokens'
        ? sql`select id, project_id, name, token_hash, scopes, revoked_at from api_tokens`
        : sql`select * from ${sql.table(name)}`;
    const result = await sql<{ count: string; digest: string | null }>`
      select count(*)::text as count, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as digest from (${rows}) t
    `.execute(db);
    fingerprint[name] = `${result.rows[0].count}:${result.rows[0].digest}`;
  }
  return fingerprint;
}
