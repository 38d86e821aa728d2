import { createHash, randomBytes } from 'node:crypto';

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random token of base62 characters behind a readable prefix (`pk_`, `blt_`), ~6 bits each. */
export function randomToken(prefix: string, length = 32): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  // Rejection sampling keeps every character equally likely (248 = 4 * 62).
  for (let index = 0; index < bytes.length && out.length < length; index += 1) {
    if (bytes[index] < 248) out += alphabet[bytes[index] % 62];
  }
  return out.length === length ? `${prefix}${out}` : randomToken(prefix, length);
}

/** Tokens are stored as their sha256, so a leaked table cannot be replayed. */
export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A readable random password for a first admin: 4 groups of 5 base62 characters. */
export function randomPassword(): string {
  const raw = randomToken('', 20);
  return raw.match(/.{5}/g)!.join('-');
}
