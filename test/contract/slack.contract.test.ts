import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import type { DestinationRow } from '../../server/db/schema';
import { enqueueDelivery } from '../../server/integrations/delivery-queue';
import { createTestDatabase } from '../support/test-database';
import { addDestination, integrationWorker, makeJobsDue, seedDefect } from '../support/integrations';
import { createFakeSlack } from './fakes/fake-slack';
import { createLogger, type Logger } from '../../server/logger';

let database: DatabaseHandle;
let slack: ReturnType<typeof createFakeSlack>;
const botToken = 'xoxb-test-token';

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());
beforeEach(async () => {
  slack = createFakeSlack({ botToken });
  await slack.server.start();
  return () => slack.server.close();
});

async function setup() {
  const seeded = await seedDefect(database.db);
  const destination = await addDestination(database.db, seeded.projectId, {
    kind: 'slack',
    name: '#bugs',
    config: { channel: 'C0123BUGS', apiUrl: `${slack.server.url}/api/` },
    secrets: { botToken },
    timeoutMs: 1000,
  });
  return { ...seeded, destination };
}

async function deliver(destination: DestinationRow, defectId: string, trigger: 'defect_created' | 'manual' = 'defect_created', logger?: Logger) {
  await database.db.transaction().execute((trx) => enqueueDelivery(trx, destination, defectId, trigger, ''));
  return integrationWorker(database.db, undefined, logger).drain();
}

function allText(blocks: Record<string, any>[]): string {
  return JSON.stringify(blocks);
}

