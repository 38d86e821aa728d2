import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createApiToken } from '../../server/auth/api-token-service';
import { createProject } from '../../server/projects/project-service';
import { ProgressDisplay, withoutXmlDeclaration } from '../../server/test-management/import-junit-command';
import { startTestApp, type TestApp } from '../support/test-server';
import { withDatabase } from '../support/global-setup';

const binary = path.resolve('bin/bugloop.js');
const setup = inject('testDatabase');
const environment: Record<string, string> = {
  ...(process.env as Record<string, string>),
  BUGLOOP_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'bugloop-import-cli-')),
  LOG_LEVEL: 'warn',
};
delete environment.DATABASE_URL;
let databaseName: string | undefined;
let projectId = '';

function run(args: string[], extraEnvironment: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [binary, ...args], { env: { ...environment, ...extraEnvironment }, cwd: path.resolve('.') });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  if (setup.kind === 'postgres') {
    databaseName = `bugloop_t${process.ppid}_junitcli_${randomBytes(3).toString('hex')}`;
    const admin = new pg.Client({ connectionString: setup.url });
    await admin.connect();
    await admin.query(`create database ${databaseName}`);
    await admin.end();
    environment.DATABASE_URL = withDatabase(setup.url, databaseName);
  }
  const created = await run(['create-project', '--name', 'CI shop']);
  projectId = created.stdout.match(/id:\s+([0-9a-f-]{36})/)![1];
});
afterAll(async () => {
  if (databaseName) {
    const admin = new pg.Client({ connectionString: (setup as { url: string }).url });
    await admin.connect();
    await admin.query(`drop database if exists ${databaseName} with (force)`);
    await admin.end();
  }
});

