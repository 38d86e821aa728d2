import { createHash } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema';
import { type Actor, createDefect, doneStatuses, recordDefectEvent, systemActor, updateDefect } from '../defects/defect-service';
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

const batchSize = 1000;
/**
 * How many earlier results of a failing test are read to see whether it keeps flipping: with
 * the current one that makes three (failed → passed → failed). A failure that was fixed and
 * stayed fixed for a while (failed, passed, passed, failed) is a regression, not a flake.
 */
const flipWindow = 2;

interface CachedCase {
  id: string;
  key: string;
  title: string;
  suite: string | null;
  component: string | null;
  identity: string;
  requirements: string[];
}

interface Failure {
  testCase: CachedCase;
  resultId: string;
  signature: string;
  message: string | null;
  details: string | null;
  status: TestStatus;
}

const passedBit = 1;
const failedBit = 2;

/**
 * Imports one or more JUnit reports as one test run, in one transaction (a report that turns
 * out malformed halfway leaves nothing behind). Streams: reports are parsed chunk by chunk and
 * written in batches, so memory depends on the batch, not the file. Unknown tests become
 * automated catalog entries; failures become `ci` defects (deduplicated by test identity and
 * failure signature) unless the test is flaky.
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
  private readonly cache = new Map<string, CachedCase>();
  /** passed/failed bits per test case in this run: both bits set = flaky within the run. */
  private readonly outcomes = new Map<string, number>();
  /** Same-commit history from earlier runs, per test case. */
  private commitHistory = new Map<string, number>();
  private readonly failures: Failure[] = [];
  private readonly flakyOnRerun = new Set<string>();
  private pending: ParsedTestCase[] = [];
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
    if (input.commit?.trim()) await this.loadCommitHistory(input.commit.trim());

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
    for await (const chunk of body) {
      parser.write(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
      // Writing waits here, so a fast reader never piles up more than a batch of parsed cases.
      if (this.pending.length >= batchSize) await this.flush();
    }
    const rest = decoder.decode();
    if (rest) parser.write(rest);
    parser.end();
    await this.flush();
  }

  private async loadCommitHistory(commit: string): Promise<void> {
    const rows = await sql<{ testCaseId: string; passed: boolean; failed: boolean }>`
      select r.test_case_id, bool_or(r.status = 'passed') as passed, bool_or(r.status in ('failed', 'error')) as failed
      from test_results r join test_runs t on t.id = r.test_run_id
      where t.project_id = ${this.input.projectId} and t.commit_sha = ${commit} and t.id <> ${this.runId}
      group by r.test_case_id
    `.execute(this.trx);
    this.commitHistory = new Map(rows.rows.map((row) => [row.testCaseId, (row.passed ? passedBit : 0) | (row.failed ? failedBit : 0)]));
  }

  /** Writes the parsed test cases collected so far: catalog entries first, then results. */
  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const resolved = batch.map((testCase) => ({ testCase, identity: resolveIdentity(testCase, { pathRoots: this.input.pathRoots }) }));
    await this.ensureCases(resolved.map((entry) => entry.identity));

    const rows = resolved.map(({ testCase, identity }) => {
      const cached = this.cache.get(identity.identity)!;
      const failing = testCase.status === 'failed' || testCase.status === 'error';
      return {
        cached,
        testCase,
        signature: failing ? failureSignature({ type: testCase.failureType, message: testCase.message, details: testCase.details }) : null,
      };
    });
    const inserted = await sql<{ id: string; testCaseId: string }>`
      insert into test_results (test_run_id, test_case_id, status, duration_ms, message, output, failure_signature, is_flaky)
      select ${this.runId}::uuid, case_id, status, duration_ms, message, output, signature, flaky
      from unnest(
        ${rows.map((row) => row.cached.id)}::uuid[],
        ${rows.map((row) => row.testCase.status)}::text[],
        ${rows.map((row) => row.testCase.durationMs)}::int[],
        ${rows.map((row) => row.testCase.message)}::text[],
        ${rows.map((row) => joinOutput(row.testCase))}::text[],
        ${rows.map((row) => row.signature)}::text[],
        ${rows.map((row) => row.testCase.flakyOnRerun)}::boolean[]
      ) as input(case_id, status, duration_ms, message, output, signature, flaky)
      returning id, test_case_id
    `.execute(this.trx);
    // Rows come back in insertion order; match them up by position, checking the case id.
    inserted.rows.forEach((result, index) => {
      const row = rows[index];
      if (row.cached.id !== result.testCaseId) throw new Error('test result rows came back out of order');
      const status = row.testCase.status;
      this.summary.cases += 1;
      if (status === 'passed') this.summary.passed += 1;
      else if (status === 'failed') this.summary.failed += 1;
      else if (status === 'error') this.summary.errors += 1;
      else this.summary.skipped += 1;
      if (row.testCase.flakyOnRerun) this.flakyOnRerun.add(row.cached.id);
      const bit = status === 'passed' ? passedBit : status === 'skipped' ? 0 : failedBit;
      if (bit) this.outcomes.set(row.cached.id, (this.outcomes.get(row.cached.id) ?? 0) | bit);
      if (bit === failedBit) {
        this.failures.push({
          testCase: row.cached,
          resultId: result.id,
          signature: row.signature!,
          message: row.testCase.message,
          details: row.testCase.details,
          status,
        });
      }
    });
  }

  /** Finds or creates the catalog entry of every identity in the batch (cached for the run). */
  private async ensureCases(identities: ReturnType<typeof resolveIdentity>[]): Promise<void> {
    const { trx, input } = this;
    const missing = new Map<string, ReturnType<typeof resolveIdentity>>();
    for (const identity of identities) {
      const cached = this.cache.get(identity.identity);
      if (cached) {
        await this.addRequirements(cached, identity.requirements);
        continue;
      }
      const existing = missing.get(identity.identity);
      if (existing) existing.requirements = [...new Set([...existing.requirements, ...identity.requirements])];
      else missing.set(identity.identity, { ...identity });
    }
    if (missing.size === 0) return;
    const wanted = [...missing.values()];
    const explicitKeys = wanted.map((identity) => identity.explicitKey).filter((key): key is string => Boolean(key));
    const found = await trx
      .selectFrom('testCases')
      .select(['id', 'key', 'title', 'suite', 'component', 'identity', 'requirements'])
      .where('projectId', '=', input.projectId)
      .where((eb) => {
        const conditions = [eb('identity', 'in', wanted.map((identity) => identity.identity))];
        if (explicitKeys.length) conditions.push(eb('key', 'in', explicitKeys));
        return eb.or(conditions);
      })
      .execute();
    const byIdentity = new Map(found.filter((row) => row.identity).map((row) => [row.identity!, row]));
    const byKey = new Map(found.map((row) => [row.key, row]));
    const toCreate: ReturnType<typeof resolveIdentity>[] = [];
    for (const identity of wanted) {
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
        const cached: CachedCase = { ...row, identity: identity.identity };
        this.cache.set(identity.identity, cached);
        await this.addRequirements(cached, identity.requirements);
      } else {
        toCreate.push(identity);
      }
    }
    if (toCreate.length === 0) return;
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
    const created = await sql<{ id: string; key: string; identity: string }>`
      insert into test_cases (project_id, key, title, suite, kind, identity, requirements)
      select ${input.projectId}::uuid, key, title, suite, 'automated', identity,
             case when requirements = '' then '{}'::text[] else string_to_array(requirements, chr(31)) end
      from unnest(
        ${keys}::text[],
        ${toCreate.map((identity) => identity.title)}::text[],
        ${toCreate.map((identity) => identity.suite || null)}::text[],
        ${toCreate.map((identity) => identity.identity)}::text[],
        ${toCreate.map((identity) => identity.requirements.join('\u001f'))}::text[]
      ) as input(key, title, suite, identity, requirements)
      on conflict (project_id, key) do nothing
      returning id, key, identity
    `.execute(trx);
    if (created.rows.length !== toCreate.length) {
      const taken = keys.filter((key) => !created.rows.some((row) => row.key === key));
      throw new AppError('conflict', `Test case keys already used by other tests: ${taken.slice(0, 5).join(', ')}`);
    }
    const byCreatedIdentity = new Map(created.rows.map((row) => [row.identity, row]));
    for (const identity of toCreate) {
      const row = byCreatedIdentity.get(identity.identity)!;
      this.cache.set(identity.identity, {
        id: row.id,
        key: row.key,
        title: identity.title,
        suite: identity.suite || null,
        component: null,
        identity: identity.identity,
        requirements: identity.requirements,
      });
    }
    this.summary.newCases += toCreate.length;
  }

  /** Adds requirement references a report names that the catalog entry lacks (with a revision). */
  private async addRequirements(cached: CachedCase, requirements: string[]): Promise<void> {
    const added = requirements.filter((requirement) => !cached.requirements.includes(requirement));
    if (added.length === 0) return;
    const next = [...cached.requirements, ...added];
    await this.trx.updateTable('testCases').set({ requirements: next, updatedAt: new Date() }).where('id', '=', cached.id).execute();
    await this.trx
      .insertInto('testCaseRevisions')
      .values({ testCaseId: cached.id, actorUserId: null, changes: JSON.stringify({ requirements: { from: cached.requirements, to: next }, via: 'junit' }) })
      .execute();
    cached.requirements = next;
  }

  /**
   * A test is flaky when, on the same commit, it both passed and failed (in this run, in a
   * rerun, or across runs), or when its last three results alternate (failed → passed →
   * failed).
   * A fresh regression (passed, passed, failed) is not flaky.
   */
  private async detectFlaky(): Promise<Set<string>> {
    const flaky = new Set<string>(this.flakyOnRerun);
    const flakyOnCommit = new Set<string>();
    for (const [caseId, bits] of this.outcomes) {
      const combined = bits | (this.commitHistory.get(caseId) ?? 0);
      if (combined === (passedBit | failedBit)) {
        flaky.add(caseId);
        if (this.commitHistory.has(caseId)) flakyOnCommit.add(caseId);
      }
    }
    const failingIds = [...new Set(this.failures.map((failure) => failure.testCase.id))].filter((id) => !flaky.has(id));
    if (failingIds.length > 0) {
      const history = await sql<{ testCaseId: string; status: TestStatus }>`
        select test_case_id, status from (
          select r.test_case_id, r.status, row_number() over (partition by r.test_case_id order by r.id desc) as position
          from test_results r
          where r.test_case_id = any(${failingIds}::uuid[]) and r.test_run_id <> ${this.runId} and r.status <> 'skipped'
        ) recent
        where position <= ${flipWindow}
        order by test_case_id, position desc
      `.execute(this.trx);
      const sequences = new Map<string, boolean[]>();
      for (const row of history.rows) {
        const list = sequences.get(row.testCaseId) ?? [];
        list.push(row.status === 'passed');
        sequences.set(row.testCaseId, list);
      }
      for (const id of failingIds) {
        const sequence = [...(sequences.get(id) ?? []), false];
        let flips = 0;
        for (let index = 1; index < sequence.length; index += 1) if (sequence[index] !== sequence[index - 1]) flips += 1;
        // failed → passed → failed is two flips: the failure did not stay fixed.
        if (flips >= 2) flaky.add(id);
      }
    }
    if (flaky.size > 0) {
      const ids = [...flaky];
      await this.trx.updateTable('testResults').set({ isFlaky: true }).where('testRunId', '=', this.runId).where('testCaseId', 'in', ids).execute();
      if (flakyOnCommit.size > 0 && this.input.commit) {
        // The earlier results on this commit were the other half of the flake: mark them too.
        await sql`
          update test_results r set is_flaky = true
          from test_runs t
          where t.id = r.test_run_id and t.project_id = ${this.input.projectId} and t.commit_sha = ${this.input.commit.trim()}
            and r.test_case_id = any(${[...flakyOnCommit]}::uuid[]) and r.status <> 'skipped'
        `.execute(this.trx);
      }
    }
    this.summary.flaky = flaky.size;
    return flaky;
  }

  /** One `ci` defect per (test identity, failure signature): created, or updated and reopened. */
  private async raiseDefects(flaky: Set<string>): Promise<void> {
    const distinct = new Map<string, Failure>();
    for (const failure of this.failures) {
      if (flaky.has(failure.testCase.id)) continue;
      const key = ciDefectSignature(failure.testCase.identity, failure.signature);
      if (!distinct.has(key)) distinct.set(key, failure);
    }
    if (distinct.size === 0) return;
    const actor = this.input.actor ?? systemActor;
    const existing = new Map<string, { id: string; status: string }>();
    const keys = [...distinct.keys()];
    for (let index = 0; index < keys.length; index += 1000) {
      const rows = await this.trx
        .selectFrom('defects')
        .select(['id', 'status', 'errorSignature'])
        .where('projectId', '=', this.input.projectId)
        .where('origin', '=', 'ci')
        .where('mergedIntoId', 'is', null)
        .where('errorSignature', 'in', keys.slice(index, index + 1000))
        .execute();
      for (const row of rows) existing.set(row.errorSignature!, row);
    }
    const now = new Date();
    const links: { defectId: string; testCaseId: string; resultId: string }[] = [];
    for (const [signature, failure] of distinct) {
      const found = existing.get(signature);
      const event = { runId: this.runId, resultId: failure.resultId, release: this.input.release ?? null, build: this.input.build ?? null, commit: this.input.commit ?? null };
      if (found) {
        if (doneStatuses.has(found.status as never)) await updateDefect(this.trx, found.id, { status: 'reopened' }, actor);
        await recordDefectEvent(this.trx, { projectId: this.input.projectId, defectId: found.id, actor, kind: 'test_failed', newValue: event, at: now });
        // last_seen_at is a counter-like field the defect service leaves to its writers.
        await this.trx.updateTable('defects').set({ lastSeenAt: now, updatedAt: now }).where('id', '=', found.id).execute();
        this.summary.updatedDefects += 1;
        links.push({ defectId: found.id, testCaseId: failure.testCase.id, resultId: failure.resultId });
      } else {
        const defect = await createDefect(
          this.trx,
          {
            projectId: this.input.projectId,
            title: `${failure.testCase.title} ${failure.status === 'error' ? 'errors' : 'fails'}${failure.message ? `: ${failure.message.split('\n')[0]}` : ''}`.slice(0, 300),
            description: describeFailure(failure, this.input),
            origin: 'ci',
            component: failure.testCase.component,
            foundInReleaseId: this.releaseId,
            errorSignature: signature,
            firstSeenAt: now,
          },
          actor,
        );
        this.summary.newDefects += 1;
        links.push({ defectId: defect.id, testCaseId: failure.testCase.id, resultId: failure.resultId });
      }
    }
    for (let index = 0; index < links.length; index += 1000) {
      const slice = links.slice(index, index + 1000);
      await sql`
        insert into defect_test_links (defect_id, test_case_id, kind, test_result_id)
        select defect_id, test_case_id, 'failed_in', result_id
        from unnest(${slice.map((link) => link.defectId)}::uuid[], ${slice.map((link) => link.testCaseId)}::uuid[], ${slice.map((link) => link.resultId)}::bigint[])
          as input(defect_id, test_case_id, result_id)
        on conflict (defect_id, test_case_id, kind) do update set test_result_id = excluded.test_result_id
      `.execute(this.trx);
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
