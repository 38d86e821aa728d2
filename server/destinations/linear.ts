import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { LinearClient } from '@linear/sdk';
import { z } from 'zod';
import {
  classifyRemoteFailure,
  type DeliveryContext,
  type Destination,
  type DestinationSettings,
  InvalidSignatureError,
  parseRetryAfter,
} from './destination';
import { fencedBlock, renderMarkdown } from './ticket-format';

const severities = ['blocker', 'critical', 'major', 'minor', 'trivial'] as const;
const defaultPriority: Record<(typeof severities)[number], number> = { blocker: 1, critical: 2, major: 3, minor: 4, trivial: 4 };

/** Linear webhooks older than this are rejected as possible replays (Linear's own advice: one minute). */
export const linearWebhookMaxAgeMs = 60_000;

export const linearConfigSchema = z.object({
  teamId: z.string().min(1).max(100),
  /** The team's key (ENG), only for the pre-filled "create issue" link. */
  teamKey: z.string().regex(/^[A-Z0-9]{1,10}$/).optional(),
  labelIds: z.array(z.string().min(1).max(100)).max(20).default([]),
  /** Bugloop severity → Linear priority (0 none, 1 urgent, 2 high, 3 medium, 4 low). */
  priorityMap: z.partialRecord(z.enum(severities), z.number().int().min(0).max(4)).default({}),
  /** Remote state name or type (triage, backlog, unstarted, started, completed, canceled) → Bugloop status. */
  statusMap: z.record(z.string(), z.enum(['new', 'triaged', 'in_progress', 'resolved', 'verified', 'closed', 'wont_fix', 'reopened'])).default({}),
  /** Only to point at a proxy or a test server; Linear's SDK refuses plain http except on localhost. */
  apiUrl: z.url().optional(),
});
export type LinearConfig = z.output<typeof linearConfigSchema>;

export const linearSecretsSchema = z.object({
  apiKey: z.string().min(1).optional(),
  /** Signs inbound webhooks (Linear-Signature); required to accept status updates. */
  webhookSecret: z.string().min(8).optional(),
});
export type LinearSecrets = z.output<typeof linearSecretsSchema>;

type Settings = DestinationSettings<LinearConfig, LinearSecrets>;

/** A fresh client per call chain: the SDK passes its options to fetch, so the timeout signal must be new. */
async function client(settings: Settings, context: DeliveryContext): Promise<LinearClient> {
  // Loaded on first use, so servers that never call Linear do not pay for the SDK at start-up.
  const { LinearClient } = await import('@linear/sdk');
  return new LinearClient({
    apiKey: settings.secrets.apiKey ?? '',
    ...(settings.config.apiUrl ? { apiUrl: settings.config.apiUrl } : {}),
    signal: AbortSignal.timeout(context.timeoutMs),
    // The SDK passes its options on to the global fetch: this is how its connections get checked.
    ...(context.network.dispatcher ? { dispatcher: context.network.dispatcher } : {}),
  } as ConstructorParameters<typeof LinearClient>[0]);
}

function fail(error: unknown, what: string): Error {
  const failure = error as { type?: string; status?: number; retryAfter?: number; raw?: { response?: { headers?: Headers } } };
  let status = failure.status;
  if (failure.type === 'Ratelimited') status = 429;
  else if (failure.type === 'InvalidInput' || failure.type === 'AuthenticationError' || failure.type === 'Forbidden') {
    status = status && status >= 400 && status < 500 ? status : 400;
  }
  const retryAfter = failure.retryAfter ?? parseRetryAfter(failure.raw?.response?.headers?.get?.('retry-after'));
  return classifyRemoteFailure(error, { status, retryAfterSeconds: retryAfter }, `Linear ${what}`);
}

async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw fail(error, what);
  }
}

/**
 * The issue id Bugloop asks Linear to use for a defect: Linear accepts a client-chosen UUID on
 * create, so the id is known before the call, and after a timeout a lookup by it says for sure
 * whether the first create went through.
 */
export function linearIssueId(destinationId: string, defectId: string): string {
  return uuidFrom(`bugloop:linear:${destinationId}:${defectId}`);
}

/**
 * The id of the screenshot attachment on an issue. `fileUpload` gives every upload a new asset
 * URL, so attachmentCreate's "same URL on the same issue updates" rule cannot catch a repeat
 * after a timeout; a client-chosen attachment id (AttachmentCreateInput.id) can, by a lookup.
 */
