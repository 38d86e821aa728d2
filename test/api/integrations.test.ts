import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../server/auth/api-token-service';
import { enqueueJob } from '../../server/outbox/job-queue';
import { SecretBox } from '../../server/integrations/secret-box';
import { signedInHeaders } from '../support/auth';
import { addDestination, addReport, seedDefect, testSecretKey } from '../support/integrations';
import { startTestApp, type TestApp } from '../support/test-server';

let app: TestApp;
let projectId: string;
let defectId: string;
let admin: Record<string, string>;
const json = (headers: Record<string, string>) => ({ ...headers, 'content-type': 'application/json' });

beforeAll(async () => {
  app = await startTestApp({ PUBLIC_URL: 'https://bugloop.test', SECRET_KEY: testSecretKey });
  ({ projectId, defectId } = await seedDefect(app.database.db));
  admin = (await signedInHeaders(app.database.db, { projectId, role: 'admin' })).headers;
});
afterAll(() => app.close());

const jiraInput = {
  kind: 'jira',
  name: 'Jira WEB',
  config: { baseUrl: 'https://acme.atlassian.net', projectKey: 'WEB', projectId: '10001', issueTypeId: '10004', email: 'bot@acme.com' },
  secrets: { apiToken: 'ATATT-very-secret-token', webhookSecret: 'jira-webhook-secret' },
};

async function createJira(input: Record<string, unknown> = jiraInput) {
  const response = await app.request(`/api/v1/projects/${projectId}/destinations`, { method: 'POST', headers: json(admin), body: JSON.stringify(input) });
  expect(response.status).toBe(201);
  return ((await response.json()) as { destination: { id: string } }).destination;
}

