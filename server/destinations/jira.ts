import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Version3Client } from 'jira.js';
import { z } from 'zod';
import {
  classifyRemoteFailure,
  type DeliveryContext,
  type Destination,
  type DestinationSettings,
  InvalidSignatureError,
  parseRetryAfter,
  type TicketContent,
  type TicketReference,
} from './destination';
import { adfParagraphs, renderAdf } from './ticket-format';

const severities = ['blocker', 'critical', 'major', 'minor', 'trivial'] as const;

export const jiraConfigSchema = z.object({
  /** https://your-site.atlassian.net */
  baseUrl: z.url().transform((url) => url.replace(/\/+$/, '')),
  projectKey: z.string().regex(/^[A-Z][A-Z0-9_]{0,19}$/, 'must be a Jira project key like WEB'),
  /** Numeric project id; only needed for the pre-filled "create issue" link. */
  projectId: z.string().regex(/^\d+$/).optional(),
  issueType: z.string().min(1).max(100).default('Bug'),
  /** Numeric issue type id; only needed for the pre-filled "create issue" link. */
  issueTypeId: z.string().regex(/^\d+$/).optional(),
  /** basic: email + API token; oauth: an OAuth 2.0 access token. */
  authentication: z.enum(['basic', 'oauth']).default('basic'),
  email: z.email().optional(),
  /** Bugloop severity → Jira priority name. */
  priorityMap: z.partialRecord(z.enum(severities), z.string().min(1).max(100)).default({}),
  labels: z.array(z.string().regex(/^\S{1,255}$/, 'labels cannot contain spaces')).max(20).default([]),
  components: z.array(z.string().min(1).max(255)).max(20).default([]),
  /** Remote status name or category (new, indeterminate, done) → Bugloop status. */
  statusMap: z.record(z.string(), z.enum(['new', 'triaged', 'in_progress', 'resolved', 'verified', 'closed', 'wont_fix', 'reopened'])).default({}),
  /**
   * How long Jira's search may take to show a new issue (JQL is eventually consistent; Atlassian
   * speaks of seconds). A create that failed in an unknown way is retried no sooner, so the
   * look-before-create finds an issue made anyway. 30 s by default, a wide margin.
   */
  searchLagSeconds: z.number().int().min(0).max(600).default(30),
});
export type JiraConfig = z.output<typeof jiraConfigSchema>;

export const jiraSecretsSchema = z.object({
  apiToken: z.string().min(1).optional(),
  accessToken: z.string().min(1).optional(),
  /** When set, inbound webhooks must carry a matching X-Hub-Signature. */
  webhookSecret: z.string().min(8).optional(),
});
export type JiraSecrets = z.output<typeof jiraSecretsSchema>;

type Settings = DestinationSettings<JiraConfig, JiraSecrets>;

/** jira.js is loaded on first use: it costs seconds at start-up, and most servers never call Jira. */
async function client(settings: Settings, context: DeliveryContext): Promise<Version3Client> {
  const { Version3Client } = await import('jira.js');
  const { config, secrets } = settings;
  const authentication =
    config.authentication === 'oauth'
      ? { oauth2: { accessToken: secrets.accessToken ?? '' } }
      : { basic: { email: config.email ?? '', apiToken: secrets.apiToken ?? '' } };
  // jira.js types `host` + OAuth as a separate overload; the runtime accepts both with a host.
  // Redirects are refused: Jira's API does not redirect, and a redirect is the classic way round an address check.
  const baseRequestConfig = { timeout: context.timeoutMs, maxRedirects: 0, httpAgent: context.network.httpAgent, httpsAgent: context.network.httpsAgent };
  return new Version3Client({ host: config.baseUrl, authentication, baseRequestConfig } as ConstructorParameters<typeof Version3Client>[0]);
}

/** jira.js wraps axios: HttpException carries the status; the axios error in `cause` has the headers. */
function fail(error: unknown, what: string): Error {
  const failure = error as { status?: number; cause?: { response?: { status?: number; headers?: Record<string, string> } }; response?: { status?: number; headers?: Record<string, string> } };
  const response = failure.cause?.response ?? failure.response;
  const status = failure.status ?? response?.status;
  const retryAfter = parseRetryAfter(response?.headers?.['retry-after']);
  return classifyRemoteFailure(error, { status: typeof status === 'number' ? status : undefined, retryAfterSeconds: retryAfter }, `Jira ${what}`);
}

async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw fail(error, what);
  }
}

function browseUrl(config: JiraConfig, key: string): string {
  return `${config.baseUrl}/browse/${encodeURIComponent(key)}`;
}

