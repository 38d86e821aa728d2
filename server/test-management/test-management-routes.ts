import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Context } from 'koa';
import { sql } from 'kysely';
import getRawBody from 'raw-body';
import type { z } from 'zod';
import { z as zod } from 'zod';
import { newDefectTestLinkSchema, newTestCaseSchema, testCaseChangesSchema } from '../../shared/test-case-schema';
import type { AppDependencies } from '../app';
import type { Actor } from '../defects/defect-service';
import { AppError } from '../http/app-error';
import { parseJson } from '../http/json-body';
import { authorizeProject, type Principal, requirePrincipal } from '../http/authenticate';
import { isUuid } from '../projects/project-service';
import { releaseRanks } from '../releases/release-order';
import { coverageGaps, ineffectiveTests, linkDefectToTestCase, listDefectTestLinks, suggestTestCases, unlinkDefectTestCase, verifiedByTest } from './coverage-service';
import { type CsvMapping, type CsvPreset, csvTargets, importTestCasesCsv, previewTestCasesCsv } from './test-case-csv';
import { createTestCase, getTestCase, latestResultsByRelease, listTestCaseRevisions, listTestCases, setTestCaseArchived, testCaseFacets, updateTestCase } from './test-case-service';
import { importTestRun, type TestRunInput } from './test-run-import';
import { traceabilityCsv, traceabilityView, upsertRequirements } from './traceability';

/** Largest JUnit upload accepted (after decompression). */
export const maxJunitBytes = 200 * 1024 * 1024;
const maxJsonBytes = 1024 * 1024;
const maxCsvBytes = 20 * 1024 * 1024;

const read = { role: 'viewer', scope: 'test-cases:read' } as const;
const write = { role: 'triager', scope: 'test-cases:write' } as const;
const runs = { role: 'triager', scope: 'test-runs:write' } as const;

function validate<Schema extends z.ZodType>(schema: Schema, value: unknown): z.output<Schema> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.join('.') || '(body)';
  throw new AppError('invalid_request', `${field}: ${issue.message}`, { field });
}

async function readText(ctx: Context, limit: number): Promise<string> {
  try {
    return await getRawBody(ctx.req, { limit, encoding: 'utf8' });
  } catch (error) {
    if ((error as { type?: string }).type === 'entity.too.large') throw new AppError('payload_too_large', `The body is larger than ${limit / 1024 / 1024} MB`);
    throw new AppError('invalid_request', 'The request body could not be read');
  }
}

async function readJson(ctx: Context): Promise<unknown> {
  if (ctx.request.type !== 'application/json') throw new AppError('unsupported_media_type', 'Send the body as application/json');
  return parseJson(await readText(ctx, maxJsonBytes));
}

function actorOf(ctx: Context): Actor {
  const principal = ctx.state.principal as Principal;
  return principal.kind === 'user' ? { kind: 'user', userId: principal.userId } : { kind: 'api' };
}

const userIdOf = (ctx: Context): string | null => {
  const principal = ctx.state.principal as Principal;
  return principal.kind === 'user' ? principal.userId : null;
};

function projectIdOf(ctx: Context): string {
  const projectId = ctx.params.projectId as string;
  if (!isUuid(projectId)) throw new AppError('not_found', 'project not found');
  return projectId;
}

function queryString(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  const single = Array.isArray(value) ? value[0] : value;
  return single?.trim() ? single.trim() : undefined;
}

/** Run metadata from query parameters or `X-Bugloop-*` headers (query wins). */
function runMetadata(ctx: Context): Omit<TestRunInput, 'projectId'> {
  const pick = (name: string) => queryString(ctx, name) ?? (ctx.get(`x-bugloop-${name}`).trim() || undefined);
  return { release: pick('release'), build: pick('build'), environment: pick('environment'), commit: pick('commit'), source: 'api' };
}

