import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../server/db/database';
import { enqueueDelivery } from '../../server/integrations/delivery-queue';
import { BlockedAddressError, createOutboundNetwork, type HostResolver } from '../../server/integrations/outbound-network';
import { createTestDatabase } from '../support/test-database';
import { addDestination, integrationWorker, seedDefect } from '../support/integrations';
import { createFakeJira } from './fakes/fake-jira';
import { createFakeLinear } from './fakes/fake-linear';
import { createFakeSlack } from './fakes/fake-slack';
import { FakeServer } from './fakes/fake-server';
import { createFakeWebhookReceiver } from './fakes/fake-webhook-receiver';
import { startSmtpSink } from './fakes/smtp-sink';

/**
 * The connect-time half of the SSRF defence, with the real SDKs: destinations saved while a
 * name pointed somewhere public (or saved on a server that allowed private addresses) must not
 * reach loopback when they deliver under the default policy. Every fake here listens on
 * 127.0.0.1 and must receive nothing. No test connects to any address outside this machine:
 * refused addresses are refused before a socket is opened.
 */
let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

/** A resolver whose answers the test chooses, like an attacker's DNS server. */
function resolverOf(answers: Record<string, string[]>): HostResolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (hostname: string) => {
    asked.push(hostname);
    const addresses = answers[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolve, { asked });
}

const strict = createOutboundNetwork({ allowPrivateAddresses: false });

async function deliverStrictly(projectId: string, defectId: string, destination: Awaited<ReturnType<typeof addDestination>>) {
  await database.db.transaction().execute((trx) => enqueueDelivery(trx, destination, defectId, 'manual', ''));
  await integrationWorker(database.db, strict).drain();
  return database.db.selectFrom('jobs').select(['state', 'lastError', 'attempts']).where('projectId', '=', projectId).where('kind', 'like', 'integration.%').execute();
}

describe('connect-time address checks through each SDK', () => {
  it('the webhook (fetch) refuses a loopback URL: the job is dead at once, the receiver got nothing', async () => {
    const receiver = createFakeWebhookReceiver();
    await receiver.server.start();
    try {
      const { projectId, defectId } = await seedDefect(database.db);
      const destination = await addDestination(database.db, projectId, { kind: 'webhook', name: 'ops', config: { url: `${receiver.server.url}/hook` }, secrets: { signingSecret: 'whsec_0123456789abcdef' } });
      const jobs = await deliverStrictly(projectId, defectId, destination);
      expect(jobs).toEqual([expect.objectContaining({ state: 'dead', attempts: 1 })]);
      expect(jobs[0].lastError).toContain('loopback');
      expect(receiver.server.requests).toHaveLength(0);
    } finally {
      await receiver.server.close();
    }
  });

  it('Jira (jira.js over axios) refuses a loopback base URL', async () => {
    const jira = createFakeJira({ email: 'bot@example.com', apiToken: 'jira-api-token-123', projectKey: 'WEB' });
    await jira.server.start();
    try {
      const { projectId, defectId } = await seedDefect(database.db);
      const destination = await addDestination(database.db, projectId, {
        kind: 'jira',
        name: 'Jira',
        config: { baseUrl: jira.server.url, projectKey: 'WEB', email: 'bot@example.com' },
        secrets: { apiToken: 'jira-api-token-123' },
      });
      const jobs = await deliverStrictly(projectId, defectId, destination);
      expect(jobs.map((job) => job.state)).toEqual(['dead']);
      expect(jobs[0].lastError).toContain('loopback');
      expect(jira.server.requests).toHaveLength(0);
    } finally {
      await jira.server.close();
    }
  });

  it('Linear (@linear/sdk over the global fetch) refuses a localhost API URL', async () => {
    const linear = createFakeLinear({ apiKey: 'lin_api_testkey', teamId: 'team-1', teamKey: 'ENG' });
    await linear.server.start();
    try {
      const { projectId, defectId } = await seedDefect(database.db);
      const destination = await addDestination(database.db, projectId, {
        kind: 'linear',
        name: 'Linear',
        config: { teamId: 'team-1', apiUrl: `${linear.server.url.replace('127.0.0.1', 'localhost')}/graphql` },
        secrets: { apiKey: 'lin_api_testkey' },
      });
      const jobs = await deliverStrictly(projectId, defectId, destination);
      expect(jobs.map((job) => job.state)).toEqual(['dead']);
      expect(jobs[0].lastError).toMatch(/localhost/);
      expect(linear.server.requests).toHaveLength(0);
    } finally {
      await linear.server.close();
    }
  });

  it('Slack (@slack/web-api with our fetch) refuses a loopback API URL', async () => {
    const slack = createFakeSlack({ botToken: 'xoxb-test-token' });
    await slack.server.start();
    try {
      const { projectId, defectId } = await seedDefect(database.db);
      const destination = await addDestination(database.db, projectId, { kind: 'slack', name: '#bugs', config: { channel: 'C0123BUGS', apiUrl: `${slack.server.url}/api/` }, secrets: { botToken: 'xoxb-test-token' } });
      const jobs = await deliverStrictly(projectId, defectId, destination);
      expect(jobs.map((job) => job.state)).toEqual(['dead']);
      expect(jobs[0].lastError).toContain('loopback');
      expect(slack.server.requests).toHaveLength(0);
    } finally {
      await slack.server.close();
    }
  });

  it('email (nodemailer) refuses a loopback SMTP host', async () => {
    const sink = await startSmtpSink();
    try {
      const { projectId, defectId } = await seedDefect(database.db);
      const destination = await addDestination(database.db, projectId, {
        kind: 'email',
        name: 'Team mail',
        config: { host: '127.0.0.1', port: sink.port, ignoreTls: true, from: 'bugs@example.com', teamAddress: 'team@example.com' },
      });
      const jobs = await deliverStrictly(projectId, defectId, destination);
      expect(jobs.map((job) => job.state)).toEqual(['dead']);
      expect(jobs[0].lastError).toContain('loopback');
      expect(sink.received).toHaveLength(0);
    } finally {
      await sink.close();
    }
  });
});

