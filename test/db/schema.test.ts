import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteSettings, type DatabaseHandle } from '../../server/db/database';
import { migrateToLatest } from '../../server/db/migrate';
import { createLogger } from '../../server/logger';
import { createProject } from '../../server/projects/project-service';
import { createTestDatabase } from '../support/test-database';

let database: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

describe('migrations', () => {
  it('create every table of the product', async () => {
    const result = await sql<{ tableName: string }>`
      select table_name from information_schema.tables where table_schema = current_schema() order by table_name
    `.execute(database.db);
    const tables = result.rows.map((row) => row.tableName);
    for (const table of [
      'projects', 'users', 'project_members', 'sessions', 'api_tokens', 'releases', 'component_rules',
      'attachment_blobs', 'defects', 'reports', 'report_attachments', 'defect_events', 'defect_comments',
      'defect_non_duplicates', 'test_cases', 'test_case_revisions', 'test_runs', 'test_results',
      'defect_test_links', 'destinations', 'routing_rules', 'external_tickets', 'jobs',
      'inbound_webhook_deliveries', 'audit_log',
    ]) {
      expect(tables).toContain(table);
    }
  });

  it('are idempotent: running them again applies nothing', async () => {
    expect(await migrateToLatest(database.db, createLogger('silent'))).toEqual([]);
  });

  it('report the optional extensions found on this backend', () => {
    // PGlite ships both; a plain PostgreSQL may lack vector, and the handle says so instead of failing.
    if (database.backend === 'pglite') expect(database.capabilities).toEqual({ trigram: true, vector: true });
    else expect(typeof database.capabilities.vector).toBe('boolean');
  });

  it('run the embedded database with its memory settings, keeping what initdb configured', async ({ skip }) => {
    if (database.backend !== 'pglite') skip();
    for (const [name, value] of Object.entries(pgliteSettings)) {
      const shown = await sql<Record<string, string>>`show ${sql.raw(name)}`.execute(database.db);
      expect({ [name]: Object.values(shown.rows[0])[0] }).toEqual({ [name]: value });
    }
    // Passed as start parameters, not as a postgresql.conf of PGlite's making, which would drop these.
    const kept = await sql<{ config: string; zone: string }>`select current_setting('default_text_search_config') as config, current_setting('TimeZone') as zone`.execute(database.db);
    expect(kept.rows[0]).toEqual({ config: 'pg_catalog.english', zone: 'UTC' });
  });
});

describe('constraints that protect data', () => {
  it('keep a client report id unique per project, but not across projects', async () => {
    const first = await createProject(database.db, { name: 'Constraint one' });
    const second = await createProject(database.db, { name: 'Constraint two' });
    const clientId = '7d0c3ad4-3f0e-4a53-9d43-1f1d0c8f4e11';
    const report = (projectId: string) => ({ projectId, clientId, description: 'x', payload: JSON.stringify({ id: clientId }) });
    await database.db.insertInto('reports').values(report(first.id)).execute();
    await database.db.insertInto('reports').values(report(second.id)).execute();
    await expect(database.db.insertInto('reports').values(report(first.id)).execute()).rejects.toMatchObject({ code: '23505' });
  });

  it('reject a defect status outside the workflow', async () => {
    const project = await createProject(database.db, { name: 'Status check' });
    await expect(
      database.db
        .insertInto('defects')
        .values({ projectId: project.id, number: 1, key: `${project.keyPrefix}-1`, title: 't', origin: 'field', status: 'done' as never })
        .execute(),
    ).rejects.toMatchObject({ code: '23514' });
  });

  it('index defects for full-text search', async () => {
    const project = await createProject(database.db, { name: 'Search check' });
    await database.db
      .insertInto('defects')
      .values({ projectId: project.id, number: 1, key: `${project.keyPrefix}-1`, title: 'Checkout button does nothing', origin: 'field' })
      .execute();
    const found = await database.db
      .selectFrom('defects')
      .select('key')
      .where('projectId', '=', project.id)
      .where(sql<boolean>`search @@ websearch_to_tsquery('english', 'checkout buttons')`)
      .execute();
    expect(found.map((row) => row.key)).toEqual([`${project.keyPrefix}-1`]);
  });

  it('give each project a unique public key and key prefix', async () => {
    const a = await createProject(database.db, { name: 'Twin' });
    const b = await createProject(database.db, { name: 'Twin' });
    expect(a.publicKey).not.toBe(b.publicKey);
    expect(a.keyPrefix).not.toBe(b.keyPrefix);
    await expect(createProject(database.db, { name: 'Clash', keyPrefix: a.keyPrefix })).rejects.toMatchObject({ code: 'conflict' });
  });
});
