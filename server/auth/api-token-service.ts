import type { Kysely, Transaction } from 'kysely';
import { type ApiTokenScope, apiTokenScopes, isApiTokenScope } from '../../shared/scopes';
import type { Database } from '../db/schema';
import { AppError } from '../http/app-error';
import { randomToken, sha256Hex } from './random-tokens';

type Executor = Kysely<Database> | Transaction<Database>;

export interface ApiTokenPrincipal {
  tokenId: string;
  projectId: string;
  scopes: ApiTokenScope[];
}

/** Creates a project API token. The token itself is returned once and stored only as a hash. */
export async function createApiToken(
  db: Executor,
  input: { projectId: string; name: string; scopes: string[]; createdBy?: string | null },
): Promise<{ id: string; token: string; scopes: ApiTokenScope[] }> {
  if (input.scopes.length === 0) throw new AppError('invalid_request', `At least one scope is required: ${apiTokenScopes.join(', ')}`, { field: 'scopes' });
  const unknown = input.scopes.filter((scope) => !isApiTokenScope(scope));
  if (unknown.length > 0) {
    throw new AppError('invalid_request', `Unknown scope(s) ${unknown.join(', ')}; valid scopes: ${apiTokenScopes.join(', ')}`, { field: 'scopes' });
  }
  const token = randomToken('blt_', 40);
  const row = await db
    .insertInto('apiTokens')
    .values({
      projectId: input.projectId,
      name: input.name.trim() || 'API token',
      tokenHash: sha256Hex(token),
      tokenPrefix: token.slice(0, 10),
      scopes: [...new Set(input.scopes)],
      createdBy: input.createdBy ?? null,
    })
    .returning(['id', 'scopes'])
    .executeTakeFirstOrThrow();
  return { id: row.id, token, scopes: row.scopes as ApiTokenScope[] };
}

/** Resolves a bearer token to its project and scopes; undefined when unknown or revoked. */
export async function authenticateApiToken(db: Executor, token: string): Promise<ApiTokenPrincipal | undefined> {
  if (!token.startsWith('blt_') || token.length > 100) return undefined;
  const row = await db
    .updateTable('apiTokens')
    .set({ lastUsedAt: new Date() })
    .where('tokenHash', '=', sha256Hex(token))
    .where('revokedAt', 'is', null)
    .returning(['id', 'projectId', 'scopes'])
    .executeTakeFirst();
  return row ? { tokenId: row.id, projectId: row.projectId, scopes: row.scopes as ApiTokenScope[] } : undefined;
}
