import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { createRequire } from 'node:module';
import type { Agent as UndiciAgentType, buildConnector as BuildConnector, Dispatcher } from 'undici';
import { AppError } from '../http/app-error';
import { bareAddress, blockedAddressReason, isLocalHostName } from './address-policy';

// undici's index sets itself up as the process-wide fetch dispatcher on import, which would change
// every other fetch in the process (Node's own fetch, OpenAI's SDK). Its Agent and connector are
// loaded directly instead, so only the requests given our dispatcher use them.
const require = createRequire(import.meta.url);
const UndiciAgent = require('undici/lib/dispatcher/agent.js') as typeof UndiciAgentType;
const buildConnector = require('undici/lib/core/connect.js') as typeof BuildConnector;

/** Resolves a host name to every address it has (dns.lookup with all: true by default). */
export type HostResolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

const systemResolver: HostResolver = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/** A connection refused because its address is not public. Delivery treats it as permanent. */
export class BlockedAddressError extends Error {
  override name = 'BlockedAddressError';
  readonly code = 'destination_address_not_allowed';
}

/** True when `error` or anything in its `cause` chain is a BlockedAddressError. */
export function isBlockedAddressError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 8; current = (current as { cause?: unknown }).cause, depth += 1) {
    if (current instanceof BlockedAddressError) return true;
  }
  return false;
}

/**
 * How destinations reach the outside world. By default every connection is checked at connect
 * time: the host is resolved, every address it resolves to must be public, and the socket is
 * opened to one of the addresses just checked (never resolved again), so a DNS answer that
 * changes between the check and the connection (rebinding) cannot slip through. Redirects are
 * new connections and pass the same check. `ALLOW_PRIVATE_DESTINATION_ADDRESSES=true` turns it
 * off for self-hosted set-ups whose trackers live on the local network (and for the tests'
 * fake servers on 127.0.0.1).
 */
export interface OutboundNetwork {
  readonly allowPrivateAddresses: boolean;
  /** `fetch` whose connections are checked (for the webhook, uploads, Slack's SDK). */
  readonly fetch: typeof fetch;
  /** For SDKs that call the global fetch and pass their options through (Linear). */
  readonly dispatcher: Dispatcher | undefined;
  /** For axios-based SDKs (jira.js). */
  readonly httpAgent: http.Agent | undefined;
  readonly httpsAgent: https.Agent | undefined;
  /** A checked address to connect to (SMTP), or the host itself when private addresses are allowed. */
  resolveChecked(hostname: string): Promise<string>;
  /**
   * Save-time check of a URL or host a project admin typed: 400 `destination_address_not_allowed`
   * naming `field` when it is, or resolves to, a non-public address. A name that does not resolve
   * now is accepted (the connect-time check still applies).
   */
  checkTarget(target: string, field: string): Promise<void>;
}

function refusal(host: string, address: string, reason: string): BlockedAddressError {
  const shown = host === address ? address : `${host} (${address})`;
  return new BlockedAddressError(`${shown} is ${reason}; Bugloop sends only to public addresses unless ALLOW_PRIVATE_DESTINATION_ADDRESSES=true`);
}

interface Policy {
  resolver: HostResolver;
  /** Addresses allowed although they are not public. */
  exempt: Set<string>;
}

const reasonUnder = (policy: Policy, address: string) => (policy.exempt.has(bareAddress(address)) ? undefined : blockedAddressReason(address));

/** Resolves `hostname` and checks every address; answers the checked addresses. */
async function resolvePublic(policy: Policy, hostname: string): Promise<{ address: string; family: number }[]> {
  const host = bareAddress(hostname);
  if (isIP(host)) {
    const reason = reasonUnder(policy, host);
    if (reason) throw refusal(host, host, reason);
    return [{ address: host, family: isIP(host) }];
  }
  if (isLocalHostName(host)) throw refusal(host, host, 'a name for this machine or its local network');
  const addresses = await policy.resolver(host);
  if (addresses.length === 0) throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' });
  for (const { address } of addresses) {
    const reason = reasonUnder(policy, address);
    if (reason) throw refusal(host, address, reason);
  }
  return addresses;
}

