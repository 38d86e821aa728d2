import type { KnownBlock, WebAPICallResult } from '@slack/web-api';
import { z } from 'zod';
import { classifyRemoteFailure, type Destination } from './destination';
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
    let posted: WebAPICallResult & { ts?: string };
    try {
      posted = await client.chat.postMessage({ channel: settings.config.channel, text, blocks: blocks as unknown as KnownBlock[], unfurl_links: false, unfurl_media: false });
    } catch (error) {
      throw fail(error, 'chat.postMessage');
    }
    if (message.screenshot && settings.config.uploadScreenshot) {
      try {
        const file = { file: message.screenshot.data, filename: message.screenshot.filename, title: `Screenshot of ${message.content.defectKey}` };
        await client.filesUploadV2(posted.ts ? { ...file, channel_id: settings.config.channel, thread_ts: posted.ts } : { ...file, channel_id: settings.config.channel });
      } catch {
        // The message is out; retrying the job would post it twice for the sake of a picture.
      }
    }
  },
};
