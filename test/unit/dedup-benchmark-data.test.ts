import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBenchmarkFile } from '../../bench/dedup-data';

const folder = mkdtempSync(path.join(os.tmpdir(), 'bugloop-dedup-data-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const file = path.join(folder, name);
  writeFileSync(file, text);
  return file;
};
const line = (id: string, created: string, extra: object = {}) => JSON.stringify({ id, title: `Title ${id}`, description: '', component: null, product: 'Shop', created, dup_of: null, ...extra });

describe('reading a duplicate-benchmark file', () => {
  it('reads a file with a byte-order mark and CRLF line ends, sorted by creation', () => {
    const file = write('crlf.jsonl', `\uFEFF${line('B', '2024-01-02T00:00:00Z', { dup_of: 'A' })}\r\n${line('A', '2024-01-01T00:00:00Z')}\r\n\r\n`);
    expect(readBenchmarkFile(file).map((record) => [record.id, record.dup_of])).toEqual([
      ['A', null],
      ['B', 'A'],
    ]);
  });

  it('names the line that is not JSON, or lacks an id or a date', () => {
    expect(() => readBenchmarkFile(write('broken.jsonl', `${line('A', '2024-01-01T00:00:00Z')}\n{"id": "B", "title": \n`))).toThrow(/broken\.jsonl:2: not a JSON object/);
    expect(() => readBenchmarkFile(write('no-date.jsonl', `${line('A', 'yesterday')}\n`))).toThrow(/no-date\.jsonl:1: expected an object with string id and ISO created/);
    expect(() => readBenchmarkFile(write('array.jsonl', '[1, 2]\n'))).toThrow(/array\.jsonl:1: expected an object/);
  });

  it('refuses an id used twice, which would join two groups', () => {
    const file = write('twice.jsonl', `${line('A', '2024-01-01T00:00:00Z')}\n${line('B', '2024-01-02T00:00:00Z')}\n${line('A', '2024-01-03T00:00:00Z')}\n`);
    expect(() => readBenchmarkFile(file)).toThrow(/twice\.jsonl:3: id A is already used on line 1/);
  });
});
