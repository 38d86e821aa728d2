import { createHash, randomUUID } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import { arrayLiteral } from '../db/array-literal';
import type { Database } from '../db/schema';
import { type Actor, createDefects, doneStatuses, systemActor, updateDefect } from '../defects/defect-service';
import { AppError } from '../http/app-error';
import { findOrCreateRelease } from '../releases/release-service';
import { JunitParser, type ParsedTestCase, type TestStatus } from './junit-parser';
import { failureSignature, resolveIdentity } from './test-identity';
import { lockTestCatalog, nextTestCaseNumber } from './test-case-service';

/** Where a run came from: release, build, environment, commit (all optional but the project). */
export interface TestRunInput {
  projectId: string;
  release?: string | null;
  build?: string | null;
  environment?: string | null;
  commit?: string | null;
  /** Free text such as "api" or "cli: junit.xml", shown with the run. */
  source?: string | null;
  /** Extra absolute path prefixes to strip from classnames (the CLI passes its working folder). */
  pathRoots?: string[];
  actor?: Actor;
  /**
   * No other session can change rows while the import's transaction runs
   * (`DatabaseHandle.soleSession`: PGlite). The bulk inserts then skip PostgreSQL's per-row foreign-key checks and one
   * set-based check at the end of the run stands in for them; see `withoutRowTriggers`.
   */
  soleSession?: boolean;
}

/** What an import did, as the CLI and the API print it. */
export interface TestRunSummary {
  runId: string;
  releaseId: string | null;
  cases: number;
  passed: number;
  failed: number;
  errors: number;
  skipped: number;
  flaky: number;
  newCases: number;
  newDefects: number;
  updatedDefects: number;
}

/** A report body: chunks of text or bytes (UTF-8). Several of them make one run. */
export type ReportBody = AsyncIterable<string | Buffer | Uint8Array>;
/** A report body, optionally with a name (a file path) that error messages mention. */
export type ReportSource = ReportBody | { name: string; body: ReportBody };

/** Test cases written per round trip; arrays go as one parameter each, so size is cheap. */
const batchSize = 2500;
/**
 * How many earlier results of a failing test are read to see whether it keeps flipping: with
 * the current one that makes three (failed → passed → failed). A failure that was fixed and
 * stayed fixed for a while (failed, passed, passed, failed) is a regression, not a flake.
 * The flaky query below spells out this rule (positions 1 and 2); keep both in step.
 */
const flipWindow = 2;
/** Rows per statement when defects are created or updated from the run's failures. */
const defectChunkSize = 1000;

interface CatalogCase {
  id: string;
  key: string;
  title: string;
  suite: string | null;
  component: string | null;
  identity: string;
  requirements: string[];
}

interface Failure {
  testCase: CatalogCase;
  resultId: string;
  signature: string;
  message: string | null;
  details: string | null;
  status: TestStatus;
}

type Identity = ReturnType<typeof resolveIdentity>;

/**
 * Imports one or more JUnit reports as one test run, in one transaction (a report that turns
 * out malformed halfway leaves nothing behind). Streams: reports are parsed chunk by chunk and
 * written in batches (the next batch is parsed while the previous one is written), so memory
 * depends on the batch, not the file: the database, not this process, remembers the catalog
 * entries and results of earlier batches. Unknown tests become automated catalog entries;
 * failures become `ci` defects (deduplicated by test identity and failure signature) unless
 * the test is flaky.
 */
export async function importTestRun(db: Kysely<Database>, input: TestRunInput, sources: Iterable<ReportSource> | AsyncIterable<ReportSource>): Promise<TestRunSummary> {
  return db.transaction().execute((trx) => new RunImport(trx, input).run(sources));
}