describe('destinations API', () => {
  it('creates a destination and never returns its secrets, only their names', async () => {
    const response = await app.request(`/api/v1/projects/${projectId}/destinations`, { method: 'POST', headers: json(admin), body: JSON.stringify(jiraInput) });
    expect(response.status).toBe(201);
    const text = await response.text();
    expect(text).not.toContain('ATATT-very-secret-token');
    expect(text).not.toContain('jira-webhook-secret');
    const { destination } = JSON.parse(text);
    expect(destination).toMatchObject({ kind: 'jira', role: 'tracker', configured: true, secretsSet: ['apiToken', 'webhookSecret'] });
    expect(destination.inboundWebhookUrl).toBe(`https://bugloop.test/api/v1/integrations/${destination.id}/webhook`);
    const list = await (await app.request(`/api/v1/projects/${projectId}/destinations`, { headers: admin })).text();
    expect(list).not.toContain('ATATT-very-secret-token');
  });

  it('stores secrets encrypted with AES-256-GCM, bound to the destination', async () => {
    const destination = await createJira();
    const row = await app.database.db.selectFrom('destinations').selectAll().where('id', '=', destination.id).executeTakeFirstOrThrow();
    expect(row.encryptedSecrets).toMatch(/^v1\./);
    expect(row.encryptedSecrets).not.toContain('ATATT');
    const box = new SecretBox(testSecretKey);
    expect(box.open(row.encryptedSecrets!, row.id)).toEqual(jiraInput.secrets);
    expect(() => box.open(row.encryptedSecrets!, '00000000-0000-4000-8000-000000000000')).toThrow();
    expect(() => new SecretBox('another-secret-key-another-secret-key').open(row.encryptedSecrets!, row.id)).toThrow();
  });

  it('merges secrets on change: absent keys are kept, null removes one', async () => {
    const destination = await createJira();
    const response = await app.request(`/api/v1/projects/${projectId}/destinations/${destination.id}`, {
      method: 'PATCH',
      headers: json(admin),
      body: JSON.stringify({ name: 'Jira (renamed)', secrets: { webhookSecret: null } }),
    });
    expect(response.status).toBe(200);
    expect((await response.json()).destination).toMatchObject({ name: 'Jira (renamed)', secretsSet: ['apiToken'], configured: true });
  });

  it('rejects an invalid config with 400 naming the field', async () => {
    const response = await app.request(`/api/v1/projects/${projectId}/destinations`, {
      method: 'POST',
      headers: json(admin),
      body: JSON.stringify({ ...jiraInput, config: { ...jiraInput.config, projectKey: 'not a key' } }),
    });
    expect(response.status).toBe(400);
    expect((await response.json()).error).toMatchObject({ code: 'invalid_request', field: 'config.projectKey' });
  });

  it('rejects an unknown kind with 400', async () => {
    const response = await app.request(`/api/v1/projects/${projectId}/destinations`, { method: 'POST', headers: json(admin), body: JSON.stringify({ ...jiraInput, kind: 'bugzilla' }) });
    expect(response.status).toBe(400);
    expect((await response.json()).error.field).toBe('kind');
  });

  it('answers 415 to a body that is not JSON', async () => {
    const response = await app.request(`/api/v1/projects/${projectId}/destinations`, { method: 'POST', headers: { ...admin, 'content-type': 'text/plain' }, body: 'kind=jira' });
    expect(response.status).toBe(415);
  });

  it('needs the admin role: a triager gets 403, someone outside the project 404, anonymous 401', async () => {
    const triager = (await signedInHeaders(app.database.db, { projectId, role: 'triager' })).headers;
    expect((await app.request(`/api/v1/projects/${projectId}/destinations`, { headers: triager })).status).toBe(403);
    const stranger = (await signedInHeaders(app.database.db)).headers;
    expect((await app.request(`/api/v1/projects/${projectId}/destinations`, { headers: stranger })).status).toBe(404);
    expect((await app.request(`/api/v1/projects/${projectId}/destinations`)).status).toBe(401);
  });

  it('refuses API tokens for settings that hold secrets', async () => {
    const { token } = await createApiToken(app.database.db, { projectId, name: 'ci', scopes: ['defects:write', 'defects:read'] });
    const response = await app.request(`/api/v1/projects/${projectId}/destinations`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(403);
  });

  it('needs the CSRF token for a cookie session change', async () => {
    const response = await app.request(`/api/v1/projects/${projectId}/destinations`, {
      method: 'POST',
      headers: { cookie: admin.cookie, 'content-type': 'application/json' },
      body: JSON.stringify(jiraInput),
    });
    expect(response.status).toBe(403);
    expect((await response.json()).error.code).toBe('csrf_failed');
  });
});

describe('routing rules API', () => {
  it('creates rules in order and reorders them', async () => {
    const slack = await addDestination(app.database.db, projectId, { kind: 'slack', name: '#bugs', config: { channel: 'C0123' }, secrets: { botToken: 'xoxb-1' } });
    const create = async (name: string) => {
      const response = await app.request(`/api/v1/projects/${projectId}/routing-rules`, {
        method: 'POST',
        headers: json(admin),
        body: JSON.stringify({ name, triggers: ['defect_created'], conditions: { severities: ['critical'] }, actions: [{ type: 'notify_slack', destinationId: slack.id }] }),
      });
      expect(response.status).toBe(201);
      return (await response.json()).rule as { id: string; position: number };
    };
    const first = await create('first');
    const second = await create('second');
    expect(second.position).toBeGreaterThan(first.position);
    const all = ((await (await app.request(`/api/v1/projects/${projectId}/routing-rules`, { headers: admin })).json()).rules as { id: string }[]).map((rule) => rule.id);
    const reversed = [...all].reverse();
    const reorder = await app.request(`/api/v1/projects/${projectId}/routing-rules/order`, { method: 'PUT', headers: json(admin), body: JSON.stringify({ ids: reversed }) });
    expect(reorder.status).toBe(200);
    expect(((await reorder.json()).rules as { id: string }[]).map((rule) => rule.id)).toEqual(reversed);
  });

  it('rejects an action whose destination is of the wrong kind', async () => {
    const slack = await addDestination(app.database.db, projectId, { kind: 'slack', name: '#bugs', config: { channel: 'C0123' }, secrets: { botToken: 'xoxb-1' } });
    const response = await app.request(`/api/v1/projects/${projectId}/routing-rules`, {
      method: 'POST',
      headers: json(admin),
      body: JSON.stringify({ name: 'bad', triggers: ['defect_created'], actions: [{ type: 'create_ticket', destinationId: slack.id }] }),
    });
    expect(response.status).toBe(400);
    expect((await response.json()).error.field).toBe('actions.0.type');
  });

  it('rejects an unknown trigger', async () => {
    const response = await app.request(`/api/v1/projects/${projectId}/routing-rules`, {
      method: 'POST',
      headers: json(admin),
      body: JSON.stringify({ name: 'bad', triggers: ['every_full_moon'], actions: [{ type: 'stop' }] }),
    });
    expect(response.status).toBe(400);
  });
});

describe('deliveries API', () => {
  it('"Send to…" queues one delivery for the chosen destination', async () => {
    const triager = (await signedInHeaders(app.database.db, { projectId, role: 'triager' })).headers;
    const jira = await createJira();
    const response = await app.request(`/api/v1/projects/${projectId}/defects/${defectId}/send`, { method: 'POST', headers: json(triager), body: JSON.stringify({ destinationId: jira.id }) });
    expect(response.status).toBe(202);
    const job = await app.database.db.selectFrom('jobs').selectAll().where('idempotencyKey', '=', `ticket:${jira.id}:${defectId}`).executeTakeFirstOrThrow();
    expect(job).toMatchObject({ kind: 'integration.create_ticket', state: 'pending', projectId });
  });

  it('"Send to…" without a destination runs the rules that have the manual trigger', async () => {
    const seeded = await seedDefect(app.database.db, { projectId });
    const webhook = await addDestination(app.database.db, projectId, { kind: 'webhook', name: 'ops', config: { url: 'https://ops.example/hook' }, secrets: { signingSecret: 'whsec_0123456789abcdef' } });
    await app.request(`/api/v1/projects/${projectId}/routing-rules`, {
      method: 'POST',
      headers: json(admin),
      body: JSON.stringify({ name: 'by hand', triggers: ['manual'], actions: [{ type: 'call_webhook', destinationId: webhook.id }] }),
    });
    const response = await app.request(`/api/v1/projects/${projectId}/defects/${seeded.defectId}/send`, { method: 'POST', headers: json(admin), body: '{}' });
    expect(response.status).toBe(202);
    expect((await response.json()).deliveries).toBeGreaterThanOrEqual(1);
    const jobs = await app.database.db.selectFrom('jobs').select(['kind', 'payload']).where('kind', '=', 'integration.notify').execute();
    expect(jobs.filter((job) => (job.payload as { defectId: string; destinationId: string }).defectId === seeded.defectId && (job.payload as { destinationId: string }).destinationId === webhook.id)).toHaveLength(1);
  });

  it('lists dead letters and retries one with fresh attempts', async () => {
    await enqueueJob(app.database.db, { kind: 'integration.notify', projectId, payload: { destinationId: 'x', defectId }, idempotencyKey: `dead-test-${Date.now()}` });
    const dead = await app.database.db
      .updateTable('jobs')
      .set({ state: 'dead', attempts: 8, lastError: 'Slack chat.postMessage: invalid_auth', finishedAt: new Date() })
      .where('kind', '=', 'integration.notify')
      .where('idempotencyKey', 'like', 'dead-test-%')
      .returning('id')
      .executeTakeFirstOrThrow();
    const list = await (await app.request(`/api/v1/projects/${projectId}/dead-letters`, { headers: admin })).json();
    expect(list.deadLetters).toContainEqual(expect.objectContaining({ id: dead.id, lastError: 'Slack chat.postMessage: invalid_auth', attempts: 8 }));
    const retry = await app.request(`/api/v1/projects/${projectId}/dead-letters/${dead.id}/retry`, { method: 'POST', headers: admin });
    expect(retry.status).toBe(202);
    const job = await app.database.db.selectFrom('jobs').selectAll().where('id', '=', dead.id).executeTakeFirstOrThrow();
    expect(job).toMatchObject({ state: 'pending', attempts: 0 });
    expect((await app.request(`/api/v1/projects/${projectId}/dead-letters/${dead.id}/retry`, { method: 'POST', headers: admin })).status).toBe(404);
  });

  it('offers a pre-filled "create issue" link once the ticket delivery failed for good', async () => {
    const jira = await createJira();
    await app.database.db.transaction().execute((trx) =>
      enqueueJob(trx, { kind: 'integration.create_ticket', projectId, payload: { destinationId: jira.id, defectId }, idempotencyKey: `ticket:${jira.id}:${defectId}` }),
    );
    await app.database.db.updateTable('jobs').set({ state: 'dead', lastError: 'Jira search: connect ECONNREFUSED' }).where('idempotencyKey', '=', `ticket:${jira.id}:${defectId}`).execute();
    const body = await (await app.request(`/api/v1/projects/${projectId}/defects/${defectId}/integrations`, { headers: admin })).json();
    const tracker = body.trackers.find((candidate: { destinationId: string }) => candidate.destinationId === jira.id);
    expect(tracker.delivery).toBe('failed');
    const url = new URL(tracker.createIssueUrl);
    expect(url.origin + url.pathname).toBe('https://acme.atlassian.net/secure/CreateIssueDetails!init.jspa');
    expect(url.searchParams.get('pid')).toBe('10001');
    expect(url.searchParams.get('summary')).toBe('Checkout button does nothing');
    expect(url.searchParams.get('description')).toContain(`https://bugloop.test/p/${projectId}/defects/${defectId}`);
  });
});

describe('inbound Jira webhook', () => {
  async function jiraWithTicket(key: string) {
    const seeded = await seedDefect(app.database.db, { projectId });
    const destination = await addDestination(app.database.db, projectId, jiraInput);
    await app.database.db
      .insertInto('externalTickets')
      .values({ defectId: seeded.defectId, destinationId: destination.id, destinationKind: 'jira', externalKey: key, externalId: `1${key.replace(/\D/g, '')}`, url: `https://acme.atlassian.net/browse/${key}`, state: 'new' })
      .execute();
    return { ...seeded, destination };
  }
  const issueUpdated = (key: string, status: { name: string; category: string }, fixVersion?: string) =>
    JSON.stringify({
      webhookEvent: 'jira:issue_updated',
      issue: { id: `1${key.replace(/\D/g, '')}`, key, fields: { status: { name: status.name, statusCategory: { key: status.category } }, fixVersions: fixVersion ? [{ name: fixVersion }] : [] } },
      changelog: { items: [{ field: 'status', fieldtype: 'jira', fromString: 'In Progress', toString: status.name }] },
    });
  const sign = (body: string, secret = 'jira-webhook-secret') => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

  it('rejects a bad signature with 401 and changes nothing', async () => {
    const { destination, defectId: id } = await jiraWithTicket('WEB-71');
    const body = issueUpdated('WEB-71', { name: 'Done', category: 'done' });
    const response = await app.request(`/api/v1/integrations/${destination.id}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature': sign(body, 'wrong-secret'), 'x-atlassian-webhook-identifier': 'bad-1' },
      body,
    });
    expect(response.status).toBe(401);
    expect((await response.json()).error.code).toBe('invalid_signature');
    expect((await app.database.db.selectFrom('defects').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('new');
    expect(await app.database.db.selectFrom('inboundWebhookDeliveries').selectAll().where('deliveryId', '=', 'bad-1').execute()).toEqual([]);
  });

  it('marks the defect resolved with its fixed-in release, as an integration, in the history', async () => {
    const { destination, defectId: id } = await jiraWithTicket('WEB-72');
    const body = issueUpdated('WEB-72', { name: 'Done', category: 'done' }, '1.4.2');
    const response = await app.request(`/api/v1/integrations/${destination.id}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature': sign(body), 'x-atlassian-webhook-identifier': 'delivery-72' },
      body,
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'applied' });
    const defect = await app.database.db
      .selectFrom('defects')
      .leftJoin('releases', 'releases.id', 'defects.fixedInReleaseId')
      .select(['defects.status', 'releases.version'])
      .where('defects.id', '=', id)
      .executeTakeFirstOrThrow();
    expect(defect).toEqual({ status: 'resolved', version: '1.4.2' });
    const event = await app.database.db.selectFrom('defectEvents').selectAll().where('defectId', '=', id).where('field', '=', 'status').executeTakeFirstOrThrow();
    expect(event).toMatchObject({ actorKind: 'integration', oldValue: 'new', newValue: 'resolved' });
    const ticket = await app.database.db.selectFrom('externalTickets').selectAll().where('defectId', '=', id).executeTakeFirstOrThrow();
    expect(ticket).toMatchObject({ state: 'done', stateName: 'Done' });
  });

  it('drops a repeated delivery by X-Atlassian-Webhook-Identifier', async () => {
    const { destination, defectId: id } = await jiraWithTicket('WEB-73');
    const body = issueUpdated('WEB-73', { name: 'Done', category: 'done' });
    const send = () =>
      app.request(`/api/v1/integrations/${destination.id}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature': sign(body), 'x-atlassian-webhook-identifier': 'delivery-73' },
        body,
      });
    expect(await (await send()).json()).toEqual({ status: 'applied' });
    expect(await (await send()).json()).toEqual({ status: 'duplicate' });
    expect(await app.database.db.selectFrom('defectEvents').selectAll().where('defectId', '=', id).where('field', '=', 'status').execute()).toHaveLength(1);
  });

  it('reopens the defect when the issue goes back to an open status', async () => {
    const { destination, defectId: id } = await jiraWithTicket('WEB-74');
    for (const [index, status] of [{ name: 'Done', category: 'done' }, { name: 'To Do', category: 'new' }].entries()) {
      const body = issueUpdated('WEB-74', status);
      await app.request(`/api/v1/integrations/${destination.id}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature': sign(body), 'x-atlassian-webhook-identifier': `delivery-74-${index}` },
        body,
      });
    }
    const defect = await app.database.db.selectFrom('defects').select(['status', 'reopenCount']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(defect).toEqual({ status: 'reopened', reopenCount: 1 });
  });

  it('follows a configured status map over the defaults', async () => {
    const { destination, defectId: id } = await jiraWithTicket('WEB-75');
    await app.request(`/api/v1/projects/${projectId}/destinations/${destination.id}`, {
      method: 'PATCH',
      headers: json(admin),
      body: JSON.stringify({ config: { ...jiraInput.config, statusMap: { 'Ready for QA': 'resolved' } } }),
    });
    const body = issueUpdated('WEB-75', { name: 'Ready for QA', category: 'indeterminate' });
    await app.request(`/api/v1/integrations/${destination.id}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature': sign(body), 'x-atlassian-webhook-identifier': 'delivery-75' },
      body,
    });
    expect((await app.database.db.selectFrom('defects').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('resolved');
  });
});

describe('inbound Linear webhook', () => {
  const secret = 'linear-webhook-secret';
  async function linearWithTicket() {
    const seeded = await seedDefect(app.database.db, { projectId });
    const destination = await addDestination(app.database.db, projectId, { kind: 'linear', name: 'Linear', config: { teamId: 'team-1' }, secrets: { apiKey: 'lin_api_x', webhookSecret: secret } });
    const issueId = crypto.randomUUID();
    await app.database.db
      .insertInto('externalTickets')
      .values({ defectId: seeded.defectId, destinationId: destination.id, destinationKind: 'linear', externalKey: 'ENG-9', externalId: issueId, url: 'https://linear.app/acme/issue/ENG-9', state: 'unstarted' })
      .execute();
    return { ...seeded, destination, issueId };
  }
  const body = (issueId: string, timestamp: number) =>
    JSON.stringify({ action: 'update', type: 'Issue', data: { id: issueId, identifier: 'ENG-9', state: { name: 'Done', type: 'completed' } }, updatedFrom: { stateId: 'old' }, webhookTimestamp: timestamp });
  const sign = (payload: string) => createHmac('sha256', secret).update(payload).digest('hex');

  it('rejects a webhookTimestamp older than 60 seconds even with a valid signature, and changes nothing', async () => {
    const { destination, issueId, defectId: id } = await linearWithTicket();
    const payload = body(issueId, Date.now() - 70_000);
    const response = await app.request(`/api/v1/integrations/${destination.id}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'linear-signature': sign(payload) }, body: payload });
    expect(response.status).toBe(401);
    expect((await app.database.db.selectFrom('defects').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('new');
  });

  it('rejects a wrong Linear-Signature with 401', async () => {
    const { destination, issueId } = await linearWithTicket();
    const payload = body(issueId, Date.now());
    const response = await app.request(`/api/v1/integrations/${destination.id}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'linear-signature': sign(payload.replace('Done', 'Dune')) },
      body: payload,
    });
    expect(response.status).toBe(401);
  });

  it('resolves the defect when the issue moves to a completed state', async () => {
    const { destination, issueId, defectId: id } = await linearWithTicket();
    const payload = body(issueId, Date.now());
    const response = await app.request(`/api/v1/integrations/${destination.id}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'linear-signature': sign(payload), 'linear-delivery': crypto.randomUUID() },
      body: payload,
    });
    expect(await response.json()).toEqual({ status: 'applied' });
    expect((await app.database.db.selectFrom('defects').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('resolved');
  });
});

