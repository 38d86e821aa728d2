import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError, loadConfig, type Config } from '../config';
import { databaseTargetFromConfig, openDatabase, type DatabaseHandle } from '../db/database';
import { DataDirectoryLockedError } from '../db/data-directory-lock';
import { migrateToLatest } from '../db/migrate';
import { createLogger, type Logger } from '../logger';
import { AppError } from '../http/app-error';
import { randomPassword } from '../auth/random-tokens';
import { createUser } from '../users/user-service';
import { createProject, findProjectById } from '../projects/project-service';
import { createApiToken } from '../auth/api-token-service';
import { type AuditActor, recordAudit } from '../audit/audit-log';
import { apiTokenScopes } from '../../shared/scopes';
import type { ensureFirstRunSetup } from '../bootstrap';

// The server (Koa, every route, the vendor SDKs' wrappers) and the JUnit importer are imported by
// the commands that use them, so that `bugloop token create` or `bugloop import-junit` do not load
// and hold the whole server: an import's peak memory is what CI runners have to spare.
const loadServer = () => import('../server');
const loadFirstRunSetup = () => import('../bootstrap');
const loadJunitImport = () => import('../test-management/import-junit-command');

/** Commands run by whoever holds the server's shell: recorded as the CLI. */
const cliActor: AuditActor = { kind: 'cli', userId: null, requestId: null };

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<Parameters<typeof parseArgs>[0]>['options'];
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  serve: {
    summary: 'Start the server, dashboard and demo page (creates the admin and demo project on first start).',
    usage: 'bugloop serve [--port N]',
    options: { port: { type: 'string' } },
    async run(values) {
      const config = configFrom(values.port ? { PORT: String(values.port) } : {});
      const logger = createLogger(config.logLevel);
      const [{ startServer }, { ensureFirstRunSetup }] = await Promise.all([loadServer(), loadFirstRunSetup()]);
      const running = await startServer(config, logger);
      const firstRun = await ensureFirstRunSetup(running.database.db, config);
      printBanner(config, running.url, running.database, firstRun);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info(`${signal} received: finishing in-flight requests and jobs`);
        const forced = setTimeout(() => {
          logger.error('shutdown took over 20 s; exiting anyway');
          process.exit(1);
        }, 20_000);
        forced.unref();
        await running.close();
        logger.info('stopped cleanly');
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      return new Promise<number>(() => {}); // runs until a signal
    },
  },
  migrate: {
    summary: 'Apply pending database migrations and exit.',
    usage: 'bugloop migrate',
    options: {},
    async run() {
      await withDatabase(async (database, logger) => {
        const applied = await migrateToLatest(database.db, logger);
        console.log(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'The database is up to date.');
      });
      return 0;
    },
  },
  'create-admin': {
    summary: 'Create an instance administrator (a random password is printed when none is given).',
    usage: 'bugloop create-admin --email E [--password P] [--name N]',
    options: { email: { type: 'string' }, password: { type: 'string' }, name: { type: 'string' } },
    async run(values) {
      const email = required(values, 'email');
      const password = (values.password as string | undefined) ?? randomPassword();
      await withDatabase(async (database) => {
        const user = await database.db.transaction().execute(async (trx) => {
          const created = await createUser(trx, { email, password, name: values.name as string | undefined, isInstanceAdmin: true });
          await recordAudit(trx, cliActor, { projectId: null, action: 'user.created', target: created.id, after: { email: created.email, isInstanceAdmin: true } });
          return created;
        });
        console.log(`Created admin ${user.email}`);
        if (!values.password) console.log(`Password (shown once): ${password}`);
      });
      return 0;
    },
  },
  'create-project': {
    summary: 'Create a project and print its public key (pk_…) for the widget.',
    usage: 'bugloop create-project --name N [--origin https://app.example.com ...] [--key-prefix WEB]',
    options: { name: { type: 'string' }, origin: { type: 'string', multiple: true }, 'key-prefix': { type: 'string' } },
    async run(values) {
      const name = required(values, 'name');
      await withDatabase(async (database) => {
        const project = await database.db.transaction().execute(async (trx) => {
          const created = await createProject(trx, {
            name,
            allowedOrigins: (values.origin as string[] | undefined) ?? [],
            keyPrefix: values['key-prefix'] as string | undefined,
          });
          await recordAudit(trx, cliActor, { projectId: created.id, action: 'project.created', target: created.id, after: { name: created.name, allowedOrigins: created.allowedOrigins } });
          return created;
        });
        console.log(`Created project "${project.name}"`);
        console.log(`  id:             ${project.id}`);
        console.log(`  defect keys:    ${project.keyPrefix}-1, ${project.keyPrefix}-2, …`);
        console.log(`  allowed origins: ${project.allowedOrigins.join(', ') || '(none yet: browsers cannot send reports until one is added)'}`);
        console.log(`  public key:     ${project.publicKey}`);
      });
      return 0;
    },
  },
  jobs: {
    summary: 'Background jobs: `jobs status` counts them by state; `jobs retry-dead` requeues failed ones.',
    usage: 'bugloop jobs status | bugloop jobs retry-dead [--kind K]',
    options: { kind: { type: 'string' } },
    async run(values, positionals) {
      const action = positionals[0];
      if (action !== 'status' && action !== 'retry-dead') throw new UsageError('Unknown jobs command; use `jobs status` or `jobs retry-dead`');
      await withDatabase(async (database) => {
        if (action === 'retry-dead') {
          let query = database.db.updateTable('jobs').set({ state: 'pending', attempts: 0, runAt: new Date(), lastError: null }).where('state', '=', 'dead');
          if (values.kind) query = query.where('kind', '=', values.kind as string);
          const result = await query.executeTakeFirst();
          console.log(`Requeued ${Number(result.numUpdatedRows)} job(s).`);
          return;
        }
        const rows = await database.db.selectFrom('jobs').select(['state', (eb) => eb.fn.countAll<string>().as('count')]).groupBy('state').execute();
        const counts = Object.fromEntries(rows.map((row) => [row.state, Number(row.count)]));
        for (const state of ['pending', 'running', 'done', 'dead']) console.log(`${state.padEnd(8)} ${counts[state] ?? 0}`);
      });
      return 0;
    },
  },
  token: {
    summary: 'Manage API tokens: `token create` prints a new project token once.',
    usage: `bugloop token create --project ID --scopes ${apiTokenScopes.slice(0, 2).join(',')} [--name N]\n  scopes: ${apiTokenScopes.join(', ')}`,
    options: { project: { type: 'string' }, scopes: { type: 'string', multiple: true }, name: { type: 'string' } },
    async run(values, positionals) {
      if (positionals[0] !== 'create') throw new UsageError('Unknown token command; did you mean `bugloop token create`?');
      const projectId = required(values, 'project');
      const scopes = ((values.scopes as string[] | undefined) ?? []).flatMap((value) => value.split(',')).map((scope) => scope.trim()).filter(Boolean);
      await withDatabase(async (database) => {
        if (!(await findProjectById(database.db, projectId))) throw new AppError('not_found', `No project with id ${projectId}`);
        const created = await database.db.transaction().execute(async (trx) => {
          const token = await createApiToken(trx, { projectId, scopes, name: (values.name as string | undefined) ?? 'CLI token' });
          await recordAudit(trx, cliActor, { projectId, action: 'api_token.created', target: token.id, after: { scopes: token.scopes } });
          return token;
        });
        console.log(`Token (shown once; store it as a secret): ${created.token}`);
        console.log(`Scopes: ${created.scopes.join(', ')}`);
      });
      return 0;
    },
  },
  'import-junit': {
    summary: 'Import JUnit XML reports (files or globs) as one test run; failing tests become CI defects.',
    usage: [
      'bugloop import-junit <files or globs> --release 1.4.0 [--build B] [--environment E] [--commit SHA] --server URL   (token in BUGLOOP_TOKEN)',
      '       bugloop import-junit <files or globs> --release 1.4.0 [...] --project ID   (straight into the configured database)',
    ].join('\n'),
    options: { project: { type: 'string' }, server: { type: 'string' }, release: { type: 'string' }, build: { type: 'string' }, environment: { type: 'string' }, commit: { type: 'string' } },
    async run(values, positionals) {
      if (positionals.length === 0) throw new UsageError('Name at least one JUnit XML file or glob');
      const release = required(values, 'release');
      const run = {
        patterns: positionals,
        release,
        build: values.build as string | undefined,
        environment: values.environment as string | undefined,
        commit: values.commit as string | undefined,
        progress: process.stderr,
      };
      const server = (values.server as string | undefined) ?? process.env.BUGLOOP_SERVER;
      const { formatSummary, importJunitFiles, ServerRefusal, uploadJunitFiles } = await loadJunitImport();
      if (server) {
        // From a CI job: over HTTP with a project API token, no database access needed.
        if (values.project) throw new UsageError('With --server the API token decides the project; leave out --project');
        const token = process.env.BUGLOOP_TOKEN?.trim();
        if (!token) throw new UsageError('Set BUGLOOP_TOKEN to an API token with the test-runs:write scope (bugloop token create --scopes test-runs:write)');
        try {
          const { files, summary } = await uploadJunitFiles({ ...run, serverUrl: server, token });
          console.log(formatSummary(files, release, summary));
          return 0;
        } catch (error) {
          if (!(error instanceof ServerRefusal)) throw error;
          console.error(error.status ? `The server refused the run (${error.status} ${error.code}): ${error.message}` : error.message);
          return 1;
        }
      }
      const projectId = required(values, 'project');
      await withDatabase(async (database) => {
        const { files, summary } = await importJunitFiles(database.db, { ...run, projectId, soleSession: database.soleSession });
        console.log(formatSummary(files, release, summary));
      });
      return 0;
    },
  },
};

