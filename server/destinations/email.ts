import type { SendMailOptions } from 'nodemailer';
import { z } from 'zod';
import { classifyRemoteFailure, type Destination } from './destination';

export const emailConfigSchema = z.object({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535).default(587),
  /** true: TLS from the first byte (port 465); false: STARTTLS when the server offers it. */
  secure: z.boolean().default(false),
  from: z.string().min(3).max(320),
  /** Where team notifications go (reporter updates go to the reporter). */
  teamAddress: z.email().optional(),
  /** Only for local sinks without TLS. */
  ignoreTls: z.boolean().default(false),
});
export type EmailConfig = z.output<typeof emailConfigSchema>;

export const emailSecretsSchema = z.object({ username: z.string().min(1).optional(), password: z.string().min(1).optional() });
export type EmailSecrets = z.output<typeof emailSecretsSchema>;

const statusWords: Record<string, string> = {
  resolved: 'fixed',
  verified: 'fixed and verified',
  closed: 'closed',
  wont_fix: 'closed without a fix',
  reopened: 'being looked at again',
  in_progress: 'being worked on',
};

/** Email over SMTP (nodemailer): tells reporters who left an address what became of their report. */
export const emailDestination: Destination<EmailConfig, EmailSecrets> = {
  kind: 'email',
  label: 'Email',
  role: 'notifier',
  configSchema: emailConfigSchema as z.ZodType<EmailConfig>,
  secretsSchema: emailSecretsSchema as z.ZodType<EmailSecrets>,

  isConfigured({ config }) {
    return Boolean(config.host && config.from);
  },

  outboundTargets: (config) => [{ field: 'config.host', target: `smtp://${config.host}:${config.port}` }],

  async notify(settings, message, context) {
    const { config, secrets } = settings;
    const nodemailer = (await import('nodemailer')).default;
    let address: string;
    try {
      // Connect to the address that was checked, and keep the name for TLS (SNI and the certificate).
      address = await context.network.resolveChecked(config.host);
    } catch (error) {
      throw classifyRemoteFailure(error, {}, 'SMTP');
    }
    const transport = nodemailer.createTransport({
      host: address,
      ...(address !== config.host ? { servername: config.host } : {}),
      port: config.port,
      secure: config.secure,
      ignoreTLS: config.ignoreTls,
      ...(secrets.username ? { auth: { user: secrets.username, pass: secrets.password ?? '' } } : {}),
      connectionTimeout: context.timeoutMs,
      greetingTimeout: context.timeoutMs,
      socketTimeout: context.timeoutMs,
    });
    let mail: SendMailOptions;
    if (message.type === 'reporter_update') {
      const state = statusWords[message.defectStatus] ?? message.defectStatus.replace(/_/g, ' ');
      const release = message.fixedIn ? ` in release ${message.fixedIn}` : '';
      mail = {
        to: message.to,
        subject: `Your report ${message.reportReference} is ${state}${release}`,
        text: [
          'Hello,',
          '',
          `Thank you for reporting "${message.reportTitle}". The problem you reported is now ${state}${release}.`,
          ...(message.statusUrl ? ['', `The feedback button on ${message.statusUrl} shows the status of your reports.`] : []),
          '',
          `(Report ${message.reportReference}. You get this email because you left your address with the report.)`,
        ].join('\n'),
      };
    } else {
      if (!config.teamAddress) return;
      mail = {
        to: config.teamAddress,
        subject: `[${message.content.defectKey}] ${message.content.title}`.slice(0, 200),
        text: `${message.content.summary}\n\n${message.content.reportCount} reports, ${message.content.affectedUsers} users.\n${message.content.defectUrl}`,
      };
    }
    try {
      await transport.sendMail({ from: config.from, ...mail, headers: { 'X-Bugloop-Delivery': message.deliveryId }, messageId: `<${message.deliveryId}@bugloop>` });
    } catch (error) {
      const responseCode = (error as { responseCode?: number }).responseCode;
      // SMTP 5xx is a permanent refusal (bad address, auth), 4xx a temporary one.
      throw classifyRemoteFailure(error, { status: responseCode && responseCode >= 500 ? 400 : undefined }, 'SMTP');
    } finally {
      transport.close();
    }
  },
};
