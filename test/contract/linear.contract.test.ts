import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import type { DestinationRow } from '../../server/db/schema';
import { linearCommentId, linearDestination, linearIssueId } from '../../server/destinations/linear';
import { settingsOf } from '../../server/destinations/destination-repository';
import { enqueueDelivery } from '../../server/integrations/delivery-queue';
import { createTestDatabase } from '../support/test-database';
import { addDestination, integrationWorker, makeJobsDue, secretBox, seedDefect, testDeliveryContext, testPublicUrl } from '../support/integrations';
import { createFakeLinear } from './fakes/fake-linear';
import { jsonOf } from './fakes/fake-server';

let database: DatabaseHandle;
let linear: ReturnType<typeof createFakeLinear>;
const account = { apiKey: 'lin_api_testkey', teamId: 'team-1', teamKey: 'ENG' };

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());
beforeEach(async () => {
  linear = createFakeLinear(account);
  await linear.server.start();
  return () => linear.server.close();
});

async function setup() {
  const seeded = await seedDefect(database.db);
  const destination = await addDestination(database.db, seeded.projectId, {
    kind: 'linear',
    name: 'Linear ENG',
    config: { teamId: account.teamId, teamKey: 'ENG', apiUrl: `${linear.server.url}/graphql`, labelIds: ['label-bug'] },
    secrets: { apiKey: account.apiKey },
    timeoutMs: 500,
    maxAttempts: 4,
  });
  return { ...seeded, destination };
}

async function deliver(destination: DestinationRow, defectId: string) {
  await database.db.transaction().execute((trx) => enqueueDelivery(trx, destination, defectId, 'defect_created', ''));
  return integrationWorker(database.db).drain();
}

const graphqlCalls = () => linear.server.calls('POST', /^\/graphql$/).map((request) => jsonOf(request) as { query: string; variables: Record<string, any> });

