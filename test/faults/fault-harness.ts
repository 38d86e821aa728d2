import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Kysely, sql } from 'kysely';
import { expect } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../server/db/database';
import type { Database } from '../../server/db/schema';
import { migrateToLatest } from '../../server/db/migrate';
import { createLogger } from '../../server/logger';
import { createProject } from '../../server/projects/project-service';
import { createRule } from '../../server/routing/routing-rules';
import { addDestination, testPublicUrl, testSecretKey } from '../support/integrations';
import { makePng } from '../support/images';
import { freePort, startPrivatePostgres, type PrivatePostgres } from '../support/private-postgres';
import { createFakeJira } from '../contract/fakes/fake-jira';
import { createFakeLinear } from '../contract/fakes/fake-linear';
import { createFakeSlack } from '../contract/fakes/fake-slack';
import { createFakeWebhookReceiver } from '../contract/fakes/fake-webhook-receiver';

/**
 * What the fault tests share: real `bugloop serve` processes (the binary, as an operator runs
 * it), widget-like clients that resend a report with the same id until it is accepted, the fake
 * vendors, and the counts every test ends with.
 */
const binary = path.resolve('bin/bugloop.js');

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** stdout and stderr so far, for failure messages. */
  output(): string;
  /** Resolves when the process has exited (by itself or killed). */
  exited: Promise<number | null>;
  /** A message with the output's tail when the process has died without being asked to; undefined while it runs. */
  died(): string | undefined;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** The environment every server process of a fault test gets, plus its own overrides. */
export function serverEnvironment(databaseUrl: string, overrides: Record<string, string> = {}): Record<string, string> {
  const environment: Record<string, string> = {
    ...(process.env as Record<string, string>),
    DATABASE_URL: databaseUrl,
    HOST: '127.0.0.1',
    BUGLOOP_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'bugloop-fault-')),
    SECRET_KEY: testSecretKey,
    PUBLIC_URL: testPublicUrl,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_IP_PER_MINUTE: '1000000',
    RATE_LIMIT_PER_KEY_PER_MINUTE: '1000000',
    JOB_POLL_INTERVAL_MS: '50',
    JOB_CONCURRENCY: '4',
    // Orphans of a killed process are taken over after this long; live workers renew their leases.
    JOB_LEASE_MS: '2000',
    // The fake vendors listen on 127.0.0.1, which the SSRF guard refuses by default.
    ALLOW_PRIVATE_DESTINATION_ADDRESSES: 'true',
    ...overrides,
  };
  return environment;
}

/** Starts `bugloop serve` and resolves once it listens (its banner is printed). */
export function startServerProcess(environment: Record<string, string>, port: number): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binary, 'serve'], { env: { ...environment, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let started = false;
    let killed = false;
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const timer = setTimeout(() => reject(new Error(`serve did not start within 90 s:\n${output}`)), 90_000);
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-200_000);
      if (!started && /Demo key:|Dashboard:/.test(output) && /\n\s*\n/.test(output.slice(output.indexOf('Dashboard:')))) {
        started = true;
        clearTimeout(timer);
        resolve({
          child,
          url: `http://127.0.0.1:${port}`,
          port,
          output: () => output,
          exited,
          died: () => (!killed && (child.exitCode !== null || child.signalCode !== null) ? `server on port ${port} died (${child.exitCode ?? child.signalCode}):\n${output.slice(-6000)}` : undefined),
          async kill(signal) {
            killed = true;
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill(signal);
            await exited;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      if (!started) {
        clearTimeout(timer);
        reject(new Error(`serve exited with ${code} before listening:\n${output}`));
      }
    });
  });
}

/** Migrates the database (as the first server would) and opens it for the test's own reads and set-up. */
export async function openFaultDatabase(url: string): Promise<DatabaseHandle> {
  const database = await openDatabase({ kind: 'postgres', url, poolSize: 4 }, createLogger('silent'));
  await migrateToLatest(database.db, createLogger('silent'));
  return database;
}