describe('reporter status for the widget', () => {
  const token = 'reporter-token-0123456789abcdef';
  let publicKey: string;
  beforeAll(async () => {
    const project = await app.database.db.selectFrom('projects').select('publicKey').where('id', '=', projectId).executeTakeFirstOrThrow();
    publicKey = project.publicKey;
  });

  it("answers only this reporter's reports, with status and fixed-in release, to an allowed origin", async () => {
    const mine = await seedDefect(app.database.db, { projectId, report: { description: 'Mine: the cart empties itself', reporterToken: token } });
    await seedDefect(app.database.db, { projectId, report: { description: 'Someone else', reporterToken: 'another-token-0123456789abcdef' } });
    await app.database.db.insertInto('releases').values({ projectId, version: '2.0.1' }).execute();
    const release = await app.database.db.selectFrom('releases').select('id').where('projectId', '=', projectId).where('version', '=', '2.0.1').executeTakeFirstOrThrow();
    await app.database.db.updateTable('defects').set({ status: 'resolved', fixedInReleaseId: release.id }).where('id', '=', mine.defectId).execute();
    await addReport(app.database.db, projectId, mine.defectId, { description: 'Mine again, later', reporterToken: token });
    const response = await app.request(`/api/v1/reporter/reports?key=${publicKey}`, { headers: { 'x-bugloop-reporter-token': token, origin: 'https://shop.example.com' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://shop.example.com');
    const { reports } = await response.json();
    expect(reports).toHaveLength(2);
    expect(reports.map((report: { title: string }) => report.title).sort()).toEqual(['Mine again, later', 'Mine: the cart empties itself']);
    expect(reports[0]).toMatchObject({ status: 'fixed', fixedIn: '2.0.1' });
    expect(reports[0].reference).toMatch(/^R-[0-9A-F]{8}$/);
    expect(JSON.stringify(reports)).not.toContain('reporter@example.com');
  });

  it('refuses an origin the project does not allow', async () => {
    const response = await app.request(`/api/v1/reporter/reports?key=${publicKey}`, { headers: { 'x-bugloop-reporter-token': token, origin: 'https://evil.example' } });
    expect(response.status).toBe(403);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers a preflight for allowed origins with the reporter-token header allowed', async () => {
    const response = await app.request(`/api/v1/reporter/reports?key=${publicKey}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-bugloop-reporter-token' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-headers')).toContain('X-Bugloop-Reporter-Token');
  });

  it('needs a well-formed reporter token', async () => {
    const response = await app.request(`/api/v1/reporter/reports?key=${publicKey}`, { headers: { 'x-bugloop-reporter-token': 'short' } });
    expect(response.status).toBe(401);
  });

  it('needs a known project key', async () => {
    const response = await app.request('/api/v1/reporter/reports?key=pk_unknown', { headers: { 'x-bugloop-reporter-token': token } });
    expect(response.status).toBe(401);
    expect((await response.json()).error.code).toBe('invalid_project_key');
  });
});

describe('destination kinds', () => {
  it('lists every registered kind with the JSON schema of its config and its secret names', async () => {
    const { kinds } = await (await app.request('/api/v1/integrations/kinds')).json();
    expect(kinds.map((kind: { kind: string }) => kind.kind)).toEqual(['jira', 'linear', 'slack', 'webhook', 'email']);
    const jira = kinds[0];
    expect(jira).toMatchObject({ role: 'tracker', secrets: ['apiToken', 'accessToken', 'webhookSecret'] });
    expect(jira.configSchema.properties.projectKey.pattern).toBe('^[A-Z][A-Z0-9_]{0,19}$');
  });
});

describe('OpenAPI description', () => {
  it('describes every integrations route with request bodies from the validating schemas', async () => {
    const document = await (await app.request('/api/v1/integrations/openapi.json')).json();
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/projects/{projectId}/destinations',
        '/api/v1/projects/{projectId}/destinations/{destinationId}',
        '/api/v1/projects/{projectId}/routing-rules',
        '/api/v1/projects/{projectId}/routing-rules/{ruleId}',
        '/api/v1/projects/{projectId}/dead-letters',
        '/api/v1/projects/{projectId}/dead-letters/{jobId}/retry',
        '/api/v1/integrations/{destinationId}/webhook',
        '/api/v1/reporter/reports',
      ]),
    );
    const createDestination = document.paths['/api/v1/projects/{projectId}/destinations'].post;
    expect(createDestination.requestBody.content['application/json'].schema.required).toEqual(expect.arrayContaining(['kind', 'name']));
    const createRule = document.paths['/api/v1/projects/{projectId}/routing-rules'].post.requestBody.content['application/json'].schema;
    expect(createRule.properties.triggers.items.enum).toEqual(['defect_created', 'threshold_crossed', 'reopened', 'manual']);
  });
});
