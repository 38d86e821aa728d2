import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { classifyRemoteFailure, parseRetryAfter, type TicketContent } from '../../server/destinations/destination';
import { verifyJiraSignature } from '../../server/destinations/jira';
import { linearIssueId, verifyLinearSignature } from '../../server/destinations/linear';
import { buildSlackMessage, escapeSlackText, fencedBlock, renderAdf, renderMarkdown } from '../../server/destinations/ticket-format';
import { SecretBox } from '../../server/integrations/secret-box';
import { mapRemoteState } from '../../server/integrations/status-sync';
import { PermanentJobError, RetryLaterError } from '../../server/outbox/job-queue';
import { conditionsMatch, type RoutingFacts } from '../../server/routing/routing-rules';
import { validateAdf } from '../contract/fakes/adf-validator';

const content: TicketContent = {
  defectId: '5f0c7f7e-1111-4222-8333-444455556666',
  projectId: 'p',
  defectKey: 'WEB-42',
  marker: 'bugloop-5f0c7f7e-1111-4222-8333-444455556666',
  title: 'Cart total is wrong',
  summary: '',
  status: 'new',
  severity: 'major',
  priority: null,
  component: null,
  origin: 'field',
  quotes: [{ text: 'line one\n\nline three', receivedAt: new Date(0), release: null }],
  steps: '',
  expected: null,
  actual: 'it shows 0',
  environment: [{ label: 'Browsers', value: 'Firefox 130\nSafari 17' }],
  consoleErrors: [''],
  failedRequests: [],
  reportCount: 1,
  affectedUsers: 1,
  foundIn: null,
  fixedIn: null,
  defectUrl: 'https://bugloop.test/projects/p/defects/d',
  testCases: [{ key: 'TC-1', title: 'Checkout total', url: 'https://bugloop.test/t/1' }],
  hasScreenshot: false,
};

describe('ADF rendering', () => {
  it('produces a valid document even from empty and multi-line text', () => {
    expect(validateAdf(renderAdf(content))).toEqual([]);
  });

  it('never writes an empty text node', () => {
    expect(JSON.stringify(renderAdf(content))).not.toContain('"text":""');
  });

  it('the validator catches what Jira would refuse', () => {
    expect(validateAdf({ type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: '' }] }] })).toEqual(['$.content[0].content[0].text: must be a non-empty string']);
    expect(validateAdf({ type: 'doc', version: 1, content: [{ type: 'text', text: 'loose' }] })).toHaveLength(1);
    expect(validateAdf({ type: 'doc', version: 1, content: [{ type: 'heading', content: [] }] })).toEqual(['$.content[0].attrs.level: must be 1–6']);
  });
});

describe('Markdown rendering', () => {
  it('fences code with more backticks than the text contains', () => {
    expect(fencedBlock('a ``` b', 'text')).toBe('````text\na ``` b\n````');
  });

  it('escapes link and image syntax in reporters\' words', () => {
    const markdown = renderMarkdown({ ...content, quotes: [{ text: '![x](https://evil.example/pixel) [click](https://evil.example)', receivedAt: new Date(0), release: null }] });
    expect(markdown).toContain('> \\!\\[x\\]\\(https://evil.example/pixel\\) \\[click\\]\\(https://evil.example\\)');
  });
});

describe('Slack escaping', () => {
  it('turns special mentions and links into plain text', () => {
    expect(escapeSlackText('<!channel> <!here|here> <@U123> <https://evil|safe> a & b')).toBe('&lt;!channel&gt; &lt;!here|here&gt; &lt;@U123&gt; &lt;https://evil|safe&gt; a &amp; b');
  });

  it('defuses bare @channel, @here and @everyone', () => {
    expect(escapeSlackText('@channel @Here @everyone')).toBe('@\u200bchannel @\u200bHere @\u200beveryone');
  });

  it('keeps our own links as links', () => {
    const message = buildSlackMessage(content, 'defect_created', [{ kind: 'jira', key: 'WEB-1', url: 'https://acme.atlassian.net/browse/WEB-1', externalId: '1' }]);
    expect(JSON.stringify(message.blocks)).toContain('<https://acme.atlassian.net/browse/WEB-1|jira WEB-1>');
  });
});