/** A project with no allowed origins needed: the load clients send no Origin, like a server-side SDK. */
export async function createFaultProject(db: Kysely<Database>) {
  return createProject(db, { name: `Fault ${randomUUID().slice(0, 6)}`, allowedOrigins: ['https://shop.example.com'] });
}

/** Words nobody else uses, so each report becomes its own defect (dedup has nothing to merge). */
function nonsenseWords(count: number): string {
  return Array.from({ length: count }, () => randomBytes(6).toString('base64url').replace(/[^a-zA-Z]/g, 'q').toLowerCase()).join(' ');
}

export interface LoadReport {
  id: string;
  description: string;
  screenshot?: Buffer;
}

/** `count` reports with distinct texts; every `screenshotEvery`-th carries a small PNG. */
export function makeReports(count: number, options: { screenshotEvery?: number } = {}): LoadReport[] {
  return Array.from({ length: count }, (_, index) => ({
    id: randomUUID(),
    description: `Fault report ${index}: ${nonsenseWords(8)}`,
    ...(options.screenshotEvery && index % options.screenshotEvery === 0 ? { screenshot: makePng(24 + (index % 7), 16) } : {}),
  }));
}

export interface Attempt {
  reportId: string;
  /** HTTP status, or 0 when the request failed without an answer (connection refused, reset, timeout). */
  status: number;
  code?: string;
  durationMs: number;
  error?: string;
}

/**
 * Sends reports the way the widget does: a 2xx or a permanent 4xx ends a report's life; a
 * network error, 429 or 5xx means "try again later with the same id". Every attempt is recorded.
 */
export class WidgetLikeClients {
  readonly accepted = new Set<string>();
  readonly rejected: Attempt[] = [];
  readonly attempts: Attempt[] = [];

  constructor(
    private readonly baseUrl: () => string,
    private readonly publicKey: string,
    private readonly options: {
      requestTimeoutMs?: number;
      retryDelayMs?: number;
      giveUpAfterMs?: number;
      /** Stops everything with this error (e.g. the server process died, which no retry can mend). */
      fatal?: () => string | undefined;
    } = {},
  ) {}

  /** Sends all reports with `concurrency` clients; resolves when each was accepted, refused or given up. */
  async send(reports: LoadReport[], concurrency: number, onAccepted?: (accepted: number) => void): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < reports.length) {
        const report = reports[next++];
        await this.sendOne(report);
        onAccepted?.(this.accepted.size);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  private async sendOne(report: LoadReport): Promise<void> {
    const deadline = Date.now() + (this.options.giveUpAfterMs ?? 120_000);
    for (let attempt = 1; Date.now() < deadline; attempt += 1) {
      const fatal = this.options.fatal?.();
      if (fatal) throw new Error(fatal);
      const started = performance.now();
      const record: Attempt = { reportId: report.id, status: 0, durationMs: 0 };
      try {
        const response = await fetch(`${this.baseUrl()}/api/v1/reports`, {
          method: 'POST',
          headers: { 'x-bugloop-key': this.publicKey, ...(report.screenshot ? {} : { 'content-type': 'application/json' }) },
          body: reportBody(report),
          signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000),
        });
        record.status = response.status;
        const text = await response.text();
        if (response.status >= 400) record.code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
      } catch (error) {
        record.error = `${(error as Error).name}: ${(error as Error).message} ${String((error as { cause?: { code?: string } }).cause?.code ?? '')}`.trim();
      }
      record.durationMs = performance.now() - started;
      this.attempts.push(record);
      if (record.status >= 200 && record.status < 300) {
        this.accepted.add(report.id);
        return;
      }
      if (record.status >= 400 && record.status < 500 && record.status !== 429) {
        this.rejected.push(record);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, (this.options.retryDelayMs ?? 100) * attempt)));
    }
  }
}