describe('DNS answers are checked when connecting, not only when saving', () => {
  it('refuses a name that resolves to loopback now, though it may have been public when saved (rebinding)', async () => {
    const receiver = createFakeWebhookReceiver();
    await receiver.server.start();
    try {
      const port = new URL(receiver.server.url).port;
      const resolver = resolverOf({ 'hooks.rebind.test': ['127.0.0.1'] });
      const network = createOutboundNetwork({ allowPrivateAddresses: false, resolver });
      const failure = await network.fetch(`http://hooks.rebind.test:${port}/hook`, { method: 'POST', body: '{}' }).catch((error: Error) => error);
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error & { cause?: unknown }).cause).toBeInstanceOf(BlockedAddressError);
      expect(resolver.asked).toEqual(['hooks.rebind.test']);
      expect(receiver.server.requests).toHaveLength(0);
    } finally {
      await receiver.server.close();
    }
  });

  it('refuses a name when any one of its addresses is private, so a mixed answer cannot be raced', async () => {
    const resolver = resolverOf({ 'mixed.test': ['93.184.216.34', '10.0.0.7'] });
    const network = createOutboundNetwork({ allowPrivateAddresses: false, resolver });
    const failure = await network.fetch('http://mixed.test/hook').catch((error: Error & { cause?: Error }) => error.cause);
    expect(failure).toBeInstanceOf(BlockedAddressError);
    expect((failure as Error).message).toContain('10.0.0.7');
    await expect(network.resolveChecked('mixed.test')).rejects.toBeInstanceOf(BlockedAddressError);
  });

  it('refuses IP literals that never reach a resolver: loopback, private, IPv6 loopback, metadata', async () => {
    const resolver = resolverOf({});
    const network = createOutboundNetwork({ allowPrivateAddresses: false, resolver });
    for (const url of ['http://127.0.0.1:8080/', 'http://10.1.2.3/', 'http://[::1]:8080/', 'http://169.254.169.254/latest/meta-data/', 'http://[::ffff:127.0.0.1]:8080/', 'http://0x7f.1/']) {
      const failure = await network.fetch(url).catch((error: Error & { cause?: Error }) => error.cause);
      expect(failure, url).toBeInstanceOf(BlockedAddressError);
    }
    for (const agent of [network.httpAgent!]) {
      const failure = await new Promise<Error>((resolve) => {
        http.get({ host: '169.254.169.254', path: '/latest/meta-data/', agent }, () => resolve(new Error('connected'))).on('error', resolve);
      });
      expect(failure).toBeInstanceOf(BlockedAddressError);
    }
    expect(resolver.asked).toEqual([]);
  });

  it('re-checks every redirect hop: an allowed first hop redirecting to loopback is refused at the hop', async () => {
    // The first hop stands for a public server: it listens on 127.0.0.2, exempted for this test.
    const target = new FakeServer(() => ({ status: 200, body: { secret: 'metadata' } }));
    await target.start();
    const redirector = http.createServer((_request, response) => {
      response.writeHead(302, { location: `http://metadata.rebind.test:${new URL(target.url).port}/latest` });
      response.end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.2', resolve));
    try {
      const resolver = resolverOf({ 'public.example.test': ['127.0.0.2'], 'metadata.rebind.test': ['127.0.0.1'] });
      const network = createOutboundNetwork({ allowPrivateAddresses: false, resolver, exemptAddresses: ['127.0.0.2'] });
      const port = (redirector.address() as AddressInfo).port;
      const failure = await network.fetch(`http://public.example.test:${port}/hook`).catch((error: Error & { cause?: Error }) => error.cause);
      expect(failure).toBeInstanceOf(BlockedAddressError);
      expect(resolver.asked).toEqual(['public.example.test', 'metadata.rebind.test']);
      expect(target.requests).toHaveLength(0);
    } finally {
      await target.close();
      redirector.closeAllConnections();
      await new Promise<void>((resolve) => redirector.close(() => resolve()));
    }
  });

  it('the webhook never follows a redirect, even where private addresses are allowed', async () => {
    const target = createFakeWebhookReceiver();
    await target.server.start();
    const redirector = new FakeServer(() => ({ status: 307, headers: { location: `${target.server.url}/elsewhere` } }));
    await redirector.start();
    try {
      const { projectId, defectId } = await seedDefect(database.db);
      const destination = await addDestination(database.db, projectId, { kind: 'webhook', name: 'ops', config: { url: `${redirector.url}/hook` }, secrets: { signingSecret: 'whsec_0123456789abcdef' } });
      await database.db.updateTable('destinations').set({ maxAttempts: 1 }).where('id', '=', destination.id).execute();
      await database.db.transaction().execute((trx) => enqueueDelivery(trx, { ...destination, maxAttempts: 1 }, defectId, 'manual', ''));
      await integrationWorker(database.db).drain();
      expect(redirector.requests).toHaveLength(1);
      expect(target.server.requests).toHaveLength(0);
    } finally {
      await target.server.close();
      await redirector.close();
    }
  });
});

describe('with ALLOW_PRIVATE_DESTINATION_ADDRESSES', () => {
  it('connects to local addresses as before (self-hosted trackers on the local network)', async () => {
    const server = http.createServer((_request, response) => response.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const network = createOutboundNetwork({ allowPrivateAddresses: true });
      const response = await network.fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      expect(await response.text()).toBe('ok');
      expect(await network.resolveChecked('localhost')).toBe('localhost');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
