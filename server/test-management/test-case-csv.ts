import type { Kysely } from 'kysely';
import { type CsvImportPreset, type CsvImportTarget, csvImportTargets } from '../../shared/quality-api';
import { newTestCaseSchema, type NewTestCase, type TestStep } from '../../shared/test-case-schema';
import type { Database } from '../db/schema';
import { AppError } from '../http/app-error';
import { lockTestCatalog, nextTestCaseNumber, updateTestCase } from './test-case-service';

/** Parses RFC 4180 CSV (quoted fields, "" escapes, CRLF or LF, a leading BOM). Pure. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let index = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (; index < text.length; index += 1) {
    const char = text[index];
    if (quoted) {
      if (char === '"') {
        if (text[index + 1] === '"') {
          field += '"';
          index += 1;
        } else quoted = false;
      } else field += char;
    } else if (char === '"' && field === '') quoted = true;
    else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[index + 1] === '\n') index += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += char;
  }
  if (quoted) throw new AppError('invalid_request', 'The CSV ends inside a quoted field');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((cells) => cells.some((cell) => cell.trim() !== ''));
}

/** Catalog fields a CSV column can fill. */
export const csvTargets = csvImportTargets;
export type CsvTarget = CsvImportTarget;
export type CsvMapping = Partial<Record<CsvTarget, string>>;
export type CsvPreset = CsvImportPreset;

/**
 * Column names each tool writes, per field (compared case-insensitively, spaces and underscores
 * alike). TestRail: ID (C123), Title, Section, Priority, Type, Steps / Steps (Step),
 * Expected Result / Steps (Expected Result), Preconditions, References. Qase: id, title, suite,
 * priority, automation, steps_actions, steps_result, preconditions, tags. Kiwi TCMS: ID,
 * Summary, Category, Component, Priority, Is automated, Tags, Text, Requirement.
 */
const aliases: Record<CsvTarget, string[]> = {
  key: ['id', 'key', 'case id', 'test case id', 'case key'],
  title: ['title', 'summary', 'name', 'case title', 'test case'],
  suite: ['section', 'section hierarchy', 'suite', 'folder', 'category', 'suite title'],
  component: ['component', 'components', 'module', 'area'],
  tags: ['tags', 'tag', 'labels'],
  priority: ['priority'],
  kind: ['automation type', 'automation', 'is automated', 'automated', 'type'],
  steps: ['steps (step)', 'steps', 'steps actions', 'text', 'steps action', 'action'],
  expected: ['steps (expected result)', 'expected result', 'expected', 'steps result', 'expected results'],
  preconditions: ['preconditions', 'precondition', 'setup'],
  requirements: ['references', 'refs', 'requirements', 'requirement', 'stories', 'story'],
};

const keyPrefixes: Record<CsvPreset, string> = { testrail: 'C', qase: 'QASE-', kiwi: 'KIWI-', generic: 'EXT-' };

const normalizeHeader = (header: string) => header.trim().toLowerCase().replace(/[_\s]+/g, ' ');

/** Guesses which tool wrote the file from its headers. */
export function detectPreset(headers: string[]): CsvPreset {
  const set = new Set(headers.map(normalizeHeader));
  if (set.has('section') || set.has('references') || set.has('steps (step)')) return 'testrail';
  if (set.has('steps actions') || set.has('suite') && set.has('automation')) return 'qase';
  if (set.has('summary') && (set.has('category') || set.has('text') || set.has('is automated'))) return 'kiwi';
  return 'generic';
}

/** Resolves the mapping: explicit entries win, the rest come from the alias table. */
export function resolveMapping(headers: string[], explicit: CsvMapping = {}): Partial<Record<CsvTarget, number>> {
  const normalized = headers.map(normalizeHeader);
  const columns: Partial<Record<CsvTarget, number>> = {};
  for (const target of csvTargets) {
    const wanted = explicit[target];
    if (wanted !== undefined) {
      const index = normalized.indexOf(normalizeHeader(wanted));
      if (index < 0) throw new AppError('invalid_request', `mapping.${target}: the CSV has no column "${wanted}"`, { field: `mapping.${target}` });
      columns[target] = index;
      continue;
    }
    for (const alias of aliases[target]) {
      const index = normalized.indexOf(alias);
      if (index >= 0 && !Object.values(columns).includes(index)) {
        columns[target] = index;
        break;
      }
    }
  }
  if (columns.title === undefined) throw new AppError('invalid_request', 'The CSV needs a title column (Title, Summary or Name), or a mapping for title', { field: 'mapping.title' });
  return columns;
}

/** "1. Open the cart\n2. Pay" → ['Open the cart', 'Pay']; text without numbering is one step. */
export function splitNumbered(text: string): string[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  const parts = trimmed.split(/\r?\n(?=\s*\d+[.)]\s)/).map((part) => part.replace(/^\s*\d+[.)]\s+/, '').trim()).filter(Boolean);
  return parts.length ? parts : [trimmed];
}

function toSteps(stepsText: string, expectedText: string, preconditions: string): { steps: TestStep[]; expectedResult: string | null } {
  const actions = splitNumbered(stepsText);
  const expected = splitNumbered(expectedText);
  const steps: TestStep[] = [];
  if (preconditions.trim()) steps.push({ action: `Preconditions: ${preconditions.trim()}`, expected: null });
  const zipped = actions.length > 1 && expected.length === actions.length;
  actions.forEach((action, index) => steps.push({ action, expected: zipped ? expected[index] : null }));
  return { steps, expectedResult: zipped ? null : expectedText.trim() || null };
}

