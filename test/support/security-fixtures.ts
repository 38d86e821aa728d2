import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type ApiTokenScope, apiTokenScopes } from '../../shared/scopes';
import { createApiToken } from '../../server/auth/api-token-service';
import type { Database } from '../../server/db/schema';
import { createSession, csrfHeaderName, sessionCookieName } from '../../server/http/authenticate';
import { createDestination } from '../../server/destinations/destination-repository';
import { SecretBox } from '../../server/integrations/secret-box';
import { createOutboundNetwork } from '../../server/integrations/outbound-network';
import { enqueueJob } from '../../server/outbox/job-queue';
import { createProject } from '../../server/projects/project-service';
import { createRule } from '../../server/routing/routing-rules';
import { linkDefectToTestCase } from '../../server/test-management/coverage-service';
import { createTestCase } from '../../server/test-management/test-case-service';
import { importTestRun } from '../../server/test-management/test-run-import';
import { upsertRequirements } from '../../server/test-management/traceability';
import { createUser, setProjectRole } from '../../server/users/user-service';
import { seedDefect } from '../api/defect-fixtures';
import { makePng } from './images';

/** Request headers that act as one caller. */
export type CallerHeaders = Record<string, string>;

/** A signed-in person: cookie + CSRF token, and the raw parts for tests that need them. */
export interface SignedIn {
  userId: string;
  email: string;
  headers: CallerHeaders;
}

/**
 * One project with one of everything a route can name by id, plus callers of every kind.
 * Every row carries `marker` in a visible text, so a response that leaks it is easy to find.
 */
export interface SecurityProject {
  marker: string;
  projectId: string;
  publicKey: string;
  ids: {
    defectId: string;
    defectKey: string;
    otherDefectId: string;
    reportId: string;
    attachmentId: string;
    caseId: string;
    caseKey: string;
    runId: string;
    resultId: string;
    linkId: string;
    destinationId: string;
    trackerDestinationId: string;
    routingRuleId: string;
    componentRuleId: string;
    memberUserId: string;
    tokenId: string;
    viewId: string;
    jobId: string;
    releaseId: string;
    releaseVersion: string;
  };
  /** Every id above that is unique to this project (keys like WEB-1 repeat across projects), for leak checks. */
  allIds: string[];
  viewer: SignedIn;
  triager: SignedIn;
  admin: SignedIn;
  /** A token with every scope. */
  tokenAll: CallerHeaders;
  /** Per scope: a token holding every scope except that one. */
  tokenWithout: Record<ApiTokenScope, CallerHeaders>;
  revokedToken: CallerHeaders;
}

/** Signs a user in (a session row) and returns the headers a browser would send. */
export async function signIn(db: Kysely<Database>, userId: string): Promise<CallerHeaders> {
  const session = await createSession(db, userId);
  return { cookie: `${sessionCookieName}=${session.cookieValue}`, [csrfHeaderName]: session.csrfToken };
}

async function person(db: Kysely<Database>, label: string, options: { projectId?: string; role?: 'viewer' | 'triager' | 'admin'; isInstanceAdmin?: boolean } = {}): Promise<SignedIn> {
  const email = `${label}-${randomUUID().slice(0, 8)}@example.com`;
  const user = await createUser(db, { email, password: 'a long test password', isInstanceAdmin: options.isInstanceAdmin ?? false });
  if (options.projectId && options.role) await setProjectRole(db, options.projectId, user.id, options.role);
  return { userId: user.id, email, headers: await signIn(db, user.id) };
}

const bearer = (token: string): CallerHeaders => ({ authorization: `Bearer ${token}` });

/** JUnit with one passing and one failing test, so a run, results and a ci defect exist. */
function junit(marker: string): string {
  return `<?xml version="1.0"?><testsuite name="checkout ${marker}" tests="2"><testcase classname="shop.Checkout" name="pays ${marker}"/><testcase classname="shop.Checkout" name="fails ${marker}"><failure message="boom ${marker}">stack</failure></testcase></testsuite>`;
}

/**
 * Builds a project with data of every kind (defects, reports, a screenshot, comments, test
 * cases, a run, links, requirements, destinations, rules, a saved view, a dead delivery) and
 * callers (viewer, triager, admin, tokens with and without each scope, a revoked token).
 */