class UsageError extends Error {}

function required(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} is required`);
  return value;
}

function configFrom(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...process.env, ...overrides });
}

/** Opens the configured database, migrates it (a fresh data folder works at once), runs, closes. */
async function withDatabase(work: (database: DatabaseHandle, logger: Logger) => Promise<void>): Promise<void> {
  const config = configFrom();
  // Logs go to stderr so a command's own output on stdout stays clean for scripts.
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', pino.destination(2));
  const target = databaseTargetFromConfig(config);
  const database = await openDatabase(target.kind === 'pglite' ? { ...target, lockOwner: 'a bugloop command' } : target, logger);
  try {
    await migrateToLatest(database.db, logger);
    await work(database, logger);
  } finally {
    await database.close();
  }
}

function printBanner(config: Config, url: string, database: DatabaseHandle, firstRun: Awaited<ReturnType<typeof ensureFirstRunSetup>>): void {
  const base = config.publicUrl.startsWith('http://localhost') ? url : config.publicUrl;
  const lines = [
    '',
    `  Bugloop is running (${database.backend === 'pglite' ? `embedded PGlite in ${config.dataDirectory}` : 'PostgreSQL'})`,
    '',
    `  Dashboard:   ${base}/`,
    `  Demo page:   ${base}/demo`,
    `  Admin:       ${firstRun.admin.email}`,
    firstRun.admin.password
      ? `  Password:    ${firstRun.admin.password}   (shown once; set ADMIN_PASSWORD to choose it)`
      : `  Password:    ${firstRun.admin.created ? '(from ADMIN_PASSWORD)' : '(set on first start; `bugloop create-admin` adds another admin)'}`,
    firstRun.demoProject.publicKey ? `  Demo key:    ${firstRun.demoProject.publicKey}` : '',
    '',
  ];
  console.log(lines.filter((line, index) => line !== '' || index === 0 || index === lines.length - 1 || index === 2).join('\n'));
}

function printHelp(): void {
  console.log('Usage: bugloop <command> [options]\n\nCommands:');
  for (const [name, command] of Object.entries(commands)) console.log(`  ${name.padEnd(16)}${command.summary}`);
  console.log('\nRun `bugloop <command> --help` for a command\'s options. Configuration comes from the environment (see README).');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    printHelp();
    return name ? 0 : 1;
  }
  const command = commands[name];
  if (!command) {
    console.error(`Unknown command "${name}".`);
    printHelp();
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${command.summary}\n\nUsage: ${command.usage}`);
    return 0;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
    return await command.run(values, positionals);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`${(error as Error).message}\nUsage: ${command.usage}`);
      return 1;
    }
    if (error instanceof ConfigError || error instanceof DataDirectoryLockedError) {
      console.error(error.message);
      if (error instanceof DataDirectoryLockedError && name === 'import-junit' && error.holder.url) {
        console.error(`To import while it runs, send the run to it: add --server ${error.holder.url} and set BUGLOOP_TOKEN to a token with the test-runs:write scope.`);
      }
      return 2;
    }
    if (error instanceof AppError) {
      console.error(`${error.message}${error.field ? ` (${error.field})` : ''}`);
      return 1;
    }
    throw error;
  }
}