function toKind(value: string): 'manual' | 'automated' | undefined {
  const text = value.trim().toLowerCase();
  if (!text) return undefined;
  if (/^(yes|true|1|automated|automation)$/.test(text) || (text.includes('automat') && !/not|to be|manual/.test(text))) return 'automated';
  return 'manual';
}

/** CSV rows as catalog input, validated; errors name the line. Pure apart from throwing. */
export function csvToTestCases(text: string, options: { preset?: CsvPreset; mapping?: CsvMapping } = {}): { preset: CsvPreset; cases: NewTestCase[] } {
  const rows = parseCsv(text);
  if (rows.length < 2) throw new AppError('invalid_request', 'The CSV needs a header line and at least one test case');
  const [headers, ...data] = rows;
  const preset = options.preset ?? detectPreset(headers);
  const columns = resolveMapping(headers, options.mapping);
  const cell = (row: string[], target: CsvTarget) => (columns[target] === undefined ? '' : (row[columns[target]!] ?? '').trim());
  const cases = data.map((row, index) => {
    const line = index + 2;
    let key = cell(row, 'key') || undefined;
    if (key && /^\d+$/.test(key)) key = `${keyPrefixes[preset]}${key}`;
    const { steps, expectedResult } = toSteps(cell(row, 'steps'), cell(row, 'expected'), cell(row, 'preconditions'));
    const candidate = {
      key,
      title: cell(row, 'title'),
      suite: cell(row, 'suite') || null,
      component: cell(row, 'component') || null,
      tags: cell(row, 'tags').split(/[,;]/).map((tag) => tag.trim()).filter(Boolean),
      priority: cell(row, 'priority') || null,
      kind: toKind(cell(row, 'kind')) ?? 'manual',
      steps,
      expectedResult,
      requirements: [...new Set(cell(row, 'requirements').split(/[,;\s]+/).map((requirement) => requirement.trim()).filter(Boolean))],
    };
    const parsed = newTestCaseSchema.safeParse(candidate);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AppError('invalid_request', `CSV line ${line}: ${issue.path.join('.') || 'row'}: ${issue.message}`, { field: `line ${line}` });
    }
    return parsed.data;
  });
  return { preset, cases };
}

/** What an import would do, without writing: the headers, the column each field reads, the first cases. */
export interface CsvPreview {
  preset: CsvPreset;
  headers: string[];
  columns: Partial<Record<CsvTarget, string>>;
  total: number;
  cases: NewTestCase[];
}

/** Parses and validates like the import (same errors), for the column-mapping screen. Pure. */
export function previewTestCasesCsv(text: string, options: { preset?: CsvPreset; mapping?: CsvMapping } = {}, limit = 20): CsvPreview {
  const { preset, cases } = csvToTestCases(text, options);
  const headers = parseCsv(text)[0];
  const columns = Object.fromEntries(Object.entries(resolveMapping(headers, options.mapping)).map(([target, index]) => [target, headers[index as number]]));
  return { preset, headers, columns, total: cases.length, cases: cases.slice(0, limit) };
}

/**
 * Imports catalog entries from CSV in one transaction: a row whose key exists updates that case
 * (with a revision), other rows create cases. Nothing is written when any row is invalid.
 */
export async function importTestCasesCsv(
  db: Kysely<Database>,
  projectId: string,
  text: string,
  options: { preset?: CsvPreset; mapping?: CsvMapping; actorUserId: string | null },
): Promise<{ preset: CsvPreset; created: number; updated: number; unchanged: number; keys: string[] }> {
  const { preset, cases } = csvToTestCases(text, options);
  return db.transaction().execute(async (trx) => {
    await lockTestCatalog(trx, projectId);
    let next = await nextTestCaseNumber(trx, projectId);
    const result = { preset, created: 0, updated: 0, unchanged: 0, keys: [] as string[] };
    for (const input of cases) {
      const key = input.key?.toUpperCase();
      const existing = key ? await trx.selectFrom('testCases').selectAll().where('projectId', '=', projectId).where('key', '=', key).executeTakeFirst() : undefined;
      if (existing) {
        const { key: _key, ...changes } = input;
        const updated = await updateTestCase(trx, projectId, existing.id, changes, options.actorUserId);
        if (updated.updatedAt.getTime() === existing.updatedAt.getTime()) result.unchanged += 1;
        else result.updated += 1;
        result.keys.push(existing.key);
        continue;
      }
      const assigned = key ?? `TC-${next++}`;
      const created = await trx
        .insertInto('testCases')
        .values({
          projectId,
          key: assigned,
          title: input.title,
          suite: input.suite ?? null,
          component: input.component ?? null,
          tags: input.tags ?? [],
          priority: input.priority ?? null,
          kind: input.kind ?? 'manual',
          steps: JSON.stringify(input.steps ?? []),
          expectedResult: input.expectedResult ?? null,
          requirements: input.requirements ?? [],
        })
        .returning(['id', 'key'])
        .executeTakeFirstOrThrow();
      await trx.insertInto('testCaseRevisions').values({ testCaseId: created.id, actorUserId: options.actorUserId, changes: JSON.stringify({ created: { ...input, key: assigned }, via: `csv:${preset}` }) }).execute();
      result.created += 1;
      result.keys.push(created.key);
    }
    return result;
  });
}