function reportBody(report: LoadReport): string | FormData {
  const json = JSON.stringify({ id: report.id, description: report.description, url: 'https://shop.example.com/checkout' });
  if (!report.screenshot) return json;
  const form = new FormData();
  form.set('report', json);
  form.set('screenshot', new Blob([new Uint8Array(report.screenshot)], { type: 'image/png' }), 'screenshot.png');
  return form;
}

export interface ReportCounts {
  stored: number;
  distinctClientIds: number;
  processed: number;
  /** Reports whose `report_added` history event is not exactly one. */
  notAddedExactlyOnce: number;
  jobs: Record<string, number>;
  defects: number;
}

/** What the database holds for a project: the other side of "sent = stored = processed". */
export async function reportCounts(db: Kysely<Database>, projectId: string): Promise<ReportCounts> {
  const reports = await db
    .selectFrom('reports')
    .select((eb) => [
      eb.fn.countAll<string>().as('stored'),
      sql<string>`count(distinct client_id)`.as('distinctClientIds'),
      sql<string>`count(*) filter (where state = 'processed')`.as('processed'),
      sql<string>`count(*) filter (where (select count(*) from defect_events e where e.kind = 'report_added' and e.new_value ->> 'reportId' = reports.id::text) <> 1)`.as('notAddedExactlyOnce'),
    ])
    .where('projectId', '=', projectId)
    .executeTakeFirstOrThrow();
  const jobs = await db.selectFrom('jobs').select(['state', (eb) => eb.fn.countAll<string>().as('count')]).where('projectId', '=', projectId).groupBy('state').execute();
  const defects = await db.selectFrom('defects').select((eb) => eb.fn.countAll<string>().as('count')).where('projectId', '=', projectId).executeTakeFirstOrThrow();
  return {
    stored: Number(reports.stored),
    distinctClientIds: Number(reports.distinctClientIds),
    processed: Number(reports.processed),
    notAddedExactlyOnce: Number(reports.notAddedExactlyOnce),
    jobs: Object.fromEntries(jobs.map((row) => [row.state, Number(row.count)])),
    defects: Number(defects.count),
  };
}

/** The ids of the reports stored for a project. */
export async function storedClientIds(db: Kysely<Database>, projectId: string): Promise<Set<string>> {
  const rows = await db.selectFrom('reports').select('clientId').where('projectId', '=', projectId).execute();
  return new Set(rows.map((row) => row.clientId));
}

