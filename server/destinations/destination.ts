import type { z } from 'zod';
import { PermanentJobError, RetryLaterError } from '../outbox/job-queue';
import { isBlockedAddressError, type OutboundNetwork } from '../integrations/outbound-network';

/**
 * One small interface for every place a defect can go (Jira, Linear, Slack, an outgoing webhook,
 * email), in the spirit of kysely's `Dialect`: each kind is one file that implements what it can
 * and is registered by kind in `registry.ts`. Delivery (jobs, retries, idempotency, bookkeeping)
 * lives outside, in `server/integrations/delivery-jobs.ts`, so a destination only talks to its vendor.
 */
export interface Destination<Config = Record<string, unknown>, Secrets = Record<string, string | undefined>> {
  /** Stored in `destinations.kind`. */
  readonly kind: string;
  /** For people: "Jira", "Slack". */
  readonly label: string;
  /** Trackers hold tickets (and sync status back); notifiers only send messages. */
  readonly role: 'tracker' | 'notifier';
  /** Validates `destinations.config` (public settings, returned by the API). */
  readonly configSchema: z.ZodType<Config>;
  /** Validates the secrets (encrypted at rest, never returned). */
  readonly secretsSchema: z.ZodType<Secrets>;
  /**
   * Trackers: how long a new ticket may take to show up in `findTicket` (Jira's search index lags
   * behind writes). A failed create is retried no sooner, so the look-before-create sees it.
   */
  searchLagMs?(settings: DestinationSettings<Config, Secrets>): number;
  /** Notifiers: whether `notify` wants the screenshot's bytes (Slack uploads it; a webhook does not). */
  readonly sendsScreenshots?: boolean;
  /** Whether enough is set to deliver (e.g. a token and a project key). */
  isConfigured(settings: DestinationSettings<Config, Secrets>): boolean;
  /**
   * The URLs or hosts an admin configured that this destination will connect to, each with the
   * config field that holds it, so they are checked against the address policy when saved.
   */
  outboundTargets(config: Config): { field: string; target: string }[];

  /** Trackers: creates the ticket. Must put `content.marker` where `findTicket` can see it. */
  createTicket?(settings: DestinationSettings<Config, Secrets>, content: TicketContent, context: DeliveryContext): Promise<TicketReference>;
  /** Trackers: the ticket an earlier (perhaps timed-out) create made for this defect, if any. */
  findTicket?(settings: DestinationSettings<Config, Secrets>, content: TicketContent, context: DeliveryContext): Promise<TicketReference | undefined>;
  /** Trackers: uploads the best screenshot to the ticket. */
  attachScreenshot?(settings: DestinationSettings<Config, Secrets>, ticket: TicketReference, screenshot: Screenshot, context: DeliveryContext): Promise<void>;
  /** Trackers: an idempotent link from the ticket back to the Bugloop defect. */
  linkBack?(settings: DestinationSettings<Config, Secrets>, ticket: TicketReference, content: TicketContent, context: DeliveryContext): Promise<void>;
  /** Trackers: adds a comment (e.g. "3 new reports since it was resolved"). */
  addComment?(settings: DestinationSettings<Config, Secrets>, ticket: TicketReference, text: string, context: DeliveryContext): Promise<void>;
  /** Notifiers: sends one message. */
  notify?(settings: DestinationSettings<Config, Secrets>, message: Notification, context: DeliveryContext): Promise<void>;
  /**
   * Trackers: verifies and parses an inbound webhook into a status change. Throws
   * `InvalidSignatureError` for a bad or stale signature; returns `ignored` for events of no interest.
   */
  parseInboundWebhook?(settings: DestinationSettings<Config, Secrets>, request: InboundRequest): InboundResult;
  /** Trackers: a pre-filled "create issue" page, for when delivery failed for good. */
  createIssueUrl?(settings: DestinationSettings<Config, Secrets>, content: TicketContent): string | undefined;
}

/** A destination row with its secrets decrypted; only ever held in memory during delivery. */
export interface DestinationSettings<Config = Record<string, unknown>, Secrets = Record<string, string | undefined>> {
  id: string;
  projectId: string;
  name: string;
  config: Config;
  secrets: Secrets;
}

export interface DeliveryContext {
  /** Base URL of this Bugloop, for links back. */
  publicUrl: string;
  /** Per remote call; a slower answer counts as a failure (and the job retries). */
  timeoutMs: number;
  /** Every connection goes through it, so private addresses stay out of reach (SSRF). */
  network: OutboundNetwork;
  /**
   * How many times this delivery has been started, this time included, across retries of a dead
   * job too. Above 1 an earlier attempt may have had its effect remotely without our knowing
   * (a timeout after the vendor stored it, a crash or a database outage before we recorded it):
   * a call that is not idempotent by itself must look before acting again.
   */
  attempt: number;
  /** Stable for the life of this delivery (every retry of it): the key remote sides dedupe by. */
  deliveryId: string;
  /** When the delivery was asked for: nothing it caused remotely is older. */
  requestedAt: Date;
  /** For what an operator should fix but that does not stop the delivery (a missing scope, say). */
  warn(details: Record<string, unknown>, message: string): void;
}

