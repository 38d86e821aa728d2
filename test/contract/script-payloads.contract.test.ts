import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { enqueueDelivery } from '../../server/integrations/delivery-queue';
import { createTestDatabase } from '../support/test-database';
import { addDestination, integrationWorker, seedDefect } from '../support/integrations';
import { validateAdf } from './fakes/adf-validator';
import { createFakeJira } from './fakes/fake-jira';
import { createFakeSlack } from './fakes/fake-slack';

/**
 * Script payloads in every field a reporter controls travel to Slack and Jira as inert text:
 * Slack mrkdwn with `& < >` escaped (so no `<javascript:…|link>` or `<!here>` can form), and
 * Jira ADF where user text only ever sits in `text` nodes, never in a link mark or an attribute.
 */
const payloads = [
  '<script>window.__xss=1</script>',
  '<img src=x onerror="window.__xss=1">',
  '<svg onload="window.__xss=1"></svg>',
  'javascript:window.__xss=1',
  '<https://evil.example|javascript:alert(1)>',
  '<!here> <!channel> @everyone',
];
const hostile = payloads.join(' ');

let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

async function seedHostileDefect() {
  return seedDefect(database.db, {
    title: `Checkout ${payloads[0]}`,
    component: `cart ${payloads[1]}`,
    report: {
      description: `Broken ${hostile}`,
      steps: `1. ${payloads[2]}\n2. ${payloads[3]}`,
      expected: payloads[4],
      url: `https://shop.example.com/${encodeURIComponent(payloads[0])}`,
      release: `1.0 ${payloads[1]}`.slice(0, 100),
      console: [{ level: 'error', message: `TypeError ${payloads[1]}`, stack: payloads[0], time: 1 }],
      network: [{ method: 'POST', url: `https://shop.example.com/api?x=${payloads[3]}`, status: 500, durationMs: 1, time: 2 }],
    },
  });
}

/** Every string value in a JSON value, with the key that holds it. */
function strings(value: unknown, key = ''): { key: string; text: string }[] {
  if (typeof value === 'string') return [{ key, text: value }];
  if (Array.isArray(value)) return value.flatMap((item) => strings(item, key));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([name, child]) => strings(child, name));
  return [];
}

/** The text of every mrkdwn text object in Slack blocks. */
function mrkdwnTexts(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(mrkdwnTexts);
  if (!value || typeof value !== 'object') return [];
  const node = value as { type?: string; text?: unknown };
  const own = node.type === 'mrkdwn' && typeof node.text === 'string' ? [node.text] : [];
  return [...own, ...Object.values(value).flatMap(mrkdwnTexts)];
}

describe('script payloads stay inert', () => {
  it('in Slack: every piece of user text is escaped mrkdwn; the only links are Bugloop’s own', async () => {
    const slack = createFakeSlack({ botToken: 'xoxb-test-token' });
    await slack.server.start();
    try {
      const { projectId, defectId } = await seedHostileDefect();
      const destination = await addDestination(database.db, projectId, { kind: 'slack', name: '#bugs', config: { channel: 'C0123BUGS', apiUrl: `${slack.server.url}/api/`, uploadScreenshot: false }, secrets: { botToken: 'xoxb-test-token' } });
      await database.db.transaction().execute((trx) => enqueueDelivery(trx, destination, defectId, 'manual', ''));
      await integrationWorker(database.db).drain();
      expect(slack.messages).toHaveLength(1);
      // plain_text objects are shown literally by Slack; mrkdwn is where markup could form.
      const all = mrkdwnTexts(slack.messages[0].blocks).join('\n');
      expect(all).toContain('&lt;');
      expect(all).not.toContain('<script');
      const match = /<img|<svg|<!here>|<!channel>/.exec(all);
      expect(match ? all.slice(Math.max(0, match.index - 80), match.index + 80) : null).toBeNull();
      // Angle-bracket links are Slack's link syntax: only ones Bugloop built, to its own pages.
      for (const link of all.matchAll(/<([^>]*)>/g)) expect(link[1], link[0]).toMatch(/^https:\/\/bugloop\.test\//);
      expect(all).not.toMatch(/<javascript:/i);
    } finally {
      await slack.server.close();
    }
  });

  it('in Jira: a valid ADF document with user text in text nodes only, no user-made link marks', async () => {
    const jira = createFakeJira({ email: 'bot@example.com', apiToken: 'jira-api-token-123', projectKey: 'WEB' });
    await jira.server.start();
    try {
      const { projectId, defectId } = await seedHostileDefect();
      const destination = await addDestination(database.db, projectId, { kind: 'jira', name: 'Jira', config: { baseUrl: jira.server.url, projectKey: 'WEB', email: 'bot@example.com' }, secrets: { apiToken: 'jira-api-token-123' } });
      await database.db.transaction().execute((trx) => enqueueDelivery(trx, destination, defectId, 'manual', ''));
      await integrationWorker(database.db).drain();
      const [issue] = jira.issues;
      expect(issue).toBeDefined();
      expect(validateAdf(issue.fields.description)).toEqual([]);
      const found = strings(issue.fields.description);
      // The payloads arrived, literally, as text.
      expect(found.some((entry) => entry.key === 'text' && entry.text.includes('<script>window.__xss=1</script>'))).toBe(true);
      // Anything holding a payload is a text node's text, nothing else (no href, no attrs, no type).
      for (const entry of found.filter((candidate) => /<script|onerror|onload|javascript:/i.test(candidate.text))) expect(entry.key, entry.text).toBe('text');
      // Link marks point only at Bugloop.
      const links = JSON.stringify(issue.fields.description).match(/"href":"[^"]*"/g) ?? [];
      for (const href of links) expect(href).toMatch(/"href":"https:\/\/bugloop\.test\//);
      expect(issue.fields.summary).toBe(`Checkout ${payloads[0]}`);
    } finally {
      await jira.server.close();
    }
  });
});