export async function buildSecurityProject(db: Kysely<Database>, label: string, secretKey: string): Promise<SecurityProject> {
  const marker = `MARK${label}${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const project = await createProject(db, { name: `Project ${marker}`, allowedOrigins: [`https://${label.toLowerCase()}.example.com`] });
  const projectId = project.id;
  const [viewer, triager, admin, member] = await Promise.all([
    person(db, `viewer-${label}`, { projectId, role: 'viewer' }),
    person(db, `triager-${label}`, { projectId, role: 'triager' }),
    person(db, `admin-${label}`, { projectId, role: 'admin' }),
    person(db, `member-${label}`, { projectId, role: 'viewer' }),
  ]);
  const releaseVersion = `1.0.0-${label.toLowerCase()}${marker.slice(-4).toLowerCase()}`;
  const { defect, reportIds } = await seedDefect(db, projectId, {
    title: `Checkout fails ${marker}`,
    description: `Pay now does nothing ${marker}`,
    component: 'checkout',
    severity: 'major',
    release: releaseVersion,
    reports: [{ description: `I clicked pay ${marker}`, reporterEmail: `reporter-${label}@example.com`, screenshot: makePng(20, 20) }],
  });
  const { defect: other } = await seedDefect(db, projectId, { title: `Coupon fails ${marker}`, reports: [{ description: `coupon ${marker}` }] });
  const report = { id: reportIds[0] };
  const attachment = await db.selectFrom('reportAttachments').select('id').where('reportId', '=', report.id).executeTakeFirstOrThrow();
  const release = await db.selectFrom('releases').select('id').where('projectId', '=', projectId).where('version', '=', releaseVersion).executeTakeFirstOrThrow();
  await db.insertInto('defectComments').values({ defectId: defect.id, authorId: triager.userId, body: `comment ${marker}` }).execute();

  const testCase = await createTestCase(db, projectId, { title: `Checkout pays ${marker}`, component: 'checkout' }, admin.userId);
  const run = await importTestRun(db, { projectId, release: releaseVersion, build: '7', environment: 'ci', commit: 'abc', source: 'api', actor: { kind: 'api' } }, [
    (async function* () {
      yield junit(marker);
    })(),
  ]);
  const result = await db.selectFrom('testResults').select('id').where('testRunId', '=', run.runId).orderBy('id').executeTakeFirstOrThrow();
  const link = await linkDefectToTestCase(db, projectId, defect.id, { testCaseId: testCase.id, kind: 'covers' }, { kind: 'user', userId: triager.userId });
  await upsertRequirements(db, projectId, [{ key: `REQ-${marker}`, title: `Requirement ${marker}` }]);

  const box = new SecretBox(secretKey);
  const network = createOutboundNetwork({ allowPrivateAddresses: true });
  const webhook = await createDestination(db, box, projectId, { kind: 'webhook', name: `Hook ${marker}`, config: { url: 'https://hooks.example.com/bugloop' }, secrets: { signingSecret: `signing-secret-${marker}` } }, network);
  const tracker = await createDestination(db, box, projectId, {
    kind: 'jira',
    name: `Jira ${marker}`,
    config: { baseUrl: 'https://example.atlassian.net', projectKey: 'WEB', email: 'bot@example.com' },
    secrets: { apiToken: `jira-token-${marker}`, webhookSecret: `jira-hook-${marker}` },
  }, network);
  const routingRule = await createRule(db, projectId, { name: `Rule ${marker}`, triggers: ['manual'], actions: [{ type: 'call_webhook', destinationId: webhook.id }] });
  const componentRule = await db
    .insertInto('componentRules')
    .values({ projectId, pattern: '/checkout/**', patternKind: 'glob', component: `checkout-${marker}`, position: 0 })
    .returning('id')
    .executeTakeFirstOrThrow();
  const viewId = randomUUID();
  await db
    .updateTable('projects')
    .set({ settings: JSON.stringify({ savedViews: [{ id: viewId, name: `View ${marker}`, query: { status: 'open' }, createdBy: null }] }) })
    .where('id', '=', projectId)
    .execute();
  await enqueueJob(db, { kind: 'integration.notify', projectId, payload: { destinationId: webhook.id, defectId: defect.id, marker }, idempotencyKey: `dead:${marker}` });
  const job = await db
    .updateTable('jobs')
    .set({ state: 'dead', lastError: `failed ${marker}`, finishedAt: new Date() })
    .where('idempotencyKey', '=', `dead:${marker}`)
    .returning('id')
    .executeTakeFirstOrThrow();

  const tokenAll = await createApiToken(db, { projectId, name: 'all', scopes: [...apiTokenScopes], createdBy: admin.userId });
  const tokenWithout = {} as Record<ApiTokenScope, CallerHeaders>;
  for (const scope of apiTokenScopes) {
    const created = await createApiToken(db, { projectId, name: `without ${scope}`, scopes: apiTokenScopes.filter((candidate) => candidate !== scope) });
    tokenWithout[scope] = bearer(created.token);
  }
  const victimToken = await createApiToken(db, { projectId, name: `victim ${marker}`, scopes: ['defects:read'] });
  const revoked = await createApiToken(db, { projectId, name: 'revoked', scopes: [...apiTokenScopes] });
  await db.updateTable('apiTokens').set({ revokedAt: new Date() }).where('id', '=', revoked.id).execute();

  const ids = {
    defectId: defect.id,
    defectKey: defect.key,
    otherDefectId: other.id,
    reportId: report.id,
    attachmentId: attachment.id,
    caseId: testCase.id,
    caseKey: testCase.key,
    runId: run.runId,
    resultId: String(result.id),
    linkId: link.id,
    destinationId: webhook.id,
    trackerDestinationId: tracker.id,
    routingRuleId: routingRule.id,
    componentRuleId: componentRule.id,
    memberUserId: member.userId,
    tokenId: victimToken.id,
    viewId,
    jobId: String(job.id),
    releaseId: release.id,
    releaseVersion,
  };
  return {
    marker,
    projectId,
    publicKey: project.publicKey,
    ids,
    allIds: [projectId, project.publicKey, ...Object.entries(ids).filter(([name]) => !['jobId', 'resultId', 'defectKey', 'caseKey'].includes(name)).map(([, value]) => value)],
    viewer,
    triager,
    admin,
    tokenAll: bearer(tokenAll.token),
    tokenWithout,
    revokedToken: bearer(revoked.token),
  };
}