/** A `lookup` for net/tls connections that hands out only checked addresses. */
function checkedLookup(policy: Policy): LookupFunction {
  return (hostname, options, callback) => {
    resolvePublic(policy, hostname).then(
      (addresses) => {
        const family = typeof options === 'object' ? options.family : options;
        const wanted = family === 4 || family === 6 ? addresses.filter((entry) => entry.family === family) : addresses;
        if (wanted.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' }), '', 0);
          return;
        }
        if (typeof options === 'object' && options.all) (callback as unknown as (error: null, addresses: { address: string; family: number }[]) => void)(null, wanted);
        else callback(null, wanted[0].address, wanted[0].family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}

/** net.connect skips `lookup` for IP literals, so those are checked before connecting. */
function literalRefusal(policy: Policy, host: string | null | undefined): BlockedAddressError | undefined {
  const bare = bareAddress(host ?? '');
  if (!isIP(bare)) return undefined;
  const reason = reasonUnder(policy, bare);
  return reason ? refusal(bare, bare, reason) : undefined;
}

type CreateConnection = (options: { host?: string | null }, callback: (error: Error | null, socket?: unknown) => void) => unknown;

/** An http(s) agent whose sockets use the checked lookup, and that refuses non-public IP literals. */
function guardedAgent<T extends http.Agent>(policy: Policy, agent: T): T {
  const target = agent as unknown as { createConnection: CreateConnection };
  const create = target.createConnection.bind(agent);
  target.createConnection = (options, callback) => {
    const refused = literalRefusal(policy, options.host);
    if (refused) {
      callback(refused);
      return undefined;
    }
    return create(options, callback);
  };
  return agent;
}

/**
 * Builds the outbound network for one server (the policy comes from the config). `resolver`
 * replaces DNS and `exemptAddresses` allows single non-public addresses (both for tests).
 */
export function createOutboundNetwork(options: { allowPrivateAddresses: boolean; resolver?: HostResolver; exemptAddresses?: string[] }): OutboundNetwork {
  const policy: Policy = { resolver: options.resolver ?? systemResolver, exempt: new Set(options.exemptAddresses ?? []) };
  if (options.allowPrivateAddresses) {
    return {
      allowPrivateAddresses: true,
      fetch: (input, init) => globalThis.fetch(input, init),
      dispatcher: undefined,
      httpAgent: undefined,
      httpsAgent: undefined,
      resolveChecked: async (hostname) => hostname,
      checkTarget: async () => undefined,
    };
  }
  const lookup = checkedLookup(policy);
  const connect = buildConnector({ lookup } as BuildConnector.BuildOptions);
  const dispatcher = new UndiciAgent({
    connect: (connectOptions, callback) => {
      const refused = literalRefusal(policy, connectOptions.hostname);
      if (refused) callback(refused, null);
      else connect(connectOptions, callback);
    },
  });
  return {
    allowPrivateAddresses: false,
    fetch: (input, init) => globalThis.fetch(input, { ...init, dispatcher } as RequestInit),
    dispatcher,
    httpAgent: guardedAgent(policy, new http.Agent({ lookup })),
    httpsAgent: guardedAgent(policy, new https.Agent({ lookup })),
    resolveChecked: async (hostname) => (await resolvePublic(policy, hostname))[0].address,
    async checkTarget(target, field) {
      let host: string;
      try {
        host = new URL(target.includes('://') ? target : `tcp://${target}`).hostname;
      } catch {
        return; // the destination's own schema reports malformed URLs
      }
      try {
        await Promise.race([
          resolvePublic(policy, host),
          new Promise((resolve) => setTimeout(resolve, 3000).unref()),
        ]);
      } catch (error) {
        if (error instanceof BlockedAddressError) throw new AppError('destination_address_not_allowed', `${field}: ${error.message}`, { field });
        // Does not resolve now (a typo, or DNS is down): the connect-time check decides later.
      }
    },
  };
}
