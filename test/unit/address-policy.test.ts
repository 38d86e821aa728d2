import { describe, expect, it } from 'vitest';
import { blockedAddressReason, isLocalHostName } from '../../server/integrations/address-policy';

describe('the outgoing address policy', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['0.0.0.0', 'this network'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['2002:7f00:1::', 'loopback'],
    ['::10.0.0.1', 'private'],
  ])('refuses %s (%s)', (address, kind) => {
    expect(blockedAddressReason(address)).toContain(kind);
  });

  it.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '2a00:1450:4001:82a::200e', '::ffff:8.8.8.8'])('allows the public address %s', (address) => {
    expect(blockedAddressReason(address)).toBeUndefined();
  });

  it('refuses what is not an IP address at all', () => {
    expect(blockedAddressReason('example.com')).toBe('not an IP address');
  });

  it('treats localhost and local-network names as local whatever DNS says', () => {
    for (const name of ['localhost', 'LOCALHOST.', 'api.localhost', 'printer.local', 'metadata.google.internal', 'db.internal']) expect(isLocalHostName(name), name).toBe(true);
    for (const name of ['example.com', 'localhost.example.com', 'internal.example.com']) expect(isLocalHostName(name), name).toBe(false);
  });
});