export function linearScreenshotAttachmentId(issueId: string, screenshotSha256: string): string {
  return uuidFrom(`bugloop:linear-screenshot:${issueId}:${screenshotSha256}`);
}

/** The id of a comment (CommentCreateInput.id), derived from its delivery: the same on every retry. */
export function linearCommentId(deliveryId: string): string {
  return uuidFrom(`bugloop:linear-comment:${deliveryId}`);
}

/** A UUID v4-shaped id derived from a name, as Linear requires for client-chosen ids. */
function uuidFrom(name: string): string {
  const hash = createHash('sha256').update(name).digest();
  hash[6] = (hash[6] & 0x0f) | 0x40; // version 4 layout, as Linear requires
  hash[8] = (hash[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const issueQuery = `query BugloopIssue($id: String!) { issue(id: $id) { id identifier url state { name type } } }`;
const attachmentQuery = `query BugloopAttachment($id: String!) { attachment(id: $id) { id } }`;
const commentQuery = `query BugloopComment($id: String!) { comment(id: $id) { id } }`;

/**
 * Whether an entity with this client-chosen id exists. Linear answers an unknown id with an
 * "Entity not found" GraphQL error.
 */
async function exists(linear: LinearClient, query: string, id: string, what: string): Promise<boolean> {
  try {
    const result = await linear.client.rawRequest<Record<string, { id: string } | null>, { id: string }>(query, { id });
    return Object.values(result.data ?? {}).some((entity) => entity?.id === id);
  } catch (error) {
    if (/not found/i.test((error as Error).message ?? '')) return false;
    throw fail(error, what);
  }
}

/** Verifies `Linear-Signature`: hex HMAC-SHA256 of the raw body. */
export function verifyLinearSignature(rawBody: Buffer, header: string | undefined, secret: string): boolean {
  if (!header || !/^[0-9a-f]{64}$/i.test(header)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const sent = Buffer.from(header, 'hex');
  return sent.length === expected.length && timingSafeEqual(sent, expected);
}

export const linearDestination: Destination<LinearConfig, LinearSecrets> = {
  kind: 'linear',
  label: 'Linear',
  role: 'tracker',
  configSchema: linearConfigSchema as z.ZodType<LinearConfig>,
  secretsSchema: linearSecretsSchema as z.ZodType<LinearSecrets>,

  isConfigured({ secrets, config }) {
    return Boolean(secrets.apiKey && config.teamId);
  },

  outboundTargets: (config) => (config.apiUrl ? [{ field: 'config.apiUrl', target: config.apiUrl }] : []),

  async findTicket(settings, content, context) {
    const id = linearIssueId(settings.id, content.defectId);
    try {
      const result = await (await client(settings, context)).client.rawRequest<{ issue: { id: string; identifier: string; url: string; state?: { type?: string } } | null }, { id: string }>(issueQuery, { id });
      const issue = result.data?.issue;
      return issue ? { externalId: issue.id, key: issue.identifier, url: issue.url, state: issue.state?.type ?? null } : undefined;
    } catch (error) {
      // Linear answers an unknown id with an "Entity not found" GraphQL error: nothing was created.
      if (/not found/i.test((error as Error).message ?? '')) return undefined;
      throw fail(error, 'issue lookup');
    }
  },

  async createTicket(settings, content, context) {
    const { config } = settings;
    const id = linearIssueId(settings.id, content.defectId);
    const severity = content.severity as (typeof severities)[number] | null;
    const priority = severity ? (config.priorityMap[severity] ?? defaultPriority[severity]) : undefined;
    const linear = await client(settings, context);
    const payload = await call('issueCreate', () =>
      linear.createIssue({
        id,
        teamId: config.teamId,
        title: content.title.replace(/[\r\n]+/g, ' ').slice(0, 250),
        description: `${renderMarkdown(content)}\n\n<!-- ${content.marker} -->`,
        ...(priority !== undefined ? { priority } : {}),
        ...(config.labelIds.length > 0 ? { labelIds: config.labelIds } : {}),
      }),
    );
    if (!payload.success) throw new Error('Linear issueCreate answered success: false');
    const found = await this.findTicket!(settings, content, { ...context });
    if (!found) throw new Error('Linear created the issue but it cannot be read back yet');
    return found;
  },

  async attachScreenshot(settings, ticket, screenshot, context) {
    const linear = await client(settings, context);
    const attachmentId = linearScreenshotAttachmentId(ticket.externalId, screenshot.sha256);
    // An upload whose attachmentCreate timed out may have landed: its id says so for sure.
    if (context.attempt > 1 && (await exists(linear, attachmentQuery, attachmentId, 'attachment lookup'))) return;
    const upload = await call('fileUpload', () => linear.fileUpload(screenshot.contentType, screenshot.filename, screenshot.data.length));
    const file = upload.uploadFile;
    if (!upload.success || !file) throw new Error('Linear fileUpload did not return an upload URL');
    // The signed URL wants exactly the headers Linear returned, plus the content type and cache policy.
    const headers = new Headers({ 'Content-Type': screenshot.contentType, 'Cache-Control': 'public, max-age=31536000' });
    for (const header of file.headers) headers.set(header.key, header.value);
    let response: Response;
    try {
      response = await context.network.fetch(file.uploadUrl, { method: 'PUT', headers, body: new Uint8Array(screenshot.data), signal: AbortSignal.timeout(context.timeoutMs) });
    } catch (error) {
      throw fail(error, 'file PUT');
    }
    if (!response.ok) {
      throw classifyRemoteFailure(new Error(`upload answered ${response.status}`), { status: response.status, retryAfterSeconds: parseRetryAfter(response.headers.get('retry-after')) }, 'Linear file PUT');
    }
    await call('attachmentCreate', () =>
      linear.createAttachment({ id: attachmentId, issueId: ticket.externalId, url: file.assetUrl, title: 'Screenshot', subtitle: screenshot.filename, metadata: { bugloopSha256: screenshot.sha256 } }),
    );
  },

  async linkBack(settings, ticket, content, context) {
    // Linear keeps one attachment per URL and issue, so linking again is harmless.
    await call('attachmentLinkURL', async () => (await client(settings, context)).attachmentLinkURL(ticket.externalId, content.defectUrl, { title: `Bugloop ${content.defectKey}` }));
  },

  async addComment(settings, ticket, text, context) {
    const linear = await client(settings, context);
    const id = linearCommentId(context.deliveryId);
    if (context.attempt > 1 && (await exists(linear, commentQuery, id, 'comment lookup'))) return;
    await call('commentCreate', () => linear.createComment({ id, issueId: ticket.externalId, body: text }));
  },

  parseInboundWebhook(settings, request) {
    const secret = settings.secrets.webhookSecret;
    if (!secret) throw new InvalidSignatureError('this Linear destination has no webhook secret; set one to accept status updates');
    if (!verifyLinearSignature(request.rawBody, request.headers['linear-signature'], secret)) {
      throw new InvalidSignatureError('Linear-Signature is missing or does not match');
    }
    let body: LinearWebhookBody;
    try {
      body = JSON.parse(request.rawBody.toString('utf8')) as LinearWebhookBody;
    } catch {
      throw new InvalidSignatureError('body is not JSON');
    }
    if (typeof body.webhookTimestamp !== 'number' || Math.abs(request.receivedAt.getTime() - body.webhookTimestamp) > linearWebhookMaxAgeMs) {
      throw new InvalidSignatureError('webhookTimestamp is missing or older than 60 seconds');
    }
    const deliveryId = request.headers['linear-delivery'];
    if (body.type !== 'Issue' || body.action !== 'update') return { kind: 'ignored', reason: `${body.type ?? '?'} ${body.action ?? '?'}`, deliveryId };
    if (!body.updatedFrom || !('stateId' in body.updatedFrom)) return { kind: 'ignored', reason: 'no state change', deliveryId };
    const state = body.data?.state;
    return {
      kind: 'status',
      deliveryId,
      change: { externalId: body.data?.id, externalKey: body.data?.identifier, state: { name: state?.name ?? '', category: state?.type ?? '' }, fixedIn: null },
    };
  },

  createIssueUrl(settings, content) {
    const parameters = new URLSearchParams({
      title: content.title.slice(0, 250),
      description: `${content.summary}\n\n${content.reportCount} reports. Bugloop: ${content.defectUrl}\n\n${fencedBlock(content.marker)}`.slice(0, 2000),
    });
    const base = settings.config.teamKey ? `https://linear.app/team/${settings.config.teamKey}/new` : 'https://linear.new';
    return `${base}?${parameters.toString()}`;
  },
};

interface LinearWebhookBody {
  action?: string;
  type?: string;
  webhookTimestamp?: number;
  data?: { id?: string; identifier?: string; state?: { name?: string; type?: string } };
  updatedFrom?: Record<string, unknown>;
}