// Each command starts a process that opens the database: slow on a busy machine.
describe('bugloop import-junit', { timeout: 120_000 }, () => {
  it('imports files matched by a glob as one run and prints the summary', async () => {
    const result = await run(['import-junit', 'test/fixtures/junit/pytest-*.xml', 'test/fixtures/junit/surefire.xml', '--project', projectId, '--release', '1.4.0', '--build', '12', '--commit', 'f00d']);
    // On a PostgreSQL without pgvector the one expected stderr line is the degradation notice.
    expect(result.stderr.replace(/^.*extension \\"vector\\" is not available.*$/m, '').trim()).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Imported 3 files as test run [0-9a-f-]{36} \(release 1\.4\.0\)$/m);
    // pytest xunit1 and xunit2 hold the same 7 tests, so they run twice in this run (same
    // outcome both times: not flaky); Surefire's rerun that passed is the one flaky test.
    expect(result.stdout).toMatch(/^ {2}cases: +20$/m);
    expect(result.stdout).toMatch(/^ {2}passed: +9$/m);
    expect(result.stdout).toMatch(/^ {2}failed: +8 \(3 errors\)$/m);
    expect(result.stdout).toMatch(/^ {2}skipped: +3$/m);
    expect(result.stdout).toMatch(/^ {2}flaky: +1$/m);
    expect(result.stdout).toMatch(/^ {2}new cases: +13$/m);
    expect(result.stdout).toMatch(/^ {2}new defects: +5$/m);
  });

  it('exits 1 with the file name and the reason for hostile XML', async () => {
    const result = await run(['import-junit', 'test/fixtures/junit/hostile/xxe.xml', '--project', projectId, '--release', '1.4.0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('test/fixtures/junit/hostile/xxe.xml: The XML contains a DOCTYPE or ENTITY declaration');
  });

  it('explains missing options and unmatched globs', async () => {
    const missing = await run(['import-junit', 'test/fixtures/junit/vitest.xml', '--project', projectId]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('--release is required');
    const nothing = await run(['import-junit', 'no/such/*.xml', '--project', projectId, '--release', '1.4.0']);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('No JUnit file matches no/such/*.xml');
  });
});

// From a CI job: the CLI sends the run to a running server with an API token, no database access.
describe('bugloop import-junit --server', { timeout: 120_000 }, () => {
  let app: TestApp;
  let serverProjectId: string;
  let token: string;
  beforeAll(async () => {
    app = await startTestApp();
    serverProjectId = (await createProject(app.database.db, { name: 'CI over HTTP', keyPrefix: 'CIH' })).id;
    token = (await createApiToken(app.database.db, { projectId: serverProjectId, name: 'CI', scopes: ['test-runs:write'] })).token;
  });
  afterAll(() => app?.close());
  // No database in the CLI's environment at all: only the server and the token.
  const upload = (args: string[], withToken = token) => run(['import-junit', ...args], { DATABASE_URL: '', BUGLOOP_DATA_DIR: '/nonexistent/bugloop', BUGLOOP_TOKEN: withToken });

  it('sends several files as one run and prints the same summary as a direct import', async () => {
    const result = await upload(['test/fixtures/junit/pytest-*.xml', 'test/fixtures/junit/surefire.xml', '--server', app.url, '--release', '1.4.0', '--build', '12', '--commit', 'f00d']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const runId = result.stdout.match(/^Imported 3 files as test run ([0-9a-f-]{36}) \(release 1\.4\.0\)$/m)![1];
    expect(result.stdout).toMatch(/^ {2}cases: +20$/m);
    expect(result.stdout).toMatch(/^ {2}failed: +8 \(3 errors\)$/m);
    expect(result.stdout).toMatch(/^ {2}flaky: +1$/m);
    expect(result.stdout).toMatch(/^ {2}new defects: +5$/m);
    // One run in the token's project, with the metadata given on the command line.
    const runs = await app.database.db.selectFrom('testRuns').selectAll().where('projectId', '=', serverProjectId).execute();
    expect(runs.map((stored) => ({ id: stored.id, build: stored.build, commit: stored.commitSha }))).toEqual([{ id: runId, build: '12', commit: 'f00d' }]);
    const results = await app.database.db.selectFrom('testResults').select((eb) => eb.fn.countAll<string>().as('n')).where('testRunId', '=', runId).executeTakeFirstOrThrow();
    expect(Number(results.n)).toBe(20);
  });

  it('passes the server’s refusals on: a bad token, hostile XML, an unreachable server', async () => {
    const badToken = await upload(['test/fixtures/junit/vitest.xml', '--server', app.url, '--release', '1.4.0'], 'blt_not-a-real-token-000000000000');
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toContain('The server refused the run (401 invalid_token)');
    const hostile = await upload(['test/fixtures/junit/hostile/xxe.xml', '--server', app.url, '--release', '1.4.0']);
    expect(hostile.code).toBe(1);
    expect(hostile.stderr).toMatch(/The server refused the run \(400 [a-z_]+\): .*DOCTYPE or ENTITY declaration/);
    const away = await upload(['test/fixtures/junit/vitest.xml', '--server', 'http://127.0.0.1:9', '--release', '1.4.0']);
    expect(away.code).toBe(1);
    expect(away.stderr).toContain('Could not send the run to http://127.0.0.1:9');
    const noToken = await upload(['test/fixtures/junit/vitest.xml', '--server', app.url, '--release', '1.4.0'], '');
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('Set BUGLOOP_TOKEN');
    const runs = await app.database.db.selectFrom('testRuns').select('id').where('projectId', '=', serverProjectId).execute();
    expect(runs).toHaveLength(1); // only the first test's run
  });
});

describe('nesting a file in a multi-file upload', () => {
  it('drops the byte-order mark and XML declaration, keeps everything else', () => {
    const file = Buffer.from('\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="a"><testcase name="b"/></testsuite>');
    expect(withoutXmlDeclaration(file, 'a.xml').toString()).toBe('\n<testsuite name="a"><testcase name="b"/></testsuite>');
    expect(withoutXmlDeclaration(Buffer.from('<testsuites/>'), 'b.xml').toString()).toBe('<testsuites/>');
  });

  it('refuses a file declared in another encoding (one document has one encoding)', () => {
    expect(() => withoutXmlDeclaration(Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><testsuite/>'), 'latin.xml')).toThrow('latin.xml is encoded as ISO-8859-1');
  });
});

describe('progress display', () => {
  it('writes one line per 10% when stderr is not a terminal', () => {
    let written = '';
    const stream = { isTTY: false, write: (text: string) => (written += text) } as unknown as NodeJS.WriteStream;
    const progress = new ProgressDisplay(stream, 10 * 1024 * 1024);
    for (let index = 0; index < 40; index += 1) progress.advance(256 * 1024);
    progress.finish();
    const lines = written.trim().split('\n');
    expect(lines[0]).toBe('reading reports: 0% (0.3 MB of 10.0 MB)');
    expect(lines.at(-1)).toBe('reading reports: 100% (10.0 MB of 10.0 MB)');
    expect(lines).toHaveLength(11);
  });

  it('redraws one bar in place on a terminal', () => {
    let written = '';
    const stream = { isTTY: true, write: (text: string) => (written += text) } as unknown as NodeJS.WriteStream;
    const progress = new ProgressDisplay(stream, 1024 * 1024);
    progress.advance(1024 * 1024);
    progress.finish();
    expect(written).toBe('\r[##############################] 100%  1.0 MB / 1.0 MB\n');
  });
});
