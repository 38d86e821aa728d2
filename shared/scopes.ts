/** What an API token may do. Tokens belong to one project and carry a subset of these. */
export const apiTokenScopes = [
  'reports:write',
  'defects:read',
  'defects:write',
  'test-cases:read',
  'test-cases:write',
  'test-runs:write',
  'metrics:read',
] as const;

export type ApiTokenScope = (typeof apiTokenScopes)[number];

export function isApiTokenScope(value: string): value is ApiTokenScope {
  return (apiTokenScopes as readonly string[]).includes(value);
}