class RunImport {
  private runId = '';
  private releaseId: string | null = null;
  private nextNumber = 1;
  /** TC numbers taken by explicit keys during this import, skipped when generating keys. */
  private readonly takenNumbers = new Set<number>();
  /**
   * The first failure of every CI defect signature (test identity + failure signature): only
   * failing tests are held here, one entry per distinct failure.
   */
  private readonly failures = new Map<string, Failure>();
  private pending: ParsedTestCase[] = [];
  /** The batch being written while the next one is parsed; its error surfaces at the next wait. */
  private writing: Promise<void> = Promise.resolve();
  private readonly summary: Omit<TestRunSummary, 'runId' | 'releaseId'> = {
    cases: 0, passed: 0, failed: 0, errors: 0, skipped: 0, flaky: 0, newCases: 0, newDefects: 0, updatedDefects: 0,
  };

  constructor(
    private readonly trx: Transaction<Database>,
    private readonly input: TestRunInput,
  ) {}

  async run(sources: Iterable<ReportSource> | AsyncIterable<ReportSource>): Promise<TestRunSummary> {
    const { trx, input } = this;
    const project = await trx.selectFrom('projects').select('id').where('id', '=', input.projectId).executeTakeFirst();
    if (!project) throw new AppError('not_found', 'project not found');
    await lockTestCatalog(trx, input.projectId);
    if (input.release?.trim()) this.releaseId = (await findOrCreateRelease(trx, input.projectId, input.release)).id;
    const run = await trx
      .insertInto('testRuns')
      .values({
        projectId: input.projectId,
        releaseId: this.releaseId,
        build: clip(input.build, 200),
        environment: clip(input.environment, 100),
        commitSha: clip(input.commit, 100),
        source: clip(input.source, 200),
        startedAt: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    this.runId = run.id;
    this.nextNumber = await nextTestCaseNumber(trx, input.projectId);

    for await (const source of sources) {
      const named = 'body' in source ? source : { name: null, body: source };
      try {
        await this.readReport(named.body);
      } catch (error) {
        if (named.name && error instanceof AppError && error.code === 'invalid_xml') {
          throw new AppError('invalid_xml', `${named.name}: ${error.message}`, { cause: error });
        }
        throw error;
      }
    }
    if (this.summary.cases === 0) throw new AppError('invalid_request', 'The report contains no test cases');
    await this.verifyReferences();

    const flaky = await this.detectFlaky();
    await this.raiseDefects(flaky);
    await trx
      .updateTable('testRuns')
      .set({
        total: this.summary.cases,
        passed: this.summary.passed,
        failed: this.summary.failed + this.summary.errors,
        skipped: this.summary.skipped,
      })
      .where('id', '=', this.runId)
      .execute();
    return { runId: this.runId, releaseId: this.releaseId, ...this.summary };
  }

  private async readReport(body: ReportBody): Promise<void> {
    const parser = new JunitParser((testCase) => this.pending.push(testCase));
    const decoder = new TextDecoder('utf-8');
    try {
      for await (const chunk of body) {
        parser.write(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
        if (this.pending.length >= batchSize) {
          // At most one batch is written while the next is parsed: wait for it, then hand over.
          await this.writing;
          this.startWriting();
        }
      }
      const rest = decoder.decode();
      if (rest) parser.write(rest);
      parser.end();
      await this.writing;
      this.startWriting();
    } finally {
      // Whatever happened while parsing, the transaction is not used again before the write ends.
      await this.writing.catch(() => undefined);
    }
    await this.writing;
  }

  private startWriting(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.writing = this.flush(batch);
    // Observed at the next wait; this keeps the rejection from counting as unhandled meanwhile.
    this.writing.catch(() => undefined);
  }

  /** Writes one batch of parsed test cases: catalog entries first, then results. */
  private async flush(batch: ParsedTestCase[]): Promise<void> {
    const resolved = batch.map((testCase) => ({ testCase, identity: resolveIdentity(testCase, { pathRoots: this.input.pathRoots }) }));
    const catalog = await this.ensureCases(resolved.map((entry) => entry.identity));

    const rows = resolved.map(({ testCase, identity }) => {
      const failing = testCase.status === 'failed' || testCase.status === 'error';
      return {
        catalogCase: catalog.get(identity.identity)!,
        testCase,
        signature: failing ? failureSignature({ type: testCase.failureType, message: testCase.message, details: testCase.details }) : null,
      };
    });
    // Only failing results come back (their ids go into defect links), so a passing batch costs no
    // result rows. Identity ids are handed out in insertion order: the failing rows in input
    // order match the returned ids in ascending order, checked by their case ids.
    const inserted = await this.withoutRowTriggers(() => sql<{ id: string; testCaseId: string }>`
      with inserted as (
        insert into test_results (test_run_id, test_case_id, status, duration_ms, message, output, failure_signature, is_flaky)
        select ${this.runId}::uuid, case_id, status, duration_ms, message, output, signature, flaky
        from unnest(
          ${arrayLiteral(rows.map((row) => row.catalogCase.id))}::uuid[],
          ${arrayLiteral(rows.map((row) => row.testCase.status))}::text[],
          ${arrayLiteral(rows.map((row) => row.testCase.durationMs))}::int[],
          ${arrayLiteral(rows.map((row) => row.testCase.message))}::text[],
          ${arrayLiteral(rows.map((row) => joinOutput(row.testCase)))}::text[],
          ${arrayLiteral(rows.map((row) => row.signature))}::text[],
          ${arrayLiteral(rows.map((row) => row.testCase.flakyOnRerun))}::boolean[]
        ) with ordinality as input(case_id, status, duration_ms, message, output, signature, flaky, position)
        order by position
        returning id, test_case_id, status
      )
      select id, test_case_id from inserted where status in ('failed', 'error') order by id
    `.execute(this.trx));
    let failingIndex = 0;
    for (const row of rows) {
      const status = row.testCase.status;
      this.summary.cases += 1;
      if (status === 'passed') this.summary.passed += 1;
      else if (status === 'failed') this.summary.failed += 1;
      else if (status === 'error') this.summary.errors += 1;
      else this.summary.skipped += 1;
      if (status !== 'failed' && status !== 'error') continue;
      const result = inserted.rows[failingIndex++];
      if (!result || result.testCaseId !== row.catalogCase.id) throw new Error('failing test results came back out of order');
      const key = ciDefectSignature(row.catalogCase.identity, row.signature!);
      if (!this.failures.has(key)) {
        this.failures.set(key, {
          testCase: row.catalogCase,
          resultId: result.id,
          signature: row.signature!,
          message: row.testCase.message,
          details: row.testCase.details,
          status,
        });
      }
    }
    if (failingIndex !== inserted.rows.length) throw new Error('more failing test results came back than were written');
  }

  /**
   * Runs one bulk insert of the import without row triggers when the database has no other
   * session (`input.soleSession`). The only triggers on test_cases and test_results are
   * PostgreSQL's foreign-key checks (test/db/test-run-import.test.ts fails when another appears), one query per row per reference. On PGlite, replaying the
   * import's two inserts for 100,000 cases took 7.5-8.2 s with them and 4.9-5.2 s without; in
   * `npm run bench:junit` (three interleaved pairs, 2026-12-02) the import's CPU time was
   * 12.4-16.5 s with this and 14.5-17.1 s without, about 1.3 s less on average. With no
   * other session nothing can delete a referenced row between the import's own reads and writes,
   * so the checks can only fail on a bug of ours, and `verifyReferences` catches that in one
   * set-based query before the transaction commits. Elsewhere the triggers run as usual (and
   * `session_replication_role` needs a superuser there). SET LOCAL ends with the transaction;
   * after a failure the transaction is rolled back, so the setting is not restored then.
   */
  private async withoutRowTriggers<T>(insert: () => Promise<T>): Promise<T> {
    if (!this.input.soleSession) return insert();
    await sql`set local session_replication_role = replica`.execute(this.trx);
    const result = await insert();
    await sql`set local session_replication_role = origin`.execute(this.trx);
    return result;
  }

  /**
   * What the skipped foreign-key checks would have found, in one statement: results of this run
   * whose test case does not exist in this project. Test cases written in replica mode carry the
   * project checked at the start of the run, and results carry this run's id.
   */
  private async verifyReferences(): Promise<void> {
    if (!this.input.soleSession) return;
    const { rows } = await sql<{ orphans: number }>`
      select count(*)::int as orphans from test_results r
      where r.test_run_id = ${this.runId}
        and not exists (select 1 from test_cases c where c.id = r.test_case_id and c.project_id = ${this.input.projectId})
    `.execute(this.trx);
    if (rows[0].orphans > 0) throw new Error(`${rows[0].orphans} test results of run ${this.runId} reference no test case of the project`);
  }

  /**
   * Finds or creates the catalog entry of every identity in the batch. Entries an earlier batch
   * created are found like any other: the database is the memory of the run, not this process.
   */
  private async ensureCases(identities: Identity[]): Promise<Map<string, CatalogCase>> {
    const { trx, input } = this;
    const catalog = new Map<string, CatalogCase>();
    // One lookup per identity: repeats inside the batch merge their requirement references.
    const wanted = new Map<string, Identity>();
    for (const identity of identities) {
      const existing = wanted.get(identity.identity);
      if (existing) existing.requirements = [...new Set([...existing.requirements, ...identity.requirements])];
      else wanted.set(identity.identity, { ...identity });
    }
    const wantedList = [...wanted.values()];
    const explicitKeys = wantedList.map((identity) => identity.explicitKey).filter((key): key is string => Boolean(key));
    const found = await trx
      .selectFrom('testCases')
      .select(['id', 'key', 'title', 'suite', 'component', 'identity', 'requirements'])
      .where('projectId', '=', input.projectId)
      .where((eb) => {
        // One array parameter instead of thousands of placeholders: cheaper to parse and plan.
        const conditions = [eb('identity', '=', sql<string>`any(${arrayLiteral(wantedList.map((identity) => identity.identity))}::text[])`)];
        if (explicitKeys.length) conditions.push(eb('key', '=', sql<string>`any(${arrayLiteral(explicitKeys)}::text[])`));
        return eb.or(conditions);
      })
      .execute();
    const byIdentity = new Map(found.filter((row) => row.identity).map((row) => [row.identity!, row]));
    const byKey = new Map(found.map((row) => [row.key, row]));
    const toCreate: Identity[] = [];
    for (const identity of wantedList) {
      let row = byIdentity.get(identity.identity);
      if (!row && identity.explicitKey) {
        row = byKey.get(identity.explicitKey);
        if (row && !row.identity) {
          // A catalog case (often manual) that a test now names by key: it becomes automated.
          await trx.updateTable('testCases').set({ identity: identity.identity, updatedAt: new Date() }).where('id', '=', row.id).execute();
          row = { ...row, identity: identity.identity };
        }
      }
      if (row) {
        const catalogCase: CatalogCase = { ...row, identity: identity.identity };
        catalog.set(identity.identity, catalogCase);
        await this.addRequirements(catalogCase, identity.requirements);
      } else {
        toCreate.push(identity);
      }
    }
    if (toCreate.length === 0) return catalog;
    // Explicit keys first, so generated numbers can skip the ones they take.
    toCreate.sort((a, b) => Number(Boolean(b.explicitKey)) - Number(Boolean(a.explicitKey)));
    const keys = toCreate.map((identity) => {
      if (identity.explicitKey) {
        const number = /^TC-(\d+)$/.exec(identity.explicitKey)?.[1];
        if (number) this.takenNumbers.add(Number(number));
        return identity.explicitKey;
      }
      while (this.takenNumbers.has(this.nextNumber)) this.nextNumber += 1;
      return `TC-${this.nextNumber++}`;
    });
    // Ids are made here rather than by the column default: on PGlite every gen_random_uuid()
    // opens /dev/urandom through Emscripten's JavaScript file system, which for 100,000 new
    // cases was about a sixth of the import's JavaScript allocations (bench:junit, heap sampling).
    const ids = toCreate.map(() => randomUUID());
    const created = await this.withoutRowTriggers(() => sql<{ key: string }>`
      insert into test_cases (id, project_id, key, title, suite, kind, identity, requirements)
      select id, ${input.projectId}::uuid, key, title, suite, 'automated', identity,
             case when requirements = '' then '{}'::text[] else string_to_array(requirements, chr(31)) end
      from unnest(
        ${arrayLiteral(ids)}::uuid[],
        ${arrayLiteral(keys)}::text[],
        ${arrayLiteral(toCreate.map((identity) => identity.title))}::text[],
        ${arrayLiteral(toCreate.map((identity) => identity.suite || null))}::text[],
        ${arrayLiteral(toCreate.map((identity) => identity.identity))}::text[],
        ${arrayLiteral(toCreate.map((identity) => identity.requirements.join('\u001f')))}::text[]
      ) as input(id, key, title, suite, identity, requirements)
      on conflict (project_id, key) do nothing
      returning key
    `.execute(trx));
    if (created.rows.length !== toCreate.length) {
      const createdKeys = new Set(created.rows.map((row) => row.key));
      const taken = keys.filter((key) => !createdKeys.has(key));
      throw new AppError('conflict', `Test case keys already used by other tests: ${taken.slice(0, 5).join(', ')}`);
    }
    toCreate.forEach((identity, index) => {
      catalog.set(identity.identity, {
        id: ids[index],
        key: keys[index],
        title: identity.title,
        suite: identity.suite || null,
        component: null,
        identity: identity.identity,
        requirements: identity.requirements,
      });
    });
    this.summary.newCases += toCreate.length;
    return catalog;
  }

  /** Adds requirement references a report names that the catalog entry lacks (with a revision). */
  private async addRequirements(catalogCase: CatalogCase, requirements: string[]): Promise<void> {
    const added = requirements.filter((requirement) => !catalogCase.requirements.includes(requirement));
    if (added.length === 0) return;
    const next = [...catalogCase.requirements, ...added];
    await this.trx.updateTable('testCases').set({ requirements: next, updatedAt: new Date() }).where('id', '=', catalogCase.id).execute();
    await this.trx
      .insertInto('testCaseRevisions')
      .values({ testCaseId: catalogCase.id, actorUserId: null, changes: JSON.stringify({ requirements: { from: catalogCase.requirements, to: next }, via: 'junit' }) })
      .execute();
    catalogCase.requirements = next;
  }

  /**
   * A test is flaky when, on the same commit, it both passed and failed (in this run, in a
   * rerun, or across runs), or when its last three results alternate (failed → passed →
   * failed).
   * A fresh regression (passed, passed, failed) is not flaky.
   * One set-based statement over the run's results marks them (and, for a flake across runs of
   * the commit, the earlier half) and returns the flaky test cases that failed in this run.
   */
  private async detectFlaky(): Promise<Set<string>> {
    const commit = this.input.commit?.trim() || null;
    const result = await sql<{ flaky: number; failedFlaky: string[] | null }>`
      with outcomes as (
        -- rerun_flaky: the report itself says the test passed on a rerun (set while inserting)
        select test_case_id, bool_or(status = 'passed') as passed, bool_or(status in ('failed', 'error')) as failed,
               bool_or(is_flaky) as rerun_flaky
        from test_results where test_run_id = ${this.runId}
        group by test_case_id
      ),
      commit_history as (
        select r.test_case_id, bool_or(r.status = 'passed') as passed, bool_or(r.status in ('failed', 'error')) as failed
        from test_results r join test_runs t on t.id = r.test_run_id
        where ${commit}::text is not null and t.project_id = ${this.input.projectId} and t.commit_sha = ${commit} and t.id <> ${this.runId}
          and r.test_case_id in (select test_case_id from outcomes)
        group by r.test_case_id
      ),
      judged as (
        select o.test_case_id, o.failed, o.rerun_flaky, h.test_case_id is not null as has_commit_history,
               -- passed and failed on this commit, this run's results counting only when not all skipped
               (o.passed or o.failed) and (o.passed or coalesce(h.passed, false)) and (o.failed or coalesce(h.failed, false)) as flaky_on_commit
        from outcomes o left join commit_history h on h.test_case_id = o.test_case_id
      ),
      recent as (
        -- the last ${sql.raw(String(flipWindow))} results before this run of failing tests not yet known to be flaky
        select r.test_case_id, r.status, row_number() over (partition by r.test_case_id order by r.id desc) as position
        from test_results r
        where r.test_case_id in (select test_case_id from judged where failed and not rerun_flaky and not flaky_on_commit)
          and r.test_run_id <> ${this.runId} and r.status <> 'skipped'
      ),
      flipping as (
        -- failed → passed → (failed now): two flips in the last three results
        select test_case_id from recent where position <= ${flipWindow}
        group by test_case_id
        having bool_or(position = 1 and status = 'passed') and bool_or(position = 2 and status <> 'passed')
      ),
      flaky as (
        select test_case_id, failed, flaky_on_commit and has_commit_history as across_runs from judged
        where rerun_flaky or flaky_on_commit
        union all
        select test_case_id, true, false from flipping
      ),
      marked as (
        update test_results set is_flaky = true
        where test_run_id = ${this.runId} and test_case_id in (select test_case_id from flaky)
      ),
      marked_earlier as (
        -- the earlier results on this commit were the other half of the flake: mark them too
        update test_results r set is_flaky = true
        from test_runs t
        where t.id = r.test_run_id and t.project_id = ${this.input.projectId} and t.commit_sha = ${commit} and t.id <> ${this.runId}
          and r.test_case_id in (select test_case_id from flaky where across_runs) and r.status <> 'skipped'
      )
      select (select count(*) from flaky)::int as flaky,
             (select array_agg(test_case_id::text) from flaky where failed) as failed_flaky
    `.execute(this.trx);
    this.summary.flaky = result.rows[0].flaky;
    return new Set(result.rows[0].failedFlaky ?? []);
  }

  /** One `ci` defect per (test identity, failure signature): created, or updated and reopened. */
  private async raiseDefects(flaky: Set<string>): Promise<void> {
    // Every failure of one signature belongs to one test case, so flakiness is shared by all.
    const distinct = [...this.failures].filter(([, failure]) => !flaky.has(failure.testCase.id));
    if (distinct.length === 0) return;
    const actor = this.input.actor ?? systemActor;
    const now = new Date();
    const event = (failure: Failure) => ({
      runId: this.runId, resultId: failure.resultId, release: this.input.release ?? null, build: this.input.build ?? null, commit: this.input.commit ?? null,
    });
    for (let index = 0; index < distinct.length; index += defectChunkSize) {
      const chunk = distinct.slice(index, index + defectChunkSize);
      const rows = await this.trx
        .selectFrom('defects')
        .select(['id', 'status', 'errorSignature'])
        .where('projectId', '=', this.input.projectId)
        .where('origin', '=', 'ci')
        .where('mergedIntoId', 'is', null)
        .where('errorSignature', '=', sql<string>`any(${chunk.map(([signature]) => signature)}::text[])`)
        .execute();
      const existing = new Map(rows.map((row) => [row.errorSignature!, row]));
      const links: { defectId: string; testCaseId: string; resultId: string }[] = [];

      // Defects that failed again: reopened when done, then one `test_failed` event each.
      const again = chunk.filter(([signature]) => existing.has(signature));
      for (const [signature] of again) {
        const found = existing.get(signature)!;
        if (doneStatuses.has(found.status as never)) await updateDefect(this.trx, found.id, { status: 'reopened' }, actor);
      }
      if (again.length > 0) {
        const ids = again.map(([signature]) => existing.get(signature)!.id);
        await sql`
          insert into defect_events (project_id, defect_id, actor_user_id, actor_kind, kind, new_value, created_at)
          select ${this.input.projectId}, defect_id, ${actor.userId ?? null}::uuid, ${actor.kind}, 'test_failed', new_value, ${now}::timestamptz
          from unnest(${ids}::uuid[], ${again.map(([, failure]) => JSON.stringify(event(failure)))}::jsonb[]) with ordinality as input(defect_id, new_value, position)
          order by position
        `.execute(this.trx);
        // last_seen_at is a counter-like field the defect service leaves to its writers.
        await sql`update defects set last_seen_at = ${now}, updated_at = ${now} where id = any(${ids}::uuid[])`.execute(this.trx);
        this.summary.updatedDefects += again.length;
        again.forEach(([, failure], position) => links.push({ defectId: ids[position], testCaseId: failure.testCase.id, resultId: failure.resultId }));
      }

      const fresh = chunk.filter(([signature]) => !existing.has(signature));
      const created = await createDefects(
        this.trx,
        this.input.projectId,
        fresh.map(([signature, failure]) => ({
          title: `${failure.testCase.title} ${failure.status === 'error' ? 'errors' : 'fails'}${failure.message ? `: ${failure.message.split('\n')[0]}` : ''}`.slice(0, 300),
          description: describeFailure(failure, this.input),
          origin: 'ci' as const,
          component: failure.testCase.component,
          foundInReleaseId: this.releaseId,
          errorSignature: signature,
          firstSeenAt: now,
        })),
        actor,
      );
      this.summary.newDefects += created.length;
      fresh.forEach(([, failure], position) => links.push({ defectId: created[position].id, testCaseId: failure.testCase.id, resultId: failure.resultId }));

      if (links.length > 0) {
        await sql`
          insert into defect_test_links (defect_id, test_case_id, kind, test_result_id)
          select defect_id, test_case_id, 'failed_in', result_id
          from unnest(${links.map((link) => link.defectId)}::uuid[], ${links.map((link) => link.testCaseId)}::uuid[], ${links.map((link) => link.resultId)}::bigint[])
            as input(defect_id, test_case_id, result_id)
          on conflict (defect_id, test_case_id, kind) do update set test_result_id = excluded.test_result_id
        `.execute(this.trx);
      }
    }
  }
}

/** The defect signature of a CI failure: test identity + failure signature, hashed. */
export function ciDefectSignature(identity: string, signature: string): string {
  return `ci:${createHash('sha256').update(`${identity}\n${signature}`).digest('hex').slice(0, 32)}`;
}

function describeFailure(failure: Failure, input: TestRunInput): string {
  const context = [
    `Automated test ${failure.testCase.key} (${failure.testCase.suite ? `${failure.testCase.suite} › ` : ''}${failure.testCase.title}) ${failure.status === 'error' ? 'errored' : 'failed'} in CI.`,
    input.release ? `Release: ${input.release}` : '',
    input.build ? `Build: ${input.build}` : '',
    input.environment ? `Environment: ${input.environment}` : '',
    input.commit ? `Commit: ${input.commit}` : '',
  ].filter(Boolean);
  const details = failure.details ? `\n\n${failure.details.slice(0, 4000)}` : failure.message ? `\n\n${failure.message}` : '';
  return context.join('\n') + details;
}

function joinOutput(testCase: ParsedTestCase): string | null {
  if (testCase.details && testCase.output) return `${testCase.details}\n\n--- output ---\n${testCase.output}`;
  return testCase.details ?? testCase.output;
}

function clip(value: string | null | undefined, length: number): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed.slice(0, length) : null;
}