describe('Linear through @linear/sdk', () => {
  it('creates the issue with a client-chosen id, team, labels, priority and a Markdown description', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    const create = graphqlCalls().find((call) => /issueCreate\(/.test(call.query))!;
    expect(create.variables.input).toMatchObject({ id: linearIssueId(destination.id, defectId), teamId: 'team-1', labelIds: ['label-bug'], priority: 2, title: 'Checkout button does nothing' });
    const description: string = create.variables.input.description;
    expect(description).toContain('## Steps to reproduce');
    expect(description).toContain('| Browsers | Chrome 126 |');
    expect(description).toMatch(/```text\nTypeError: Cannot read properties of undefined \(reading 'total'\)/);
    expect(description).toContain(`[Open in Bugloop](${testPublicUrl}/p/`);
    expect(linear.server.calls('POST', /^\/graphql$/)[0].headers.authorization).toBe(account.apiKey);
  });

  it('escapes reporters\' words so they cannot become links or headings in Markdown', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    const description = linear.issues[0].description;
    expect(description).toContain('> I click Pay now and nothing happens \\<\\!here\\> @channel \\<https://evil.example\\|bank login\\>');
  });

  it('uploads the screenshot with fileUpload and a PUT carrying the signed headers, bytes intact, then attaches it', async () => {
    const { destination, defectId, screenshot } = await setup();
    await deliver(destination, defectId);
    const [upload] = [...linear.uploads.values()];
    expect(upload.data?.equals(screenshot)).toBe(true);
    const put = linear.server.calls('PUT', /^\/uploads\//)[0];
    expect(put.headers['cache-control']).toBe('public, max-age=31536000');
    expect(linear.issues[0].attachments.map((attachment) => attachment.title)).toContain('Screenshot');
  });

  it('links the issue back to the Bugloop defect once, whatever the retries', async () => {
    const { destination, defectId, projectId } = await setup();
    await deliver(destination, defectId);
    const links = linear.issues[0].attachments.filter((attachment) => attachment.url.startsWith(testPublicUrl));
    expect(links).toEqual([expect.objectContaining({ url: `${testPublicUrl}/p/${projectId}/defects/${defectId}` })]);
  });

  it('after a create that timed out on our side but succeeded in Linear, finds it by id: exactly one issue', async () => {
    const { destination, defectId } = await setup();
    linear.server.inject('POST', /^\/graphql$/, { kind: 'slow-after-success', delayMs: 1500 }, 1, (request) => request.body.includes('issueCreate('));
    await deliver(destination, defectId);
    expect(graphqlCalls().filter((call) => /issueCreate\(/.test(call.query))).toHaveLength(1);
    expect(linear.issues).toHaveLength(1);
    const ticket = await database.db.selectFrom('externalTickets').selectAll().where('defectId', '=', defectId).executeTakeFirstOrThrow();
    expect(ticket).toMatchObject({ externalKey: 'ENG-1', externalId: linearIssueId(destination.id, defectId) });
  });

  it('waits for Retry-After when Linear rate-limits', async () => {
    const { destination, defectId } = await setup();
    linear.server.inject('POST', /^\/graphql$/, { kind: 'status', status: 429, headers: { 'Retry-After': '90' }, body: { errors: [{ message: 'Rate limit exceeded', extensions: { type: 'ratelimited' } }] } });
    const before = Date.now();
    await deliver(destination, defectId);
    const job = await database.db.selectFrom('jobs').selectAll().where('idempotencyKey', '=', `ticket:${destination.id}:${defectId}`).executeTakeFirstOrThrow();
    expect(job.state).toBe('pending');
    expect(job.runAt.getTime()).toBeGreaterThanOrEqual(before + 89_000);
    await makeJobsDue(database.db);
    await integrationWorker(database.db).drain();
    expect(linear.issues).toHaveLength(1);
  });

  it('treats a rejected API key as permanent', async () => {
    const { destination, defectId } = await setup();
    const broken = await addDestination(database.db, destination.projectId, {
      kind: 'linear',
      name: 'Linear wrong key',
      config: { teamId: account.teamId, apiUrl: `${linear.server.url}/graphql` },
      secrets: { apiKey: 'lin_api_wrong' },
    });
    await deliver(broken, defectId);
    const job = await database.db.selectFrom('jobs').selectAll().where('idempotencyKey', '=', `ticket:${broken.id}:${defectId}`).executeTakeFirstOrThrow();
    expect(job).toMatchObject({ state: 'dead', attempts: 1 });
  });

  it('attaches the screenshot once when attachmentCreate timed out after Linear stored it (a new fileUpload would get a new URL)', async () => {
    const { destination, defectId } = await setup();
    linear.server.inject('POST', /^\/graphql$/, { kind: 'slow-after-success', delayMs: 1500 }, 1, (request) => request.body.includes('attachmentCreate('));
    await deliver(destination, defectId);
    const screenshots = linear.issues[0].attachments.filter((attachment) => attachment.title === 'Screenshot');
    expect(screenshots).toHaveLength(1);
    expect(screenshots[0].metadata).toMatchObject({ bugloopSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(graphqlCalls().filter((call) => /fileUpload\(/.test(call.query))).toHaveLength(1);
    expect(graphqlCalls().filter((call) => /attachment\(id:/.test(call.query))).toHaveLength(1);
  });

  it('links back once when attachmentLinkURL timed out after success (same URL on the same issue updates)', async () => {
    const { destination, defectId } = await setup();
    linear.server.inject('POST', /^\/graphql$/, { kind: 'slow-after-success', delayMs: 1500 }, 1, (request) => request.body.includes('attachmentLinkURL('));
    await deliver(destination, defectId);
    expect(graphqlCalls().filter((call) => /attachmentLinkURL\(/.test(call.query))).toHaveLength(2);
    expect(linear.issues[0].attachments.filter((attachment) => attachment.url.startsWith(testPublicUrl))).toHaveLength(1);
  });

  it('comments once when commentCreate timed out after success: the comment id is chosen by Bugloop', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    const ticket = await database.db.selectFrom('externalTickets').selectAll().where('defectId', '=', defectId).executeTakeFirstOrThrow();
    linear.server.inject('POST', /^\/graphql$/, { kind: 'slow-after-success', delayMs: 1500 }, 1, (request) => request.body.includes('commentCreate('));
    const context = testDeliveryContext({ timeoutMs: 500 });
    const { settings } = settingsOf(secretBox, destination);
    const reference = { externalId: ticket.externalId!, key: ticket.externalKey!, url: ticket.url ?? '' };
    await expect(linearDestination.addComment!(settings as never, reference, '2 new reports since it was resolved', context)).rejects.toThrow();
    await linearDestination.addComment!(settings as never, reference, '2 new reports since it was resolved', { ...context, attempt: 2 });
    expect(linear.issues[0].comments).toEqual([expect.objectContaining({ id: linearCommentId(context.deliveryId) })]);
  });
});