/** The request body as a byte stream: XML, optionally gzip-compressed, with a size limit. */
async function* junitBody(ctx: Context): AsyncGenerator<Buffer> {
  const type = ctx.request.type;
  if (type && !['application/xml', 'text/xml', 'application/junit+xml', 'application/octet-stream'].includes(type)) {
    throw new AppError('unsupported_media_type', 'Send the JUnit report as application/xml (or text/xml), optionally with Content-Encoding: gzip');
  }
  const encoding = ctx.get('content-encoding').toLowerCase();
  let stream: Readable = ctx.req;
  if (encoding === 'gzip') stream = ctx.req.pipe(createGunzip());
  else if (encoding && encoding !== 'identity') throw new AppError('unsupported_media_type', `Content-Encoding ${encoding} is not supported (use gzip)`);
  let bytes = 0;
  try {
    for await (const chunk of stream) {
      bytes += (chunk as Buffer).length;
      if (bytes > maxJunitBytes) throw new AppError('payload_too_large', `The report is larger than ${maxJunitBytes / 1024 / 1024} MB`);
      yield chunk as Buffer;
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    if ((error as { code?: string }).code === 'Z_DATA_ERROR' || (error as { code?: string }).code === 'Z_BUF_ERROR') throw new AppError('invalid_request', 'The gzip body is corrupt');
    throw new AppError('invalid_request', 'The request body ended early');
  }
}

async function importFromRequest(ctx: Context, dependencies: AppDependencies, projectId: string): Promise<void> {
  let summary;
  try {
    summary = await importTestRun(dependencies.database.db, { projectId, ...runMetadata(ctx), actor: actorOf(ctx), soleSession: dependencies.database.soleSession }, [junitBody(ctx)]);
  } catch (error) {
    // Refused before the end of the body (hostile or broken XML): do not read the rest of a
    // possibly huge upload, and do not let the client reuse a connection with bytes still in it.
    if (!ctx.req.complete) ctx.set('Connection', 'close');
    throw error;
  }
  ctx.status = 201;
  ctx.set('Location', `/api/v1/projects/${projectId}/test-runs/${summary.runId}`);
  ctx.body = summary;
}

const listQuerySchema = zod.object({
  q: zod.string().max(200).optional(),
  suite: zod.string().max(500).optional(),
  component: zod.string().max(200).optional(),
  tag: zod.string().max(100).optional(),
  kind: zod.enum(['manual', 'automated']).optional(),
  requirement: zod.string().max(500).optional(),
  priority: zod.string().max(50).optional(),
  /** `true`: live and archived cases; `only`: archived ones; absent or `false`: live ones. */
  archived: zod.enum(['true', 'false', 'only']).optional(),
  limit: zod.coerce.number().int().min(1).max(500).optional(),
  offset: zod.coerce.number().int().min(0).optional(),
});

// Only web addresses: the dashboard links a requirement's URL, and a javascript: URL there would run.
const requirementsSchema = zod.object({
  requirements: zod
    .array(zod.object({ key: zod.string().trim().min(1).max(500), title: zod.string().trim().max(500).nullable().optional(), url: zod.url({ protocol: /^https?$/, message: 'must be an http(s) address' }).max(2000).nullable().optional() }))
    .max(5000),
});

/**
 * Test management API: the catalog, CSV import, run import (JUnit), defect ↔ test links,
 * coverage (gaps, ineffective tests, verified by test), suggestions and traceability.
 */
export function testManagementRoutes(dependencies: AppDependencies): Router {
  const { db } = dependencies.database;
  const router = new Router({ prefix: '/api/v1' });

  // CI: a project API token with test-runs:write; the project comes from the token.
  router.post('/test-runs', async (ctx) => {
    const principal = requirePrincipal(ctx);
    if (principal.kind !== 'token') {
      throw new AppError('forbidden', 'POST /api/v1/test-runs takes an API token; signed-in users post to /api/v1/projects/:projectId/test-runs');
    }
    await authorizeProject(ctx, db, principal.projectId, runs);
    await importFromRequest(ctx, dependencies, principal.projectId);
  });

  router.post('/projects/:projectId/test-runs', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, runs);
    await importFromRequest(ctx, dependencies, projectId);
  });

  router.get('/projects/:projectId/test-runs', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    ctx.body = {
      items: await db
        .selectFrom('testRuns')
        .leftJoin('releases', 'releases.id', 'testRuns.releaseId')
        .selectAll('testRuns')
        .select('releases.version as release')
        .select(sql<number>`(select count(*)::int from test_results r where r.test_run_id = test_runs.id and r.is_flaky)`.as('flaky'))
        .where('testRuns.projectId', '=', projectId)
        .$if(Boolean(queryString(ctx, 'release')), (query) => query.where('releases.version', '=', queryString(ctx, 'release')!))
        .orderBy('testRuns.createdAt', 'desc')
        .limit(100)
        .execute(),
    };
  });

  router.get('/projects/:projectId/test-runs/:runId', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    const runId = ctx.params.runId;
    const run = isUuid(runId) ? await db.selectFrom('testRuns').selectAll().where('projectId', '=', projectId).where('id', '=', runId).executeTakeFirst() : undefined;
    if (!run) throw new AppError('not_found', 'test run not found');
    // ?status=failed,error (a comma list) and/or ?flaky=true; with both, a result matching either is listed.
    const statuses = (queryString(ctx, 'status') ?? '').split(',').map((value) => value.trim()).filter(Boolean);
    const known = ['passed', 'failed', 'error', 'skipped'];
    const unknown = statuses.find((value) => !known.includes(value));
    if (unknown) throw new AppError('invalid_request', `status: one or more of ${known.join(', ')}`, { field: 'status' });
    const flaky = queryString(ctx, 'flaky');
    if (flaky && flaky !== 'true' && flaky !== 'false') throw new AppError('invalid_request', 'flaky: true or false', { field: 'flaky' });
    let results = db
      .selectFrom('testResults')
      .innerJoin('testCases', 'testCases.id', 'testResults.testCaseId')
      .select(['testResults.id', 'testResults.status', 'testResults.durationMs', 'testResults.message', 'testResults.isFlaky', 'testResults.failureSignature', 'testCases.id as testCaseId', 'testCases.key', 'testCases.title', 'testCases.suite'])
      .where('testResults.testRunId', '=', run.id);
    if (statuses.length || flaky === 'true') {
      results = results.where((eb) =>
        eb.or([
          ...(statuses.length ? [eb('testResults.status', 'in', statuses as ('passed' | 'failed' | 'error' | 'skipped')[])] : []),
          ...(flaky === 'true' ? [eb('testResults.isFlaky', '=', true)] : []),
        ]),
      );
    }
    if (flaky === 'false') results = results.where('testResults.isFlaky', '=', false);
    const flakyCount = await sql<{ count: number }>`select count(*)::int as count from test_results where test_run_id = ${run.id} and is_flaky`.execute(db);
    ctx.body = { run: { ...run, flaky: flakyCount.rows[0].count }, results: await results.orderBy('testResults.id').limit(1000).execute() };
  });

  router.get('/projects/:projectId/test-cases', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    const query = validate(listQuerySchema, ctx.query);
    ctx.body = await listTestCases(db, projectId, { ...query, includeArchived: query.archived === 'true', archivedOnly: query.archived === 'only' });
  });

  // Values for the catalog's filter bar.
  router.get('/projects/:projectId/test-case-facets', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    ctx.body = await testCaseFacets(db, projectId);
  });

  router.post('/projects/:projectId/test-cases', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, write);
    const input = validate(newTestCaseSchema, await readJson(ctx));
    ctx.status = 201;
    ctx.body = await createTestCase(db, projectId, input, userIdOf(ctx));
  });

  // CSV import: body text/csv; ?preset=testrail|qase|kiwi|generic (detected when absent);
  // mapping per field as ?map.title=Summary&map.steps=Text (any field in csvTargets).
  router.post('/projects/:projectId/test-cases/import', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, write);
    if (!['text/csv', 'text/plain', 'application/csv'].includes(ctx.request.type)) throw new AppError('unsupported_media_type', 'Send the CSV as text/csv');
    const preset = queryString(ctx, 'preset');
    if (preset && !['testrail', 'qase', 'kiwi', 'generic'].includes(preset)) throw new AppError('invalid_request', 'preset: one of testrail, qase, kiwi, generic', { field: 'preset' });
    const mapping: CsvMapping = {};
    for (const target of csvTargets) {
      const column = queryString(ctx, `map.${target}`);
      if (column) mapping[target] = column;
    }
    const text = await readText(ctx, maxCsvBytes);
    // ?dryRun=true: the same parsing and validation, nothing written (the mapping screen's preview).
    if (queryString(ctx, 'dryRun') === 'true') {
      ctx.body = previewTestCasesCsv(text, { preset: preset as CsvPreset | undefined, mapping });
      return;
    }
    ctx.body = await importTestCasesCsv(db, projectId, text, { preset: preset as CsvPreset | undefined, mapping, actorUserId: userIdOf(ctx) });
  });

  router.get('/projects/:projectId/test-cases/:caseId', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    const testCase = await getTestCase(db, projectId, ctx.params.caseId);
    const [revisions, results, links, latestByRelease] = await Promise.all([
      listTestCaseRevisions(db, testCase.id),
      db
        .selectFrom('testResults')
        .innerJoin('testRuns', 'testRuns.id', 'testResults.testRunId')
        .leftJoin('releases', 'releases.id', 'testRuns.releaseId')
        .select(['testResults.id', 'testResults.status', 'testResults.durationMs', 'testResults.message', 'testResults.isFlaky', 'testResults.createdAt', 'testRuns.id as runId', 'testRuns.build', 'testRuns.commitSha', 'releases.version as release'])
        .where('testResults.testCaseId', '=', testCase.id)
        .orderBy('testResults.id', 'desc')
        .limit(20)
        .execute(),
      db
        .selectFrom('defectTestLinks')
        .innerJoin('defects', 'defects.id', 'defectTestLinks.defectId')
        .select(['defectTestLinks.id', 'defectTestLinks.kind', 'defects.id as defectId', 'defects.key as defectKey', 'defects.title as defectTitle', 'defects.origin', 'defects.status'])
        .where('defectTestLinks.testCaseId', '=', testCase.id)
        .execute(),
      latestResultsByRelease(db, testCase.id),
    ]);
    ctx.body = { ...testCase, revisions, recentResults: results, defectLinks: links, latestByRelease };
  });

  router.patch('/projects/:projectId/test-cases/:caseId', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, write);
    const changes = validate(testCaseChangesSchema, await readJson(ctx));
    const testCase = await getTestCase(db, projectId, ctx.params.caseId);
    ctx.body = await updateTestCase(db, projectId, testCase.id, changes, userIdOf(ctx));
  });

  for (const [action, archived] of [['archive', true], ['restore', false]] as const) {
    router.post(`/projects/:projectId/test-cases/:caseId/${action}`, async (ctx) => {
      const projectId = projectIdOf(ctx);
      await authorizeProject(ctx, db, projectId, write);
      const testCase = await getTestCase(db, projectId, ctx.params.caseId);
      ctx.body = await setTestCaseArchived(db, projectId, testCase.id, archived, userIdOf(ctx));
    });
  }

  router.get('/projects/:projectId/defects/:defectId/test-links', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    const links = await listDefectTestLinks(db, projectId, ctx.params.defectId);
    const defect = await db.selectFrom('defects').select('id').where('projectId', '=', projectId).where((eb) => eb.or([eb('key', '=', ctx.params.defectId.toUpperCase()), ...(isUuid(ctx.params.defectId) ? [eb('id', '=', ctx.params.defectId)] : [])])).executeTakeFirstOrThrow();
    const [[verification], ineffective] = await Promise.all([verifiedByTest(db, projectId, [defect.id]), ineffectiveTests(db, projectId, { defectId: defect.id })]);
    // The defect page's coverage line: ineffective = a covering test passed where this escaped.
    ctx.body = { items: links, verifiedByTest: verification?.verified ?? false, verification: verification ?? null, ineffective };
  });

  router.post('/projects/:projectId/defects/:defectId/test-links', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, write);
    const link = validate(newDefectTestLinkSchema, await readJson(ctx));
    ctx.status = 201;
    ctx.body = await linkDefectToTestCase(db, projectId, ctx.params.defectId, link, actorOf(ctx));
  });

  router.delete('/projects/:projectId/defects/:defectId/test-links/:linkId', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, write);
    if (!isUuid(ctx.params.linkId)) throw new AppError('not_found', 'link not found');
    await unlinkDefectTestCase(db, projectId, ctx.params.defectId, ctx.params.linkId, actorOf(ctx));
    ctx.status = 204;
  });

  router.get('/projects/:projectId/defects/:defectId/test-suggestions', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    ctx.body = { items: await suggestTestCases(db, projectId, ctx.params.defectId) };
  });

  router.get('/projects/:projectId/coverage/gaps', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    ctx.body = { items: await coverageGaps(db, projectId, { release: queryString(ctx, 'release') }) };
  });

  router.get('/projects/:projectId/coverage/ineffective-tests', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    ctx.body = { items: await ineffectiveTests(db, projectId, { release: queryString(ctx, 'release') }) };
  });

  router.get('/projects/:projectId/coverage/verified-by-test', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    ctx.body = { items: await verifiedByTest(db, projectId) };
  });

  router.get('/projects/:projectId/test-releases', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    const { ordered } = await releaseRanks(db, projectId);
    ctx.body = { items: ordered.map((release, index) => ({ id: release.id, version: release.version, order: index, firstSeenAt: release.firstSeenAt })) };
  });

  router.get('/projects/:projectId/requirements', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    ctx.body = { items: await db.selectFrom('requirements').selectAll().where('projectId', '=', projectId).orderBy('key').execute() };
  });

  router.put('/projects/:projectId/requirements', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, write);
    const body = validate(requirementsSchema, await readJson(ctx));
    ctx.body = { upserted: await upsertRequirements(db, projectId, body.requirements) };
  });

  // ?release=1.4.0 (newest release when absent); ?format=csv or Accept: text/csv for the export.
  router.get('/projects/:projectId/traceability', async (ctx) => {
    const projectId = projectIdOf(ctx);
    await authorizeProject(ctx, db, projectId, read);
    const view = await traceabilityView(db, projectId, queryString(ctx, 'release'));
    if (queryString(ctx, 'format') === 'csv' || ctx.accepts('json', 'text/csv') === 'text/csv') {
      ctx.type = 'text/csv; charset=utf-8';
      ctx.set('Content-Disposition', `attachment; filename="traceability-${(view.release?.version ?? 'all').replace(/[^A-Za-z0-9._-]/g, '_')}.csv"`);
      ctx.body = traceabilityCsv(view);
      return;
    }
    ctx.body = view;
  });

  return router;
}
