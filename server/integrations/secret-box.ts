import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Integration secrets (API tokens, webhook secrets) at rest: AES-256-GCM with a key derived from
 * the server's SECRET_KEY. The format is `v1.<iv>.<tag>.<ciphertext>` in base64url, so a future
 * key rotation can add `v2` without guessing. The destination id is bound as associated data, so
 * a ciphertext copied onto another destination row does not decrypt.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(secretKey: string) {
    // SECRET_KEY is any string of 32+ characters; sha256 turns it into exactly 32 key bytes.
    this.key = createHash('sha256').update(`bugloop:integration-secrets:${secretKey}`).digest();
  }

  /** Encrypts a JSON-serialisable value for one owner (the destination id). */
  seal(value: Record<string, string>, owner: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(owner));
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
  }

  /** Decrypts what `seal` wrote; throws when the key, the owner or the bytes do not match. */
  open(sealed: string, owner: string): Record<string, string> {
    const [version, iv, tag, ciphertext] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || ciphertext === undefined) throw new Error('unknown secret format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(owner));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const plaintext = Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
    return JSON.parse(plaintext.toString('utf8')) as Record<string, string>;
  }
}
