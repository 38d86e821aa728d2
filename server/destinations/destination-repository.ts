import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { z } from 'zod';
import type { Database, DestinationRow } from '../db/schema';
import { AppError } from '../http/app-error';
import type { SecretBox } from '../integrations/secret-box';
import type { OutboundNetwork } from '../integrations/outbound-network';
import type { DestinationSettings } from './destination';
import { type AnyDestination, destinationKinds, findDestination } from './registry';

type Executor = Kysely<Database> | Transaction<Database>;

/** What the API accepts to create a destination. Secrets are write-only. */
export const destinationInputSchema = z.object({
  kind: z.string().min(1).max(50),
  name: z.string().trim().min(1).max(200),
  config: z.record(z.string(), z.unknown()).default({}),
  /** Write-only. A key set to null removes that secret; absent keys keep their stored value. */
  secrets: z.record(z.string(), z.string().max(10_000).nullable()).default({}),
  enabled: z.boolean().default(true),
  maxAttempts: z.number().int().min(1).max(50).default(8),
  timeoutMs: z.number().int().min(100).max(120_000).default(15_000),
});
/** A change: every field optional and without defaults, so an absent field is left alone. */
export const destinationPatchSchema = z.object({
  name: z.string().trim().min(1).max(200).optional(),
  config: z.record(z.string(), z.unknown()).optional(),
  secrets: z.record(z.string(), z.string().max(10_000).nullable()).optional(),
  enabled: z.boolean().optional(),
  maxAttempts: z.number().int().min(1).max(50).optional(),
  timeoutMs: z.number().int().min(100).max(120_000).optional(),
});
export type DestinationInput = z.input<typeof destinationInputSchema>;

/** A destination as the API shows it: config, which secrets are set (names only), never their values. */
export interface DestinationView {
  id: string;
  kind: string;
  name: string;
  role: 'tracker' | 'notifier';
  config: Record<string, unknown>;
  secretsSet: string[];
  configured: boolean;
  enabled: boolean;
  maxAttempts: number;
  timeoutMs: number;
  /** Where the tracker should send its webhooks (trackers only). */
  inboundWebhookUrl: string | null;
  createdAt: Date;
  updatedAt: Date;
}

function requireKind(kind: string): AnyDestination {
  const destination = findDestination(kind);
  if (!destination) throw new AppError('invalid_request', `Unknown destination kind "${kind}"; use one of ${destinationKinds().join(', ')}`, { field: 'kind' });
  return destination;
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = [field, ...issue.path.map(String)].join('.');
    throw new AppError('invalid_request', `${path}: ${issue.message}`, { field: path });
  }
  return parsed.data;
}

function mergeSecrets(current: Record<string, string>, changes: Record<string, string | null>): Record<string, string> {
  const merged = { ...current };
  for (const [name, value] of Object.entries(changes)) {
    if (value === null || value === '') delete merged[name];
    else merged[name] = value;
  }
  return merged;
}

/** Decrypts a row's secrets; a row that cannot be decrypted (changed SECRET_KEY) has none. */
export function openSecrets(box: SecretBox, row: Pick<DestinationRow, 'id' | 'encryptedSecrets'>): Record<string, string> {
  if (!row.encryptedSecrets) return {};
  try {
    return box.open(row.encryptedSecrets, row.id);
  } catch {
    return {};
  }
}

/** The row with decrypted, validated settings, for delivery. */
export function settingsOf(box: SecretBox, row: DestinationRow): { destination: AnyDestination; settings: DestinationSettings } {
  const destination = requireKind(row.kind);
  const config = destination.configSchema.parse(row.config) as Record<string, unknown>;
  const secrets = destination.secretsSchema.parse(openSecrets(box, row)) as Record<string, string | undefined>;
  return { destination, settings: { id: row.id, projectId: row.projectId, name: row.name, config, secrets } };
}

