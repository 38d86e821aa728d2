import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { classifyRemoteFailure, type Destination, parseRetryAfter } from './destination';

export const webhookConfigSchema = z.object({
  url: z.url({ protocol: /^https?$/ }),
});
export type WebhookConfig = z.output<typeof webhookConfigSchema>;

export const webhookSecretsSchema = z.object({ signingSecret: z.string().min(16).optional() });
export type WebhookSecrets = z.output<typeof webhookSecretsSchema>;

/**
 * The signature receivers check: hex HMAC-SHA256 over `<timestamp>.<raw body>`, sent as
 * `X-Bugloop-Signature: sha256=<hex>` with `X-Bugloop-Timestamp: <unix seconds>`. Binding the
 * timestamp lets receivers reject replays (Stripe's scheme).
 */
export function signWebhook(secret: string, timestamp: number, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

/**
 * An outgoing webhook: the defect as JSON to any URL, signed. Delivery is at least once (we
 * cannot ask a receiver whether it already has a request): every retry carries the same
 * `Idempotency-Key` and body `deliveryId`, so a receiver that keeps the keys it has seen
 * processes each delivery exactly once.
 */
export const webhookDestination: Destination<WebhookConfig, WebhookSecrets> = {
  kind: 'webhook',
  label: 'Webhook',
  role: 'notifier',
  configSchema: webhookConfigSchema as z.ZodType<WebhookConfig>,
  secretsSchema: webhookSecretsSchema as z.ZodType<WebhookSecrets>,

  isConfigured({ config, secrets }) {
    return Boolean(config.url && secrets.signingSecret);
  },

  outboundTargets: (config) => [{ field: 'config.url', target: config.url }],

  async notify(settings, message, context) {
    const body =
      message.type === 'defect'
        ? JSON.stringify({
            event: `defect.${message.trigger}`,
            deliveryId: message.deliveryId,
            defect: {
              id: message.content.defectId,
              key: message.content.defectKey,
              title: message.content.title,
              status: message.content.status,
              severity: message.content.severity,
              component: message.content.component,
              reportCount: message.content.reportCount,
              affectedUsers: message.content.affectedUsers,
              foundIn: message.content.foundIn,
              fixedIn: message.content.fixedIn,
              url: message.content.defectUrl,
              quotes: message.content.quotes.map((quote) => quote.text),
            },
            tickets: message.tickets.map((ticket) => ({ kind: ticket.kind, key: ticket.key, url: ticket.url })),
          })
        : JSON.stringify({ event: 'reporter.update', deliveryId: message.deliveryId, report: message.reportReference, status: message.defectStatus, fixedIn: message.fixedIn });
    const timestamp = Math.floor(Date.now() / 1000);
    let response: Response;
    try {
      response = await context.network.fetch(settings.config.url, {
        method: 'POST',
        redirect: 'error',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'Bugloop-Webhook/1',
          // The same on every retry of this delivery: receivers drop repeats by it. Idempotency-Key
          // is the IETF HTTP API draft's header; X-Bugloop-Delivery is kept for existing receivers.
          'Idempotency-Key': message.deliveryId,
          'X-Bugloop-Delivery': message.deliveryId,
          'X-Bugloop-Timestamp': String(timestamp),
          'X-Bugloop-Signature': signWebhook(settings.secrets.signingSecret ?? '', timestamp, body),
        },
        body,
        signal: AbortSignal.timeout(context.timeoutMs),
      });
    } catch (error) {
      throw classifyRemoteFailure(error, {}, 'webhook');
    }
    await response.body?.cancel();
    if (!response.ok) {
      throw classifyRemoteFailure(new Error(`receiver answered ${response.status}`), { status: response.status, retryAfterSeconds: parseRetryAfter(response.headers.get('retry-after')) }, 'webhook');
    }
  },
};