/** Waits until the project's job queue has nothing pending or running (or the time is up). */
export async function waitForQueueToDrain(db: Kysely<Database>, projectId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('projectId', '=', projectId)
      .where('state', 'in', ['pending', 'running'])
      .executeTakeFirstOrThrow();
    if (Number(open.count) === 0) return;
    if (Date.now() > deadline) {
      const detail = await db
        .selectFrom('jobs')
        .select([
          sql<string>`kind || ' ' || state`.as('group'),
          (eb) => eb.fn.countAll<string>().as('count'),
          sql<string>`max(total_attempts)`.as('maxAttempts'),
          sql<string>`min(run_at)::text`.as('firstRunAt'),
          sql<string>`min(locked_at)::text`.as('oldestLock'),
          sql<string>`left(max(last_error), 160)`.as('lastError'),
        ])
        .where('projectId', '=', projectId)
        .where('state', 'in', ['pending', 'running'])
        .groupBy(['kind', 'state'])
        .execute();
      throw new Error(`the job queue did not drain within ${timeoutMs} ms (now ${new Date().toISOString()}): ${open.count} open\n${detail.map((row) => JSON.stringify(row)).join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Polls `condition` every 250 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Makes pending jobs due now, so a test need not sit out long backoffs once the fault is over. */
export async function makeProjectJobsDue(db: Kysely<Database>, projectId: string): Promise<void> {
  await db.updateTable('jobs').set({ runAt: new Date() }).where('projectId', '=', projectId).where('state', '=', 'pending').execute();
}

export type FakeVendors = Awaited<ReturnType<typeof startFakeVendors>>;

/** Fake Jira, Linear, Slack and webhook receiver on local ports. */
export async function startFakeVendors(options: { jiraSearchLagMs?: number } = {}) {
  const credentials = { email: 'bot@example.com', apiToken: 'jira-api-token-123', projectKey: 'WEB' };
  const linearAccount = { apiKey: 'lin_api_testkey', teamId: 'team-1', teamKey: 'ENG' };
  const slackToken = 'xoxb-fault-token';
  const jira = createFakeJira({ ...credentials, searchLagMs: options.jiraSearchLagMs });
  const linear = createFakeLinear(linearAccount);
  const slack = createFakeSlack({ botToken: slackToken });
  const webhook = createFakeWebhookReceiver();
  await Promise.all([jira.server.start(), linear.server.start(), slack.server.start(), webhook.server.start()]);
  return {
    jira,
    linear,
    slack,
    webhook,
    all: [jira.server, linear.server, slack.server, webhook.server],
    /** Stores the four destinations and one rule sending every new defect to all of them. */
    async configure(db: Kysely<Database>, projectId: string, settings: { maxAttempts?: number; timeoutMs?: number; jiraSearchLagSeconds?: number } = {}) {
      const common = { maxAttempts: settings.maxAttempts ?? 12, timeoutMs: settings.timeoutMs ?? 2000 };
      const destinations = {
        jira: await addDestination(db, projectId, {
          kind: 'jira',
          name: 'Jira WEB',
          config: { baseUrl: jira.server.url, projectKey: credentials.projectKey, email: credentials.email, searchLagSeconds: settings.jiraSearchLagSeconds ?? 1 },
          secrets: { apiToken: credentials.apiToken },
          ...common,
        }),
        linear: await addDestination(db, projectId, {
          kind: 'linear',
          name: 'Linear ENG',
          config: { teamId: linearAccount.teamId, teamKey: linearAccount.teamKey, apiUrl: `${linear.server.url}/graphql` },
          secrets: { apiKey: linearAccount.apiKey },
          ...common,
        }),
        slack: await addDestination(db, projectId, { kind: 'slack', name: '#bugs', config: { channel: 'C0123BUGS', apiUrl: `${slack.server.url}/api/` }, secrets: { botToken: slackToken }, ...common }),
        webhook: await addDestination(db, projectId, {
          kind: 'webhook',
          name: 'ops hook',
          config: { url: `${webhook.server.url}/hooks/bugloop` },
          secrets: { signingSecret: 'whsec_0123456789abcdef' },
          ...common,
        }),
      };
      await createRule(db, projectId, {
        name: 'Everything everywhere',
        triggers: ['defect_created'],
        conditions: {},
        actions: [
          { type: 'create_ticket', destinationId: destinations.jira.id },
          { type: 'create_ticket', destinationId: destinations.linear.id },
          { type: 'notify_slack', destinationId: destinations.slack.id },
          { type: 'call_webhook', destinationId: destinations.webhook.id },
        ],
      });
      return destinations;
    },
    async close() {
      await Promise.all([jira.server.close(), linear.server.close(), slack.server.close(), webhook.server.close()]);
    },
  };
}

/** Duplicates in a list: the values that occur more than once. */
export function repeated<T>(values: T[]): T[] {
  const seen = new Set<T>();
  const twice = new Set<T>();
  for (const value of values) (seen.has(value) ? twice : seen).add(value);
  return [...twice];
}

/** "12 ms" style figure for logs. */
export function elapsed(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/**
 * The end of every fault test with destinations: for each defect of the project, one Jira issue
 * (found by its label), one Linear issue, one remote link / link back each, the screenshot at most
 * once, one Slack message (each delivery id once), one processed webhook, two ticket rows.
 * Returns the figures for the log.
 */
export async function expectEachDeliveredOnce(db: Kysely<Database>, projectId: string, vendors: FakeVendors) {
  const { jira, linear, slack, webhook } = vendors;
  const defects = await db.selectFrom('defects').select('id').where('projectId', '=', projectId).execute();
  const withScreenshot = await db
    .selectFrom('defects')
    .select('defects.id')
    .where('defects.projectId', '=', projectId)
    .where(sql<boolean>`exists (select 1 from reports r join report_attachments a on a.report_id = r.id where r.defect_id = defects.id and a.kind = 'screenshot')`)
    .execute();
  const count = defects.length;
  const markers = new Set(defects.map((defect) => `bugloop-${defect.id}`));

  // Jira: one issue per defect, found by its label; one remote link each; a screenshot at most once.
  expect(jira.issues).toHaveLength(count);
  expect(new Set(jira.issues.map((issue) => issue.fields.labels.find((label) => markers.has(label))))).toEqual(markers);
  expect(jira.issues.filter((issue) => issue.remoteLinks.length !== 1)).toEqual([]);
  expect(jira.issues.filter((issue) => issue.attachments.length > 1)).toEqual([]);
  expect(jira.issues.reduce((total, issue) => total + issue.attachments.length, 0)).toBe(withScreenshot.length);

  // Linear: one issue per defect (Bugloop chose its id), one link back, a screenshot at most once.
  expect(linear.issues).toHaveLength(count);
  expect(linear.issues.filter((issue) => issue.attachments.filter((attachment) => attachment.title !== 'Screenshot').length !== 1)).toEqual([]);
  expect(linear.issues.reduce((total, issue) => total + issue.attachments.filter((attachment) => attachment.title === 'Screenshot').length, 0)).toBe(withScreenshot.length);

  // Slack: one message per defect, each delivery id once; a screenshot at most once per thread.
  expect(slack.messages).toHaveLength(count);
  expect(repeated(slack.messages.map((message) => message.metadata?.event_payload.delivery_id))).toEqual([]);
  expect(repeated(slack.fileShares.map((share) => share.threadTs))).toEqual([]);

  // Webhook: repeats may arrive (that is what the key is for); each delivery is processed once.
  const hook = '/hooks/bugloop';
  expect(webhook.processed.filter((request) => request.path === hook)).toHaveLength(count);
  expect(new Set(webhook.server.calls('POST', /^\/hooks\/bugloop$/).map((request) => request.headers['idempotency-key'])).size).toBe(count);

  const tickets = await db.selectFrom('externalTickets').innerJoin('defects', 'defects.id', 'externalTickets.defectId').select('externalTickets.id').where('defects.projectId', '=', projectId).execute();
  expect(tickets).toHaveLength(2 * count);
  return { defects: count, withScreenshot: withScreenshot.length };
}

export interface FaultEnvironment {
  postgres: PrivatePostgres;
  database: DatabaseHandle;
  project: Awaited<ReturnType<typeof createFaultProject>>;
  /** Present when asked for: the fake Jira, Linear, Slack and webhook receiver. */
  vendors: FakeVendors;
}

/** A private cluster, the migrated database, a project and (optionally) the fake vendors. */
export async function startFaultEnvironment(options: { vendors?: { jiraSearchLagMs?: number } } = {}): Promise<FaultEnvironment> {
  const postgres = await startPrivatePostgres();
  const database = await openFaultDatabase(postgres.url);
  const project = await createFaultProject(database.db);
  const vendors = options.vendors ? await startFakeVendors(options.vendors) : (undefined as unknown as FakeVendors);
  return { postgres, database, project, vendors };
}

/** Stops the servers (SIGTERM), the fakes, the database handle and the cluster, whatever got started. */
export async function stopFaultEnvironment(environment: Partial<FaultEnvironment> | undefined, servers: (ServerProcess | undefined)[]): Promise<void> {
  await Promise.all(servers.map((server) => server?.kill('SIGTERM')));
  await environment?.vendors?.close();
  await environment?.database?.close();
  environment?.postgres?.destroy();
}
