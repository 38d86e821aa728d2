import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../server/auth/passwords';
import { randomPassword, randomToken, sha256Hex } from '../../server/auth/random-tokens';
import { keyPrefixFromName, normalizeOrigin } from '../../server/projects/project-service';

describe('passwords', () => {
  it('verifies the right password and rejects a wrong one', async () => {
    const hash = await hashPassword('correct horse battery');
    expect(hash.startsWith('scrypt$32768$8$1$')).toBe(true);
    expect(await verifyPassword('correct horse battery', hash)).toBe(true);
    expect(await verifyPassword('correct horse batterx', hash)).toBe(false);
  });

  it('salts every hash', async () => {
    expect(await hashPassword('same')).not.toBe(await hashPassword('same'));
  });

  it('rejects malformed stored hashes instead of throwing', async () => {
    expect(await verifyPassword('x', 'md5$abc')).toBe(false);
    expect(await verifyPassword('x', '')).toBe(false);
  });
});

describe('random tokens', () => {
  it('keeps the prefix and length and uses only base62 characters', () => {
    const token = randomToken('pk_', 24);
    expect(token).toMatch(/^pk_[A-Za-z0-9]{24}$/);
    expect(randomToken('pk_', 24)).not.toBe(token);
  });

  it('makes readable grouped passwords', () => {
    expect(randomPassword()).toMatch(/^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){3}$/);
  });

  it('hashes with sha256', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('project naming', () => {
  it('derives a key prefix from initials or the first word', () => {
    expect(keyPrefixFromName('Web shop')).toBe('WS');
    expect(keyPrefixFromName('checkout')).toBe('CHEC');
    expect(keyPrefixFromName('Acme mobile app')).toBe('AMA');
    expect(keyPrefixFromName('!')).toBe('PRJ');
  });

  it('normalizes origins and rejects paths or other schemes', () => {
    expect(normalizeOrigin('https://App.Example.com:443')).toBe('https://app.example.com');
    expect(() => normalizeOrigin('https://app.example.com/path')).toThrow(/origin/);
    expect(() => normalizeOrigin('ftp://x.org')).toThrow(/origin/);
    expect(() => normalizeOrigin('not a url')).toThrow(/origin/);
  });
});
