import type { KnownBlock, WebClient } from '@slack/web-api';
import { z } from 'zod';
import { classifyRemoteFailure, type DeliveryContext, type Destination } from './destination';
import { buildSlackMessage } from './ticket-format';

export const slackConfigSchema = z.object({
  /** Channel id (C0123…) the bot has been invited to. */
  channel: z.string().regex(/^[A-Z0-9]{2,30}$/, 'must be a Slack channel id like C0123ABCD'),
  /** Upload the best screenshot into the thread as well. */
  uploadScreenshot: z.boolean().default(true),
  /** Only to point at a proxy or a test server. */
  apiUrl: z.url().optional(),
});
export type SlackConfig = z.output<typeof slackConfigSchema>;

/**
 * Scopes the bot needs: chat:write (post), files:write (screenshot in the thread), and
 * channels:history (groups:history for a private channel) so a retry can find a post whose
 * answer was lost instead of posting twice.
 */
export const slackSecretsSchema = z.object({ botToken: z.string().regex(/^xox[a-z]-/, 'must be a bot token (xoxb-…)').optional() });
export type SlackSecrets = z.output<typeof slackSecretsSchema>;

function fail(error: unknown, what: string): Error {
  const failure = error as { code?: string; retryAfter?: number; statusCode?: number; data?: { error?: string } };
  if (failure.code === 'slack_webapi_rate_limited_error') return classifyRemoteFailure(error, { status: 429, retryAfterSeconds: failure.retryAfter }, `Slack ${what}`);
  if (failure.code === 'slack_webapi_platform_error') {
    // ok:false answers: a wrong token or channel will not fix itself; "ratelimited" or internal ones may.
    const permanent = ['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'channel_not_found', 'not_in_channel', 'is_archived', 'invalid_blocks', 'msg_too_long'];
    return classifyRemoteFailure(error, { status: permanent.includes(failure.data?.error ?? '') ? 400 : undefined }, `Slack ${what}`);
  }
  return classifyRemoteFailure(error, { status: failure.statusCode }, `Slack ${what}`);
}

/** The message metadata event type Bugloop's posts carry; its payload names the delivery. */
export const slackMetadataEventType = 'bugloop_delivery';
/** conversations.history pages read when looking for an earlier post (15 messages a page for non-Marketplace apps). */
const historyPagesToSearch = 10;
/** Slack's clock and ours may disagree; look a little further back than the delivery's start. */
const clockSkewSeconds = 300;

/**
 * The ts of a message this delivery already posted, found by its metadata in the channel's
 * history since the delivery was asked for (`conversations.history` with `include_all_metadata`;
 * needs the `channels:history` scope, `groups:history` for private channels).
 */
async function findPostedMessage(client: WebClient, channel: string, context: DeliveryContext): Promise<string | undefined> {
  let cursor: string | undefined;
  for (let page = 0; page < historyPagesToSearch; page += 1) {
    const history = await client.conversations.history({
      channel,
      oldest: String(Math.floor(context.requestedAt.getTime() / 1000) - clockSkewSeconds),
      include_all_metadata: true,
      limit: 15,
      ...(cursor ? { cursor } : {}),
    });
    const ours = history.messages?.find(
      (message) => message.metadata?.event_type === slackMetadataEventType && (message.metadata.event_payload as { delivery_id?: string } | undefined)?.delivery_id === context.deliveryId,
    );
    if (ours?.ts) return ours.ts;
    cursor = history.response_metadata?.next_cursor || undefined;
    if (!history.has_more || !cursor) return undefined;
  }
  return undefined;
}

/** Whether the thread under `ts` already holds a file of this name (an upload that timed out after Slack stored it). */
async function threadHasFile(client: WebClient, channel: string, ts: string, filename: string): Promise<boolean> {
  const replies = await client.conversations.replies({ channel, ts, limit: 15 });
  return (replies.messages ?? []).some((message) => (message.files ?? []).some((file) => file.name === filename));
}

/**
 * Slack: a message with blocks (title, severity, counts, one quote, links) and the screenshot
 * uploaded into its thread through the files.uploadV2 flow. User text is escaped for mrkdwn.
 * Retries are the job queue's business, so the SDK's own retries are off and 429s surface.
 */
export const slackDestination: Destination<SlackConfig, SlackSecrets> = {
  kind: 'slack',
  label: 'Slack',
  role: 'notifier',
  sendsScreenshots: true,
  configSchema: slackConfigSchema as z.ZodType<SlackConfig>,
  secretsSchema: slackSecretsSchema as z.ZodType<SlackSecrets>,

  isConfigured({ secrets, config }) {
    return Boolean(secrets.botToken && config.channel);
  },

  outboundTargets: (config) => (config.apiUrl ? [{ field: 'config.apiUrl', target: config.apiUrl }] : []),

  async notify(settings, message, context) {
    if (message.type !== 'defect') return;
    // Loaded on first use, so servers that never call Slack do not pay for the SDK at start-up.
    const { WebClient } = await import('@slack/web-api');
    const client = new WebClient(settings.secrets.botToken, {
      ...(settings.config.apiUrl ? { slackApiUrl: settings.config.apiUrl } : {}),
      timeout: context.timeoutMs,
      // Every call (and the files.uploadV2 upload URLs Slack hands back) goes through the checked network.
      fetch: context.network.fetch,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      logLevel: undefined,
    });
    const { text, blocks } = buildSlackMessage(message.content, message.trigger, message.tickets);
    const channel = settings.config.channel;
    // chat.postMessage has no idempotency key. The post carries message metadata naming the
    // delivery; a retry (after a timeout that may have come after Slack stored the message, or a
    // crash before we recorded it) looks for it in the channel's history before posting again.
    let ts: string | undefined;
    let postedNow = false;
    if (context.attempt > 1) {
      try {
        ts = await findPostedMessage(client, channel, context);
      } catch (error) {
        // A bot installed without the history scope can still post: a possible second message
        // is better than a notification that never arrives, so the lookup is skipped, not fatal.
        const slackError = (error as { data?: { error?: string; needed?: string } }).data;
        if (slackError?.error !== 'missing_scope') throw fail(error, 'conversations.history');
        context.warn(
          { needed: slackError.needed },
          'Slack: the bot token lacks the history scope, so a retry cannot check whether its first post arrived; add channels:history (groups:history for private channels) for exactly-once posts',
        );
      }
    }
    if (!ts) {
      try {
        const posted = await client.chat.postMessage({
          channel,
          text,
          blocks: blocks as unknown as KnownBlock[],
          unfurl_links: false,
          unfurl_media: false,
          metadata: { event_type: slackMetadataEventType, event_payload: { delivery_id: context.deliveryId, defect_key: message.content.defectKey } },
        });
        ts = posted.ts;
        postedNow = true;
      } catch (error) {
        throw fail(error, 'chat.postMessage');
      }
    }
    if (message.screenshot && settings.config.uploadScreenshot) {
      try {
        const filename = message.screenshot.filename;
        if (!postedNow && ts && (await threadHasFile(client, channel, ts, filename))) return;
        const file = { file: message.screenshot.data, filename, title: `Screenshot of ${message.content.defectKey}` };
        await client.filesUploadV2(ts ? { ...file, channel_id: channel, thread_ts: ts } : { ...file, channel_id: channel });
      } catch {
        // The message is out; retrying the job would post it twice for the sake of a picture.
      }
    }
  },
};