/** The remote link's globalId: stable per defect, so posting it again updates instead of duplicating. */
export function jiraGlobalId(content: Pick<TicketContent, 'defectId'>): string {
  return `bugloop:defect:${content.defectId}`;
}

/** The comment property (Jira entity property) that names the delivery a comment came from. */
export const jiraCommentPropertyKey = 'com.bugloop.delivery';

/**
 * Whether one of the issue's newest comments carries this delivery's property: the newest 50
 * by creation (`GET …/comment?orderBy=-created`), their properties through `POST /comment/list`
 * with `expand=properties`, the one comment endpoint that returns them.
 */
async function findDeliveredComment(jira: Version3Client, issueKey: string, deliveryId: string): Promise<boolean> {
  const page = await call('list comments', () => jira.issueComments.getComments({ issueIdOrKey: issueKey, orderBy: '-created', maxResults: 50 }));
  const ids = (page.comments ?? []).map((comment) => Number(comment.id)).filter(Number.isFinite);
  if (ids.length === 0) return false;
  const detailed = await call('comments with properties', () => jira.issueComments.getCommentsByIds({ ids, expand: 'properties' }));
  return (detailed.values ?? []).some((comment) =>
    (comment.properties ?? []).some((property) => property.key === jiraCommentPropertyKey && (property.value as { deliveryId?: string } | undefined)?.deliveryId === deliveryId),
  );
}

/** Verifies `X-Hub-Signature: sha256=<hex>` over the raw body. */
export function verifyJiraSignature(rawBody: Buffer, header: string | undefined, secret: string): boolean {
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header ?? '');
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const sent = Buffer.from(match[1], 'hex');
  return sent.length === expected.length && timingSafeEqual(sent, expected);
}

