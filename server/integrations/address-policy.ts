import { BlockList, isIP } from 'node:net';

/**
 * Which addresses Bugloop refuses to send outgoing requests to by default: everything that is
 * not the public internet. A project admin can type any URL into a webhook or tracker setting,
 * so without this a webhook could read the cloud metadata service (169.254.169.254), a database
 * on localhost or an intranet host and show the answer in the dead-letter list.
 */
const ranges: { network: string; prefix: number; family: 'ipv4' | 'ipv6'; kind: string }[] = [
  { network: '0.0.0.0', prefix: 8, family: 'ipv4', kind: 'a "this network" address' },
  { network: '10.0.0.0', prefix: 8, family: 'ipv4', kind: 'a private address' },
  { network: '100.64.0.0', prefix: 10, family: 'ipv4', kind: 'a carrier-grade NAT address' },
  { network: '127.0.0.0', prefix: 8, family: 'ipv4', kind: 'a loopback address' },
  { network: '169.254.0.0', prefix: 16, family: 'ipv4', kind: 'a link-local address (cloud metadata lives here)' },
  { network: '172.16.0.0', prefix: 12, family: 'ipv4', kind: 'a private address' },
  { network: '192.0.0.0', prefix: 24, family: 'ipv4', kind: 'an IETF protocol address' },
  { network: '192.0.2.0', prefix: 24, family: 'ipv4', kind: 'a documentation address' },
  { network: '192.88.99.0', prefix: 24, family: 'ipv4', kind: 'a 6to4 relay address' },
  { network: '192.168.0.0', prefix: 16, family: 'ipv4', kind: 'a private address' },
  { network: '198.18.0.0', prefix: 15, family: 'ipv4', kind: 'a benchmarking address' },
  { network: '198.51.100.0', prefix: 24, family: 'ipv4', kind: 'a documentation address' },
  { network: '203.0.113.0', prefix: 24, family: 'ipv4', kind: 'a documentation address' },
  { network: '224.0.0.0', prefix: 4, family: 'ipv4', kind: 'a multicast address' },
  { network: '240.0.0.0', prefix: 4, family: 'ipv4', kind: 'a reserved address' },
  { network: '::', prefix: 128, family: 'ipv6', kind: 'the unspecified address' },
  { network: '::1', prefix: 128, family: 'ipv6', kind: 'a loopback address' },
  { network: '64:ff9b:1::', prefix: 48, family: 'ipv6', kind: 'a local NAT64 address' },
  { network: '100::', prefix: 64, family: 'ipv6', kind: 'a discard address' },
  { network: '2001::', prefix: 23, family: 'ipv6', kind: 'an IETF protocol address' },
  { network: '2001:db8::', prefix: 32, family: 'ipv6', kind: 'a documentation address' },
  { network: 'fc00::', prefix: 7, family: 'ipv6', kind: 'a unique-local address' },
  { network: 'fe80::', prefix: 10, family: 'ipv6', kind: 'a link-local address' },
  { network: 'fec0::', prefix: 10, family: 'ipv6', kind: 'a site-local address' },
  { network: 'ff00::', prefix: 8, family: 'ipv6', kind: 'a multicast address' },
];

const lists = ranges.map((range) => {
  const list = new BlockList();
  list.addSubnet(range.network, range.prefix, range.family);
  return { list, range };
});

/** `[::1]` → `::1`, `fe80::1%eth0` → `fe80::1`. */
export function bareAddress(host: string): string {
  const unbracketed = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const zone = unbracketed.indexOf('%');
  return zone >= 0 ? unbracketed.slice(0, zone) : unbracketed;
}

/** The IPv4 address carried inside an IPv6 one (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16), if any. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|::ffff:0:|64:ff9b::|::)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  if (dotted) return dotted[1];
  const words = expandIpv6(lower);
  if (!words) return undefined;
  const toIpv4 = (high: number, low: number) => [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  const isZero = (from: number, to: number) => words.slice(from, to).every((word) => word === 0);
  if (isZero(0, 5) && words[5] === 0xffff) return toIpv4(words[6], words[7]); // ::ffff:7f00:1
  if (words[0] === 0x64 && words[1] === 0xff9b && isZero(2, 6)) return toIpv4(words[6], words[7]); // NAT64
  if (words[0] === 0x2002) return toIpv4(words[1], words[2]); // 6to4
  if (isZero(0, 6) && (words[6] !== 0 || words[7] > 1)) return toIpv4(words[6], words[7]); // deprecated ::a.b.c.d
  return undefined;
}

function expandIpv6(address: string): number[] | undefined {
  if (isIP(address) !== 6) return undefined;
  let text = address;
  const dotted = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((word) => Number.parseInt(word, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const middle = tail === undefined ? [] : new Array(8 - left.length - right.length).fill(0);
  const words = [...left, ...middle, ...right];
  return words.length === 8 ? words : undefined;
}

/**
 * Why an IP address may not be connected to by default (e.g. "a loopback address"), or
 * undefined for a public address. Anything that is not an IP address is refused too.
 */
export function blockedAddressReason(host: string): string | undefined {
  const address = bareAddress(host);
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  if (family === 6) {
    const inner = embeddedIpv4(address);
    if (inner) return blockedAddressReason(inner);
  }
  const kind = family === 4 ? 'ipv4' : 'ipv6';
  for (const { list, range } of lists) {
    if (range.family === kind && list.check(address, kind)) return range.kind;
  }
  return undefined;
}

/** Host names that always mean this machine or its local network, whatever DNS says. */
export function isLocalHostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || name.endsWith('.local') || name.endsWith('.internal') || name === 'metadata.google.internal';
}
