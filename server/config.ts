import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const optionalString = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const environmentSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: optionalString.pipe(
    z.string().regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://').optional(),
  ),
  BUGLOOP_DATA_DIR: z.string().default('./data'),
  PUBLIC_URL: optionalString.pipe(z.url({ message: 'must be an absolute URL like https://bugloop.example.com' }).optional()),
  SECRET_KEY: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalString.pipe(z.url().optional()),
  OPENAI_MODEL: z.string().default('gpt-4o-mini'),
  OPENAI_EMBEDDING_MODEL: z.string().default('text-embedding-3-small'),
  LOG_LEVEL: z.enum(logLevels).default('info'),
  ADMIN_EMAIL: optionalString.pipe(z.email().optional()),
  ADMIN_PASSWORD: optionalString.pipe(z.string().min(8, 'must be at least 8 characters').optional()),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  JOB_CONCURRENCY: z.coerce.number().int().min(0).max(64).default(4),
  JOB_POLL_INTERVAL_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  JOB_LEASE_MS: z.coerce.number().int().min(1000).default(5 * 60_000),
  RATE_LIMIT_PER_KEY_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  RATE_LIMIT_PER_IP_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  TRUST_PROXY: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((value) => value === 'true' || value === '1'),
});

/** The server's whole configuration: read once at start, validated, frozen, then passed in. */
export interface Config {
  readonly port: number;
  readonly host: string;
  /** Absent: the embedded PGlite database under `dataDirectory` is used. */
  readonly databaseUrl: string | undefined;
  readonly dataDirectory: string;
  readonly publicUrl: string;
  /** 32 bytes derived from SECRET_KEY; encrypts stored integration secrets. */
  readonly secretKey: string;
  readonly openai: { readonly apiKey: string | undefined; readonly baseUrl: string | undefined; readonly model: string; /** Undefined when OPENAI_EMBEDDING_MODEL is "off": suggestions without embeddings. */ readonly embeddingModel: string | undefined };
  readonly logLevel: (typeof logLevels)[number];
  readonly admin: { readonly email: string | undefined; readonly password: string | undefined };
  readonly databasePoolSize: number;
  /** Jobs: workers per process, poll interval, and how long a running job may go without finishing before it is presumed orphaned by a dead process. */
  readonly jobs: { readonly concurrency: number; readonly pollIntervalMs: number; readonly leaseMs: number };
  readonly rateLimits: { readonly perKeyPerMinute: number; readonly perIpPerMinute: number };
  readonly trustProxy: boolean;
}

/** Thrown when the environment is invalid; its message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads and validates the environment. Fails fast with a message naming each bad variable.
 * When SECRET_KEY is absent, a random one is generated into the data directory on first start
 * and reused afterwards, so a fresh machine needs no setup.
 */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid environment:\n${problems.join('\n')}`);
  }
  const env = parsed.data;
  const dataDirectory = path.resolve(env.BUGLOOP_DATA_DIR);
  const publicUrl = (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
  return Object.freeze({
    port: env.PORT,
    host: env.HOST,
    databaseUrl: env.DATABASE_URL,
    dataDirectory,
    publicUrl,
    secretKey: env.SECRET_KEY ?? readOrCreateSecretKey(dataDirectory),
    openai: Object.freeze({
      apiKey: env.OPENAI_API_KEY,
      baseUrl: env.OPENAI_BASE_URL,
      model: env.OPENAI_MODEL,
      embeddingModel: env.OPENAI_EMBEDDING_MODEL === 'off' ? undefined : env.OPENAI_EMBEDDING_MODEL,
    }),
    logLevel: env.LOG_LEVEL,
    admin: Object.freeze({ email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD }),
    databasePoolSize: env.DATABASE_POOL_SIZE,
    jobs: Object.freeze({ concurrency: env.JOB_CONCURRENCY, pollIntervalMs: env.JOB_POLL_INTERVAL_MS, leaseMs: env.JOB_LEASE_MS }),
    rateLimits: Object.freeze({
      perKeyPerMinute: env.RATE_LIMIT_PER_KEY_PER_MINUTE,
      perIpPerMinute: env.RATE_LIMIT_PER_IP_PER_MINUTE,
    }),
    trustProxy: env.TRUST_PROXY,
  });
}

function readOrCreateSecretKey(dataDirectory: string): string {
  const file = path.join(dataDirectory, 'secret.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDirectory, { recursive: true });
  const key = randomBytes(32).toString('base64url');
  // 'wx' so two processes starting together cannot overwrite each other's key.
  try {
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch {
    return readFileSync(file, 'utf8').trim();
  }
}