export const jiraDestination: Destination<JiraConfig, JiraSecrets> = {
  kind: 'jira',
  label: 'Jira',
  role: 'tracker',
  searchLagMs: (settings) => settings.config.searchLagSeconds * 1000,
  configSchema: jiraConfigSchema as z.ZodType<JiraConfig>,
  secretsSchema: jiraSecretsSchema as z.ZodType<JiraSecrets>,

  isConfigured({ config, secrets }) {
    return config.authentication === 'oauth' ? Boolean(secrets.accessToken) : Boolean(config.email && secrets.apiToken);
  },

  outboundTargets: (config) => [{ field: 'config.baseUrl', target: config.baseUrl }],

  async findTicket(settings, content, context) {
    const result = await call('search', async () =>
      (await client(settings, context)).issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
        jql: `project = "${settings.config.projectKey}" AND labels = "${content.marker}" ORDER BY created ASC`,
        fields: ['status'],
        maxResults: 1,
      }),
    );
    const issue = result.issues?.[0];
    if (!issue?.key || !issue.id) return undefined;
    const category = (issue.fields as { status?: { statusCategory?: { key?: string } } } | undefined)?.status?.statusCategory?.key;
    return { externalId: issue.id, key: issue.key, url: browseUrl(settings.config, issue.key), state: category ?? null };
  },

  async createTicket(settings, content, context) {
    const { config } = settings;
    const priority = content.severity ? config.priorityMap[content.severity as (typeof severities)[number]] : undefined;
    const created = await call('create issue', async () =>
      (await client(settings, context)).issues.createIssue({
        fields: {
          project: { key: config.projectKey },
          issuetype: { name: config.issueType },
          summary: `${content.title}`.replace(/[\r\n]+/g, ' ').slice(0, 250),
          description: renderAdf(content),
          labels: [...new Set([...config.labels, content.marker, 'bugloop'])],
          ...(priority ? { priority: { name: priority } } : {}),
          ...(config.components.length > 0 ? { components: config.components.map((name) => ({ name })) } : {}),
        },
      } as Parameters<Version3Client['issues']['createIssue']>[0]),
    );
    return { externalId: created.id, key: created.key, url: browseUrl(config, created.key), state: 'new' };
  },

  async attachScreenshot(settings, ticket, screenshot, context) {
    const jira = await client(settings, context);
    // An upload that timed out may have landed: the same name and size on the issue means it did.
    const issue = await call('get issue', () => jira.issues.getIssue({ issueIdOrKey: ticket.key, fields: ['attachment'] }));
    const attachments = ((issue.fields as { attachment?: { filename?: string; size?: number }[] } | undefined)?.attachment ?? []);
    if (attachments.some((attachment) => attachment.filename === screenshot.filename && attachment.size === screenshot.data.length)) return;
    await call('add attachment', () =>
      jira.issueAttachments.addAttachment({
        issueIdOrKey: ticket.key,
        attachment: { filename: screenshot.filename, file: screenshot.data, mimeType: screenshot.contentType },
      }),
    );
  },

  async linkBack(settings, ticket, content, context) {
    await call('remote link', async () =>
      (await client(settings, context)).issueRemoteLinks.createOrUpdateRemoteIssueLink({
        issueIdOrKey: ticket.key,
        globalId: jiraGlobalId(content),
        application: { type: 'com.bugloop', name: 'Bugloop' },
        relationship: 'reported in',
        object: { url: content.defectUrl, title: `Bugloop ${content.defectKey}: ${content.title}`.slice(0, 255), summary: `${content.reportCount} reports` },
      }),
    );
  },

  async addComment(settings, ticket, text, context) {
    const jira = await client(settings, context);
    // Jira has no idempotency key for comments. Each carries an entity property naming its
    // delivery; a retry looks among the issue's newest comments for it before adding one again.
    if (context.attempt > 1 && (await findDeliveredComment(jira, ticket.key, context.deliveryId))) return;
    await call('add comment', async () =>
      jira.issueComments.addComment({
        issueIdOrKey: ticket.key,
        comment: adfParagraphs(text),
        properties: [{ key: jiraCommentPropertyKey, value: { deliveryId: context.deliveryId } }],
      } as Parameters<Version3Client['issueComments']['addComment']>[0]),
    );
  },

  parseInboundWebhook(settings, request) {
    const secret = settings.secrets.webhookSecret;
    if (secret && !verifyJiraSignature(request.rawBody, request.headers['x-hub-signature'], secret)) {
      throw new InvalidSignatureError('X-Hub-Signature is missing or does not match');
    }
    const deliveryId = request.headers['x-atlassian-webhook-identifier'];
    let body: JiraWebhookBody;
    try {
      body = JSON.parse(request.rawBody.toString('utf8')) as JiraWebhookBody;
    } catch {
      return { kind: 'ignored', reason: 'body is not JSON', deliveryId };
    }
    if (body.webhookEvent !== 'jira:issue_updated') return { kind: 'ignored', reason: `event ${body.webhookEvent ?? 'unknown'}`, deliveryId };
    const items = body.changelog?.items ?? [];
    const statusItem = items.find((item) => item.field === 'status' || item.fieldId === 'status');
    const versionItem = items.find((item) => item.field === 'Fix Version' || item.fieldId === 'fixVersions');
    if (!statusItem && !versionItem) return { kind: 'ignored', reason: 'no status change', deliveryId };
    const status = body.issue?.fields?.status;
    const fixVersions = body.issue?.fields?.fixVersions ?? [];
    return {
      kind: 'status',
      deliveryId,
      change: {
        externalId: body.issue?.id,
        externalKey: body.issue?.key,
        state: { name: status?.name ?? ownString(statusItem, 'toString') ?? '', category: status?.statusCategory?.key ?? '' },
        fixedIn: fixVersions.length > 0 ? fixVersions[fixVersions.length - 1].name : (ownString(versionItem, 'toString') ?? null),
      },
    };
  },

  createIssueUrl(settings, content) {
    const { config } = settings;
    if (!config.projectId) return undefined;
    const parameters = new URLSearchParams({ pid: config.projectId, summary: content.title.slice(0, 250) });
    if (config.issueTypeId) parameters.set('issuetype', config.issueTypeId);
    parameters.set('description', `${content.summary}\n\n${content.reportCount} reports. Bugloop: ${content.defectUrl}`.slice(0, 1500));
    parameters.set('labels', content.marker);
    return `${config.baseUrl}/secure/CreateIssueDetails!init.jspa?${parameters.toString()}`;
  },
};

interface JiraWebhookBody {
  webhookEvent?: string;
  issue?: {
    id?: string;
    key?: string;
    fields?: { status?: { name?: string; statusCategory?: { key?: string } }; fixVersions?: { name: string }[] };
  };
  changelog?: { items?: { field?: string; fieldId?: string; fromString?: string | null; toString?: string | null }[] };
}

/** Jira's changelog has a field literally called `toString`; read it only when it is the item's own string. */
function ownString(item: object | undefined, field: string): string | undefined {
  if (!item || !Object.hasOwn(item, field)) return undefined;
  const value = (item as Record<string, unknown>)[field];
  return typeof value === 'string' ? value : undefined;
}