describe('routing conditions', () => {
  const facts: RoutingFacts = { component: 'Checkout', severity: 'critical', origin: 'field', release: '1.4.2', reportCount: 3, title: 'Pay button dead', description: 'Nothing happens on pay' };

  it('match when every present condition holds', () => {
    expect(conditionsMatch({ components: ['checkout'], severities: ['critical', 'blocker'], origins: ['field'], releases: ['1.4.2'], minReports: 3, text: 'PAY nothing' }, facts)).toBe(true);
  });

  it('match anything when empty', () => {
    expect(conditionsMatch({}, facts)).toBe(true);
  });

  it.each([
    [{ components: ['search'] }],
    [{ severities: ['minor' as const] }],
    [{ origins: ['ci' as const] }],
    [{ releases: ['1.4.1'] }],
    [{ minReports: 4 }],
    [{ text: 'refund' }],
  ])('fail when one condition does not hold: %j', (conditions) => {
    expect(conditionsMatch(conditions, facts)).toBe(false);
  });

  it('need a value to be present for a component or severity condition', () => {
    expect(conditionsMatch({ severities: ['critical'] }, { ...facts, severity: null })).toBe(false);
  });
});

describe('remote state mapping', () => {
  it('maps done categories to resolved and canceled to won\'t fix', () => {
    expect(mapRemoteState({ name: 'Done', category: 'done' }, {}, 'in_progress')).toBe('resolved');
    expect(mapRemoteState({ name: 'Canceled', category: 'canceled' }, {}, 'new')).toBe('wont_fix');
  });

  it('reads an open state after done as a reopen', () => {
    expect(mapRemoteState({ name: 'Todo', category: 'unstarted' }, {}, 'resolved')).toBe('reopened');
    expect(mapRemoteState({ name: 'Todo', category: 'unstarted' }, {}, 'new')).toBeNull();
  });

  it('prefers a configured mapping by name, then by category', () => {
    expect(mapRemoteState({ name: 'Ready for QA', category: 'indeterminate' }, { 'Ready for QA': 'resolved' }, 'new')).toBe('resolved');
    expect(mapRemoteState({ name: 'Anything', category: 'indeterminate' }, { indeterminate: 'triaged' }, 'new')).toBe('triaged');
  });

  it('keeps a verified defect verified when the tracker says done again', () => {
    expect(mapRemoteState({ name: 'Done', category: 'done' }, {}, 'verified')).toBeNull();
  });
});

describe('remote failures', () => {
  it('turn a 429 into a retry after Retry-After', () => {
    const error = classifyRemoteFailure(new Error('x'), { status: 429, retryAfterSeconds: 42 }, 'Jira');
    expect(error).toBeInstanceOf(RetryLaterError);
    expect((error as RetryLaterError).delayMs).toBe(42_000);
  });

  it('turn other 4xx into permanent failures, but not 408 or 409', () => {
    expect(classifyRemoteFailure(new Error('x'), { status: 401 }, 'Jira')).toBeInstanceOf(PermanentJobError);
    expect(classifyRemoteFailure(new Error('x'), { status: 408 }, 'Jira')).not.toBeInstanceOf(PermanentJobError);
    expect(classifyRemoteFailure(new Error('x'), { status: 503 }, 'Jira')).not.toBeInstanceOf(PermanentJobError);
  });

  it('read Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('120')).toBe(120);
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 1)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(60);
    expect(parseRetryAfter('soon')).toBeNull();
  });
});

describe('signatures', () => {
  const body = Buffer.from('{"a":1}');
  it('accept the Jira X-Hub-Signature of the raw body only', () => {
    const signature = `sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}`;
    expect(verifyJiraSignature(body, signature, 's3cret')).toBe(true);
    expect(verifyJiraSignature(Buffer.from('{"a": 1}'), signature, 's3cret')).toBe(false);
    expect(verifyJiraSignature(body, undefined, 's3cret')).toBe(false);
  });

  it('accept the Linear-Signature of the raw body only', () => {
    const signature = createHmac('sha256', 's3cret').update(body).digest('hex');
    expect(verifyLinearSignature(body, signature, 's3cret')).toBe(true);
    expect(verifyLinearSignature(body, signature, 'other')).toBe(false);
  });
});

describe('Linear issue ids', () => {
  it('are stable per destination and defect, and valid UUID v4', () => {
    const id = linearIssueId('d1', 'x');
    expect(id).toBe(linearIssueId('d1', 'x'));
    expect(id).not.toBe(linearIssueId('d2', 'x'));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('secret box', () => {
  const box = new SecretBox('a-secret-key-that-is-long-enough-000');
  it('round-trips', () => {
    expect(box.open(box.seal({ token: 't' }, 'owner'), 'owner')).toEqual({ token: 't' });
  });

  it('refuses a tampered ciphertext', () => {
    const sealed = box.seal({ token: 't' }, 'owner');
    const parts = sealed.split('.');
    const flipped = Buffer.from(parts[3], 'base64url');
    flipped[0] ^= 1;
    expect(() => box.open([parts[0], parts[1], parts[2], flipped.toString('base64url')].join('.'), 'owner')).toThrow();
  });

  it('uses a fresh IV each time', () => {
    expect(box.seal({ token: 't' }, 'o')).not.toBe(box.seal({ token: 't' }, 'o'));
  });
});
