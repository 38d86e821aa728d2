import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config';

const temporaryDataDirectory = () => mkdtempSync(path.join(os.tmpdir(), 'bugloop-config-'));

describe('loadConfig', () => {
  it('applies defaults for an empty environment and chooses the embedded database', () => {
    const config = loadConfig({ BUGLOOP_DATA_DIR: temporaryDataDirectory() });
    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.publicUrl).toBe('http://localhost:3000');
    expect(config.openai.apiKey).toBeUndefined();
  });

  it('names every invalid variable in one error', () => {
    let caught: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', BUGLOOP_DATA_DIR: temporaryDataDirectory() });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as Error).message;
    expect(message).toContain('PORT');
    expect(message).toContain('DATABASE_URL');
    expect(message).toContain('LOG_LEVEL');
  });

  it('rejects a SECRET_KEY shorter than 32 characters', () => {
    expect(() => loadConfig({ SECRET_KEY: 'short', BUGLOOP_DATA_DIR: temporaryDataDirectory() })).toThrow(/SECRET_KEY/);
  });

  it('generates a secret key into the data directory once and reuses it', () => {
    const directory = temporaryDataDirectory();
    const first = loadConfig({ BUGLOOP_DATA_DIR: directory });
    const second = loadConfig({ BUGLOOP_DATA_DIR: directory });
    expect(first.secretKey).toHaveLength(43);
    expect(second.secretKey).toBe(first.secretKey);
    const file = path.join(directory, 'secret.key');
    expect(readFileSync(file, 'utf8').trim()).toBe(first.secretKey);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ DATABASE_URL: '', OPENAI_API_KEY: '  ', BUGLOOP_DATA_DIR: temporaryDataDirectory() });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.openai.apiKey).toBeUndefined();
  });

  it('returns a frozen object', () => {
    const config = loadConfig({ BUGLOOP_DATA_DIR: temporaryDataDirectory(), PUBLIC_URL: 'https://bugs.example.com/' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(config.publicUrl).toBe('https://bugs.example.com');
  });
});
