import type { TicketContent, TicketReference } from './destination';

/**
 * Pure renderers of a defect into each tracker's format: ADF for Jira, Markdown for Linear,
 * Slack blocks with escaped mrkdwn. No I/O, so they are unit-tested and benchmarked alone.
 */

// ---------- Atlassian Document Format ----------

export type AdfMark = { type: 'link'; attrs: { href: string } } | { type: 'strong' } | { type: 'code' };
export type AdfInline = { type: 'text'; text: string; marks?: AdfMark[] } | { type: 'hardBreak' };
export type AdfNode =
  | { type: 'paragraph'; content: AdfInline[] }
  | { type: 'heading'; attrs: { level: 1 | 2 | 3 | 4 | 5 | 6 }; content: AdfInline[] }
  | { type: 'codeBlock'; attrs: { language?: string }; content: { type: 'text'; text: string }[] }
  | { type: 'blockquote'; content: { type: 'paragraph'; content: AdfInline[] }[] }
  | { type: 'bulletList'; content: { type: 'listItem'; content: { type: 'paragraph'; content: AdfInline[] }[] }[] }
  | { type: 'rule' }
  | {
      type: 'table';
      attrs: { isNumberColumnEnabled: boolean; layout: 'default' };
      content: { type: 'tableRow'; content: { type: 'tableHeader' | 'tableCell'; attrs: Record<string, never>; content: { type: 'paragraph'; content: AdfInline[] }[] }[] }[];
    };
export interface AdfDocument {
  type: 'doc';
  version: 1;
  content: AdfNode[];
}

/** ADF forbids empty text nodes: empty strings become an empty paragraph (no content). */
function text(value: string, marks?: AdfMark[]): AdfInline[] {
  if (!value) return [];
  return [marks ? { type: 'text', text: value, marks } : { type: 'text', text: value }];
}
const paragraph = (...inline: AdfInline[][]): { type: 'paragraph'; content: AdfInline[] } => ({ type: 'paragraph', content: inline.flat() });
const heading = (level: 2 | 3, value: string): AdfNode => ({ type: 'heading', attrs: { level }, content: text(value) });
const codeBlock = (value: string, language?: string): AdfNode => ({
  type: 'codeBlock',
  attrs: language ? { language } : {},
  content: value ? [{ type: 'text', text: value }] : [],
});
const link = (label: string, href: string) => text(label, [{ type: 'link', attrs: { href } }]);

/** Multi-line user text as paragraphs with hard breaks (ADF text nodes must not hold newlines meaningfully). */
function multiline(value: string): AdfInline[] {
  const lines = value.split(/\r?\n/);
  const inline: AdfInline[] = [];
  lines.forEach((line, index) => {
    if (index > 0) inline.push({ type: 'hardBreak' });
    inline.push(...text(line));
  });
  return inline;
}

/** The defect as a Jira description: headings, quotes, an environment table, code blocks, links. */
export function renderAdf(content: TicketContent): AdfDocument {
  const nodes: AdfNode[] = [];
  nodes.push(paragraph(text(content.summary || content.title)));
  nodes.push(
    paragraph(
      text(`${content.reportCount} report${content.reportCount === 1 ? '' : 's'}, ${content.affectedUsers} affected user${content.affectedUsers === 1 ? '' : 's'} · `),
      link(`Bugloop ${content.defectKey}`, content.defectUrl),
    ),
  );
  if (content.quotes.length > 0) {
    nodes.push(heading(2, 'What reporters said'));
    for (const quote of content.quotes) nodes.push({ type: 'blockquote', content: [paragraph(multiline(quote.text))] });
  }
  if (content.steps) {
    nodes.push(heading(2, 'Steps to reproduce'));
    nodes.push(paragraph(multiline(content.steps)));
  }
  if (content.expected || content.actual) {
    nodes.push(heading(2, 'Expected vs actual'));
    nodes.push(
      table([
        ['Expected', 'Actual'],
        [content.expected ?? '—', content.actual ?? '—'],
      ]),
    );
  }
  if (content.environment.length > 0) {
    nodes.push(heading(2, 'Environment'));
    nodes.push(table([['Field', 'Value'], ...content.environment.map((row) => [row.label, row.value])]));
  }
  if (content.consoleErrors.length > 0) {
    nodes.push(heading(2, 'Console errors'));
    nodes.push(codeBlock(content.consoleErrors.join('\n'), 'text'));
  }
  if (content.failedRequests.length > 0) {
    nodes.push(heading(2, 'Failed requests'));
    nodes.push(codeBlock(content.failedRequests.join('\n'), 'http'));
  }
  if (content.testCases.length > 0) {
    nodes.push(heading(2, 'Linked test cases'));
    nodes.push({
      type: 'bulletList',
      content: content.testCases.map((testCase) => ({ type: 'listItem', content: [paragraph(link(`${testCase.key} ${testCase.title}`, testCase.url))] })),
    });
  }
  nodes.push({ type: 'rule' });
  nodes.push(paragraph(text('Created by Bugloop from user reports. '), link('Open in Bugloop', content.defectUrl)));
  return { type: 'doc', version: 1, content: nodes };
}

function table(rows: string[][]): AdfNode {
  return {
    type: 'table',
    attrs: { isNumberColumnEnabled: false, layout: 'default' },
    content: rows.map((row, rowIndex) => ({
      type: 'tableRow',
      content: row.map((cell) => ({
        type: rowIndex === 0 ? ('tableHeader' as const) : ('tableCell' as const),
        attrs: {},
        content: [paragraph(multiline(cell))],
      })),
    })),
  };
}