export function toView(box: SecretBox, row: DestinationRow, publicUrl: string): DestinationView {
  const destination = requireKind(row.kind);
  const secrets = openSecrets(box, row);
  let configured = false;
  try {
    configured = row.enabled && destination.isConfigured(settingsOf(box, row).settings);
  } catch {
    configured = false;
  }
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    role: destination.role,
    config: row.config,
    secretsSet: Object.keys(secrets).sort(),
    configured,
    enabled: row.enabled,
    maxAttempts: row.maxAttempts,
    timeoutMs: row.timeoutMs,
    inboundWebhookUrl: destination.parseInboundWebhook ? inboundWebhookUrl(publicUrl, row.id) : null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** The URL to paste into Jira's or Linear's webhook settings. */
export function inboundWebhookUrl(publicUrl: string, destinationId: string): string {
  return `${publicUrl}/api/v1/integrations/${destinationId}/webhook`;
}

/** Refuses (400) a config whose URLs or hosts are, or resolve to, non-public addresses. */
async function checkOutboundTargets(network: OutboundNetwork, destination: AnyDestination, config: Record<string, unknown>): Promise<void> {
  for (const { field, target } of destination.outboundTargets(config)) await network.checkTarget(target, field);
}

/**
 * Creates a destination; secrets are encrypted with the row's id bound in. The URLs it will
 * call are checked against `network`'s address policy first.
 */
export async function createDestination(db: Executor, box: SecretBox, projectId: string, input: unknown, network: OutboundNetwork): Promise<DestinationRow> {
  const data = parseWith(destinationInputSchema, input, 'body');
  const destination = requireKind(data.kind);
  const config = parseWith(destination.configSchema, data.config, 'config') as Record<string, unknown>;
  await checkOutboundTargets(network, destination, config);
  const secrets = mergeSecrets({}, data.secrets);
  parseWith(destination.secretsSchema, secrets, 'secrets');
  const id = randomUUID();
  return db
    .insertInto('destinations')
    .values({
      id,
      projectId,
      kind: data.kind,
      name: data.name,
      config: JSON.stringify(config),
      encryptedSecrets: Object.keys(secrets).length > 0 ? box.seal(secrets, id) : null,
      enabled: data.enabled,
      maxAttempts: data.maxAttempts,
      timeoutMs: data.timeoutMs,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findDestinationRow(db: Executor, projectId: string, id: string): Promise<DestinationRow> {
  const row = z.uuid().safeParse(id).success
    ? await db.selectFrom('destinations').selectAll().where('id', '=', id).where('projectId', '=', projectId).executeTakeFirst()
    : undefined;
  if (!row) throw new AppError('not_found', 'destination not found');
  return row;
}

/** Changes a destination. Config is replaced as a whole; secrets are merged (null removes one). */
export async function updateDestination(db: Executor, box: SecretBox, projectId: string, id: string, input: unknown, network: OutboundNetwork): Promise<DestinationRow> {
  const data = parseWith(destinationPatchSchema, input, 'body');
  const row = await findDestinationRow(db, projectId, id);
  const destination = requireKind(row.kind);
  const update: Record<string, unknown> = { updatedAt: new Date() };
  if (data.config !== undefined) {
    const config = parseWith(destination.configSchema, data.config, 'config') as Record<string, unknown>;
    await checkOutboundTargets(network, destination, config);
    update.config = JSON.stringify(config);
  }
  if (data.secrets !== undefined) {
    const secrets = mergeSecrets(openSecrets(box, row), data.secrets);
    parseWith(destination.secretsSchema, secrets, 'secrets');
    update.encryptedSecrets = Object.keys(secrets).length > 0 ? box.seal(secrets, row.id) : null;
  }
  for (const field of ['name', 'enabled', 'maxAttempts', 'timeoutMs'] as const) if (data[field] !== undefined) update[field] = data[field];
  return db.updateTable('destinations').set(update).where('id', '=', row.id).returningAll().executeTakeFirstOrThrow();
}

export async function deleteDestination(db: Executor, projectId: string, id: string): Promise<void> {
  const row = await findDestinationRow(db, projectId, id);
  await db.deleteFrom('destinations').where('id', '=', row.id).execute();
}