describe('Slack through @slack/web-api', () => {
  it('posts a message with a header, severity, report count, one quote and links to the defect', async () => {
    const { destination, defectId, defectKey, projectId } = await setup();
    await deliver(destination, defectId);
    expect(slack.messages).toHaveLength(1);
    const [message] = slack.messages;
    expect(message.channel).toBe('C0123BUGS');
    expect(message.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: `${defectKey}: Checkout button does nothing`, emoji: false } });
    const fields = message.blocks[1].fields.map((field: { text: string }) => field.text);
    expect(fields).toEqual(expect.arrayContaining(['*Severity:* critical', '*Reports:* 1 (1 users)']));
    expect(allText(message.blocks)).toContain(`<https://bugloop.test/p/${projectId}/defects/${defectId}|Open ${defectKey} in Bugloop>`);
    expect(message.unfurlLinks).toBe('false');
  });

  it('escapes user text: no <!here>, no @channel ping, no disguised link', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    const quote = slack.messages[0].blocks.find((block) => block.type === 'section' && block.text)!.text.text as string;
    expect(quote).toBe('>I click Pay now and nothing happens &lt;!here&gt; @\u200bchannel &lt;https://evil.example|bank login&gt;');
    expect(allText(slack.messages[0].blocks)).not.toContain('<!here>');
    expect(allText(slack.messages[0].blocks)).not.toContain('<https://evil.example');
  });

  it('uploads the screenshot through files.uploadV2 into the message thread, bytes intact', async () => {
    const { destination, defectId, screenshot } = await setup();
    await deliver(destination, defectId);
    const order = slack.server.requests.map((request) => request.path);
    expect(order).toEqual(['/api/chat.postMessage', '/api/files.getUploadURLExternal', expect.stringMatching(/^\/upload\/F/), '/api/files.completeUploadExternal']);
    const [file] = [...slack.files.values()];
    expect(file.data?.equals(screenshot)).toBe(true);
    expect(file.completed).toMatchObject({ channel: 'C0123BUGS', threadTs: slack.messages[0].ts });
  });

  it('sends the same trigger once however often it is enqueued, but every manual "send to" again', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    await deliver(destination, defectId);
    expect(slack.messages).toHaveLength(1);
    await deliver(destination, defectId, 'manual');
    expect(slack.messages).toHaveLength(2);
  });

  it('honours Retry-After when Slack answers 429', async () => {
    const { destination, defectId } = await setup();
    slack.server.inject('POST', /^\/api\/chat\.postMessage$/, { kind: 'status', status: 429, headers: { 'Retry-After': '30' }, body: { ok: false, error: 'ratelimited' } });
    const before = Date.now();
    await deliver(destination, defectId);
    const job = await database.db.selectFrom('jobs').selectAll().where('kind', '=', 'integration.notify').where(sql<boolean>`payload @> ${JSON.stringify({ defectId })}::jsonb`).executeTakeFirstOrThrow();
    expect(job.state).toBe('pending');
    expect(job.runAt.getTime()).toBeGreaterThanOrEqual(before + 29_000);
    expect(slack.messages).toHaveLength(0);
    await makeJobsDue(database.db);
    await integrationWorker(database.db).drain();
    expect(slack.messages).toHaveLength(1);
  });

  it('gives up at once when the token is rejected (invalid_auth)', async () => {
    const { defectId, projectId } = await setup();
    const wrong = await addDestination(database.db, projectId, { kind: 'slack', name: 'wrong', config: { channel: 'C0123BUGS', apiUrl: `${slack.server.url}/api/` }, secrets: { botToken: 'xoxb-wrong' } });
    await deliver(wrong, defectId);
    const job = await database.db.selectFrom('jobs').selectAll().where(sql<boolean>`payload @> ${JSON.stringify({ destinationId: wrong.id })}::jsonb`).executeTakeFirstOrThrow();
    expect(job).toMatchObject({ state: 'dead', attempts: 1 });
    expect(job.lastError).toContain('invalid_auth');
  });

  it('posts once when chat.postMessage timed out after Slack stored it: the retry finds it by its metadata', async () => {
    const { destination, defectId, screenshot } = await setup();
    slack.server.inject('POST', /^\/api\/chat\.postMessage$/, { kind: 'slow-after-success', delayMs: 1500 });
    await deliver(destination, defectId);
    expect(slack.server.calls('POST', /^\/api\/chat\.postMessage$/)).toHaveLength(1);
    expect(slack.messages).toHaveLength(1);
    expect(slack.messages[0].metadata).toMatchObject({ event_type: 'bugloop_delivery', event_payload: { delivery_id: expect.stringMatching(/^bugloop-/) } });
    const history = slack.server.calls('POST', /^\/api\/conversations\.history$/);
    expect(history).toHaveLength(1);
    expect(new URLSearchParams(history[0].body.toString()).get('include_all_metadata')).toBe('true');
    // The first attempt never reached the upload; the retry puts the screenshot in the thread, once.
    expect(slack.fileShares).toEqual([expect.objectContaining({ threadTs: slack.messages[0].ts, name: 'screenshot.png' })]);
    expect([...slack.files.values()].find((file) => file.completed)?.data?.equals(screenshot)).toBe(true);
    const job = await database.db.selectFrom('jobs').selectAll().where('kind', '=', 'integration.notify').where(sql<boolean>`payload @> ${JSON.stringify({ defectId })}::jsonb`).executeTakeFirstOrThrow();
    expect(job).toMatchObject({ state: 'done', attempts: 2, totalAttempts: 2 });
  });

  it('without the history scope, a retry posts anyway and logs which scope to add (late, never lost)', async () => {
    const { destination, defectId } = await setup();
    slack.server.inject('POST', /^\/api\/chat\.postMessage$/, { kind: 'slow-after-success', delayMs: 1500 });
    slack.server.inject('POST', /^\/api\/conversations\.history$/, { kind: 'status', status: 200, body: { ok: false, error: 'missing_scope', needed: 'channels:history', provided: 'chat:write,files:write' } });
    const logLines: string[] = [];
    const logger = createLogger('warn', { write: (line: string) => void logLines.push(line) });
    await deliver(destination, defectId, 'defect_created', logger);
    expect(slack.server.calls('POST', /^\/api\/conversations\.history$/)).toHaveLength(1);
    // The first post arrived but its answer did not; without the history the retry cannot know.
    expect(slack.messages).toHaveLength(2);
    const job = await database.db.selectFrom('jobs').selectAll().where('kind', '=', 'integration.notify').where(sql<boolean>`payload @> ${JSON.stringify({ defectId })}::jsonb`).executeTakeFirstOrThrow();
    expect(job).toMatchObject({ state: 'done', attempts: 2 });
    const warning = logLines.map((line) => JSON.parse(line)).find((entry) => String(entry.msg).includes('history scope'));
    expect(warning).toMatchObject({ needed: 'channels:history', destinationKind: 'slack', destinationId: destination.id });
  });

  it('uploads the screenshot once when the upload timed out after Slack shared it', async () => {
    const { destination, defectId } = await setup();
    slack.server.inject('POST', /^\/api\/files\.completeUploadExternal$/, { kind: 'slow-after-success', delayMs: 1500 });
    await deliver(destination, defectId);
    expect(slack.messages).toHaveLength(1);
    expect(slack.fileShares).toHaveLength(1);
  });

  it('a dead letter retried after a post that timed out after success does not post again', async () => {
    const { destination, defectId } = await setup();
    await database.db.updateTable('destinations').set({ maxAttempts: 1 }).where('id', '=', destination.id).execute();
    slack.server.inject('POST', /^\/api\/chat\.postMessage$/, { kind: 'slow-after-success', delayMs: 1500 });
    await deliver({ ...destination, maxAttempts: 1 }, defectId);
    const dead = await database.db.selectFrom('jobs').selectAll().where('kind', '=', 'integration.notify').where(sql<boolean>`payload @> ${JSON.stringify({ defectId })}::jsonb`).executeTakeFirstOrThrow();
    expect(dead).toMatchObject({ state: 'dead', attempts: 1 });
    expect(slack.messages).toHaveLength(1);
    // What the dead-letter retry button does: pending again with a fresh set of attempts.
    await database.db.updateTable('jobs').set({ state: 'pending', attempts: 0, runAt: new Date(), finishedAt: null }).where('id', '=', dead.id).execute();
    await integrationWorker(database.db).drain();
    expect(slack.messages).toHaveLength(1);
    expect(await database.db.selectFrom('jobs').select(['state', 'attempts', 'totalAttempts']).where('id', '=', dead.id).executeTakeFirstOrThrow()).toEqual({ state: 'done', attempts: 1, totalAttempts: 2 });
  });

  it('never looks in the history on a first attempt (conversations.history is rate-limited to 1 a minute for most apps)', async () => {
    const { destination, defectId } = await setup();
    await deliver(destination, defectId);
    expect(slack.server.calls('POST', /^\/api\/conversations\./)).toEqual([]);
  });
});