/** A plain ADF document with one paragraph, for comments. */
export function adfParagraphs(value: string): AdfDocument {
  return { type: 'doc', version: 1, content: value.split(/\n{2,}/).map((block) => paragraph(multiline(block))) };
}

// ---------- Markdown (Linear) ----------

/** Keeps user text from turning into Markdown structure (headings, links, images, HTML). */
export function escapeMarkdown(value: string): string {
  return value.replace(/([\\`*_{}[\]()#+\-!|<>~])/g, '\\$1');
}

/** A fenced block that user text cannot close early: the fence is longer than any run of backticks inside. */
export function fencedBlock(value: string, language = ''): string {
  const longest = Math.max(2, ...[...value.matchAll(/`+/g)].map((match) => match[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${language}\n${value}\n${fence}`;
}

/** The defect as Markdown, for Linear. */
export function renderMarkdown(content: TicketContent): string {
  const parts: string[] = [];
  parts.push(escapeMarkdown(content.summary || content.title));
  parts.push(
    `**${content.reportCount}** report${content.reportCount === 1 ? '' : 's'}, **${content.affectedUsers}** affected user${content.affectedUsers === 1 ? '' : 's'} · [Bugloop ${content.defectKey}](${content.defectUrl})`,
  );
  if (content.quotes.length > 0) {
    parts.push('## What reporters said');
    parts.push(content.quotes.map((quote) => quote.text.split(/\r?\n/).map((line) => `> ${escapeMarkdown(line)}`).join('\n')).join('\n\n'));
  }
  if (content.steps) parts.push('## Steps to reproduce', escapeMarkdown(content.steps));
  if (content.expected || content.actual) {
    parts.push('## Expected vs actual', `**Expected:** ${escapeMarkdown(content.expected ?? '—')}\n\n**Actual:** ${escapeMarkdown(content.actual ?? '—')}`);
  }
  if (content.environment.length > 0) {
    const cell = (value: string) => escapeMarkdown(value).replace(/\r?\n/g, ' ');
    parts.push('## Environment', ['| Field | Value |', '| --- | --- |', ...content.environment.map((row) => `| ${cell(row.label)} | ${cell(row.value)} |`)].join('\n'));
  }
  if (content.consoleErrors.length > 0) parts.push('## Console errors', fencedBlock(content.consoleErrors.join('\n'), 'text'));
  if (content.failedRequests.length > 0) parts.push('## Failed requests', fencedBlock(content.failedRequests.join('\n'), 'http'));
  if (content.testCases.length > 0) {
    parts.push('## Linked test cases', content.testCases.map((testCase) => `- [${escapeMarkdown(`${testCase.key} ${testCase.title}`)}](${testCase.url})`).join('\n'));
  }
  parts.push('---', `Created by Bugloop from user reports. [Open in Bugloop](${content.defectUrl})`);
  return parts.join('\n\n');
}

// ---------- Slack ----------

/**
 * Escapes user text for Slack mrkdwn: `&`, `<`, `>` become entities (so `<!here>`, `<!channel>`,
 * `<@U123>` and disguised links `<https://evil|innocent>` are shown literally), and bare
 * `@channel`/`@here`/`@everyone` get a zero-width joiner so no client turns them into a ping.
 */
export function escapeSlackText(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@(channel|here|everyone)\b/gi, '@\u200b$1');
}

/** A URL we built ourselves, as a Slack link; `|` and `>` cannot appear in it unescaped. */
function slackLink(url: string, label: string): string {
  return `<${url.replace(/\|/g, '%7C').replace(/>/g, '%3E')}|${escapeSlackText(label).replace(/\|/g, '¦')}>`;
}

const triggerLabels: Record<string, string> = {
  defect_created: 'New defect',
  threshold_crossed: 'Defect crossed its report threshold',
  reopened: 'Defect reopened',
  manual: 'Sent from Bugloop',
};

/** The Slack message: header, severity and counts, one quote, links to the defect and its tickets. */
export function buildSlackMessage(
  content: TicketContent,
  trigger: string,
  tickets: (TicketReference & { kind: string })[],
): { text: string; blocks: Record<string, unknown>[] } {
  const title = content.title.slice(0, 140);
  const links = [slackLink(content.defectUrl, `Open ${content.defectKey} in Bugloop`), ...tickets.map((ticket) => slackLink(ticket.url, `${ticket.kind} ${ticket.key}`))];
  const blocks: Record<string, unknown>[] = [
    // plain_text is never parsed for mentions or links, so the raw title is safe here
    { type: 'header', text: { type: 'plain_text', text: `${content.defectKey}: ${title}`.slice(0, 150), emoji: false } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*${escapeSlackText(triggerLabels[trigger] ?? trigger)}*` },
        { type: 'mrkdwn', text: `*Severity:* ${escapeSlackText(content.severity ?? 'not set')}` },
        { type: 'mrkdwn', text: `*Reports:* ${content.reportCount} (${content.affectedUsers} users)` },
        { type: 'mrkdwn', text: `*Component:* ${escapeSlackText(content.component ?? '—')}` },
      ],
    },
  ];
  const quote = content.quotes[0];
  if (quote) {
    const lines = quote.text.slice(0, 500).split(/\r?\n/).map((line) => `>${escapeSlackText(line)}`);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: links.join(' · ') }] });
  return { text: `${escapeSlackText(triggerLabels[trigger] ?? trigger)}: ${content.defectKey} ${escapeSlackText(title)}`, blocks };
}