/** A ticket in a tracker, as stored in `external_tickets`. */
export interface TicketReference {
  /** The tracker's internal id (Jira issue id, Linear issue uuid). */
  externalId: string;
  /** What people read: PROJ-123, ENG-42. */
  key: string;
  url: string;
  /** Remote state category when known (Jira: new/indeterminate/done; Linear: state type). */
  state?: string | null;
}

/** The best screenshot of a defect, bytes included. */
export interface Screenshot {
  filename: string;
  contentType: string;
  data: Buffer;
  sha256: string;
}

/** Everything a ticket is pre-filled with; built from the database by `ticket-content.ts`. */
export interface TicketContent {
  defectId: string;
  projectId: string;
  /** WEB-42 */
  defectKey: string;
  /** A label-safe marker unique to this defect (`bugloop-<uuid>`): how a lost create is found again. */
  marker: string;
  title: string;
  summary: string;
  status: string;
  severity: string | null;
  priority: string | null;
  component: string | null;
  origin: string;
  /** Reporters' own words, newest first, a few only. */
  quotes: { text: string; receivedAt: Date; release: string | null }[];
  steps: string | null;
  expected: string | null;
  actual: string | null;
  /** Rows of the environment table. */
  environment: { label: string; value: string }[];
  consoleErrors: string[];
  failedRequests: string[];
  reportCount: number;
  affectedUsers: number;
  foundIn: string | null;
  fixedIn: string | null;
  /** Link to the defect in the dashboard. */
  defectUrl: string;
  testCases: { key: string; title: string; url: string }[];
  hasScreenshot: boolean;
}

/** What a notifier sends. */
export type Notification =
  | {
      type: 'defect';
      /** Why it is sent: defect_created, threshold_crossed, reopened, manual. */
      trigger: string;
      content: TicketContent;
      tickets: (TicketReference & { kind: string })[];
      /** Stable across retries, so receivers can drop repeats. */
      deliveryId: string;
      screenshot?: Screenshot;
    }
  | {
      type: 'reporter_update';
      to: string;
      reportReference: string;
      reportTitle: string;
      defectStatus: string;
      fixedIn: string | null;
      /** The site the report came from, where the widget shows a reporter their reports; null when unknown. */
      statusUrl: string | null;
      deliveryId: string;
    };

/** An inbound webhook request, with the raw bytes signatures are computed over. */
export interface InboundRequest {
  headers: Record<string, string | undefined>;
  rawBody: Buffer;
  receivedAt: Date;
}

/** A remote state change on a ticket. */
export interface StatusChange {
  externalId?: string;
  externalKey?: string;
  /** The remote state's name ("In Review") and its category ("done", "completed", "started"). */
  state: { name: string; category: string };
  /** A release the tracker says it is fixed in (Jira fixVersions). */
  fixedIn?: string | null;
}

export type InboundResult =
  | { kind: 'status'; change: StatusChange; deliveryId?: string }
  | { kind: 'ignored'; reason: string; deliveryId?: string };

/** A webhook whose signature is missing, wrong or too old: 401 and nothing changes. */
export class InvalidSignatureError extends Error {
  override name = 'InvalidSignatureError';
}

/**
 * Turns a vendor failure into what the job queue understands: 429 → retry after the server's
 * Retry-After; other 4xx (bad token, unknown project) → permanent, retrying cannot help;
 * 5xx, timeouts and network errors → ordinary retry with backoff.
 */
export function classifyRemoteFailure(error: unknown, details: { status?: number; retryAfterSeconds?: number | null }, what: string): Error {
  const message = `${what}: ${(error as Error)?.message ?? String(error)}`;
  // A refused address will not become public by retrying.
  if (isBlockedAddressError(error)) return new PermanentJobError(`${what}: ${blockedMessage(error)}`);
  const status = details.status;
  if (status === 429) {
    const seconds = details.retryAfterSeconds ?? 60;
    return new RetryLaterError(`${message} (rate limited, retry in ${seconds}s)`, Math.max(1, seconds) * 1000);
  }
  if (status && status >= 400 && status < 500 && ![408, 409, 425].includes(status)) {
    return new PermanentJobError(`${message} (HTTP ${status})`);
  }
  return new Error(status ? `${message} (HTTP ${status})` : message, { cause: error });
}

/** Parses a Retry-After header (seconds or an HTTP date) into seconds. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

function blockedMessage(error: unknown): string {
  for (let current = error, depth = 0; current && depth < 8; current = (current as { cause?: unknown }).cause, depth += 1) {
    if ((current as Error).name === 'BlockedAddressError') return (current as Error).message;
  }
  return String(error);
}
