import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTokenScopes } from '../../shared/scopes';
import { csrfHeaderName } from '../../server/http/authenticate';
import { buildSecurityProject, type SecurityProject } from '../support/security-fixtures';
import { startTestApp, type TestApp } from '../support/test-server';

/**
 * Reads every row of every table as PostgreSQL stores it and looks for each secret Bugloop
 * was given or made: integration secrets, API tokens, passwords, session cookies. None may be
 * there in clear (they are sealed with AES-256-GCM or stored as hashes).
 */
let app: TestApp;
let project: SecurityProject;

beforeAll(async () => {
  app = await startTestApp();
  project = await buildSecurityProject(app.database.db, 'S', app.config.secretKey);
}, 60_000);
afterAll(() => app?.close());

async function everyRowAsText(): Promise<string> {
  const tables = await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(app.database.db);
  const parts: string[] = [];
  for (const { name } of tables.rows) {
    const rows = await sql<{ row: string }>`select t::text as row from ${sql.table(name)} t`.execute(app.database.db);
    parts.push(...rows.rows.map((row) => row.row));
  }
  return parts.join('\n');
}

describe('secrets at rest', () => {
  it('keeps no integration secret, API token, password or session cookie in clear in any row', async () => {
    const admin = { ...project.admin.headers, 'content-type': 'application/json' };
    const created = await app.request(`/api/v1/projects/${project.projectId}/api-tokens`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'CI', scopes: ['test-runs:write'] }) });
    const { secret: apiToken } = (await created.json()) as { secret: string };
    const destination = await app.request(`/api/v1/projects/${project.projectId}/destinations`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ kind: 'linear', name: 'Linear', config: { teamId: 'team-1' }, secrets: { apiKey: 'lin_api_at_rest_secret_value', webhookSecret: 'linear-hook-at-rest-secret' } }),
    });
    expect(destination.status).toBe(201);
    const newMember = await app.request(`/api/v1/projects/${project.projectId}/members`, { method: 'POST', headers: admin, body: JSON.stringify({ email: 'rest@example.com', role: 'viewer', password: 'password-at-rest-1234' }) });
    expect(newMember.status).toBe(201);

    const secrets = [
      apiToken,
      'lin_api_at_rest_secret_value',
      'linear-hook-at-rest-secret',
      'password-at-rest-1234',
      'a long test password',
      `signing-secret-${project.marker}`,
      `jira-token-${project.marker}`,
      `jira-hook-${project.marker}`,
      project.tokenAll.authorization.slice('Bearer '.length),
      ...apiTokenScopes.map((scope) => project.tokenWithout[scope].authorization.slice('Bearer '.length)),
      project.admin.headers.cookie.split('=')[1],
      project.viewer.headers.cookie.split('=')[1],
    ];
    const stored = await everyRowAsText();
    expect(stored.length).toBeGreaterThan(1000);
    for (const secret of secrets) expect(stored.includes(secret), `found ${secret.slice(0, 12)}… in clear`).toBe(false);
    // The CSRF token is not a secret at rest (it only pairs with the cookie), and is stored as is.
    expect(stored).toContain(project.admin.headers[csrfHeaderName]);
    // The encrypted form is there instead.
    const row = await app.database.db.selectFrom('destinations').select('encryptedSecrets').where('kind', '=', 'linear').executeTakeFirstOrThrow();
    expect(row.encryptedSecrets).toMatch(/^v1\./);
  });
});
