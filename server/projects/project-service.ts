import type { Kysely, Transaction } from 'kysely';
import type { Database, Project } from '../db/schema';
import { AppError } from '../http/app-error';
import { randomToken } from '../auth/random-tokens';

type Executor = Kysely<Database> | Transaction<Database>;

export interface NewProjectInput {
  name: string;
  /** Origins allowed to send reports from the browser, e.g. https://app.example.com */
  allowedOrigins?: string[];
  /** Defect key prefix (WEB in WEB-42); derived from the name when absent. */
  keyPrefix?: string;
  settings?: Record<string, unknown>;
}

/** Normalizes an origin and rejects anything that is not scheme://host[:port]. */
export function normalizeOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new AppError('invalid_request', `"${origin}" is not an origin like https://app.example.com`, { field: 'allowedOrigins' });
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.pathname.length > 1 || url.search || url.hash || url.username) {
    throw new AppError('invalid_request', `"${origin}" is not an origin like https://app.example.com (no path, query or credentials)`, {
      field: 'allowedOrigins',
    });
  }
  return url.origin;
}

/** WEB from "Web shop", CHK from "checkout": letters of the name, upper-cased, 2–4 of them. */
export function keyPrefixFromName(name: string): string {
  const words = name.toUpperCase().replace(/[^A-Z0-9 ]/g, ' ').split(/\s+/).filter(Boolean);
  const initials = words.length > 1 ? words.map((word) => word[0]).join('') : '';
  const candidate = (initials.length >= 2 ? initials : (words[0] ?? 'PRJ')).replace(/^[0-9]+/, '').slice(0, 4);
  return candidate.length >= 2 ? candidate : 'PRJ';
}

/** Creates a project with a fresh public key (`pk_…`), picking a free key prefix if needed. */
export async function createProject(db: Executor, input: NewProjectInput): Promise<Project> {
  const name = input.name.trim();
  if (!name || name.length > 200) throw new AppError('invalid_request', 'A project name of 1–200 characters is required', { field: 'name' });
  const allowedOrigins = [...new Set((input.allowedOrigins ?? []).map(normalizeOrigin))];
  let keyPrefix = input.keyPrefix?.toUpperCase() ?? keyPrefixFromName(name);
  if (!/^[A-Z][A-Z0-9]{0,9}$/.test(keyPrefix)) {
    throw new AppError('invalid_request', 'The key prefix must be 1–10 letters or digits, starting with a letter', { field: 'keyPrefix' });
  }
  if (!input.keyPrefix) {
    const taken = new Set((await db.selectFrom('projects').select('keyPrefix').execute()).map((row) => row.keyPrefix));
    const base = keyPrefix;
    for (let suffix = 2; taken.has(keyPrefix); suffix += 1) keyPrefix = `${base.slice(0, 8)}${suffix}`;
  }
  try {
    return await db
      .insertInto('projects')
      .values({
        name,
        keyPrefix,
        publicKey: randomToken('pk_', 24),
        allowedOrigins,
        settings: JSON.stringify(input.settings ?? {}),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (error) {
    if ((error as { code?: string }).code === '23505') {
      throw new AppError('conflict', `The key prefix ${keyPrefix} is already used by another project`, { field: 'keyPrefix' });
    }
    throw error;
  }
}

export async function findProjectByPublicKey(db: Executor, publicKey: string): Promise<Project | undefined> {
  return db.selectFrom('projects').selectAll().where('publicKey', '=', publicKey).where('archivedAt', 'is', null).executeTakeFirst();
}

export async function findProjectById(db: Executor, id: string): Promise<Project | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
}

export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
