import { readFileSync } from 'node:fs';
import { reportFeatures } from '../server/dedup/duplicate-index';
import type { ReportFeatures } from '../server/dedup/duplicate-score';

/** One line of a duplicate-benchmark file (format: ../shared/data/dedup/README.md). */
export interface BenchmarkRecord {
  id: string;
  title: string;
  description: string;
  component: string | null;
  product: string;
  created: string;
  dup_of: string | null;
}

/** Reads a benchmark file, checks each line's shape and sorts by creation time (stable). */
export function readBenchmarkFile(file: string, limit?: number): BenchmarkRecord[] {
  const records: BenchmarkRecord[] = [];
  const lineOfId = new Map<string, number>();
  // a byte-order mark and CRLF line ends, as an editor on another system may leave them
  const lines = readFileSync(file, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (!line.trim()) continue;
    let value: Partial<BenchmarkRecord>;
    try {
      value = JSON.parse(line) as Partial<BenchmarkRecord>;
    } catch (error) {
      throw new Error(`${file}:${index + 1}: not a JSON object (${(error as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || typeof value.id !== 'string' || typeof value.created !== 'string' || Number.isNaN(Date.parse(value.created))) {
      throw new Error(`${file}:${index + 1}: expected an object with string id and ISO created`);
    }
    // ids name the groups (`dup_of`): a second record with the same id would merge two groups
    if (lineOfId.has(value.id)) throw new Error(`${file}:${index + 1}: id ${value.id} is already used on line ${lineOfId.get(value.id)}`);
    lineOfId.set(value.id, index + 1);
    records.push({
      id: value.id,
      title: value.title ?? '',
      description: value.description ?? '',
      component: value.component ?? null,
      product: value.product ?? '',
      created: value.created,
      dup_of: value.dup_of ?? null,
    });
  }
  records.sort((a, b) => Date.parse(a.created) - Date.parse(b.created));
  return limit ? records.slice(0, limit) : records;
}

/** The product is the coarse area of the application, the JIRA component the finer one. */
export function productRoute(product: string): string | null {
  const slug = product.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return slug ? `/${slug}` : null;
}

/** A record as the engine reads it: product as the route, JIRA components as the component. */
export function benchmarkFeatures(record: BenchmarkRecord): ReportFeatures {
  return reportFeatures({
    title: record.title,
    description: record.description,
    receivedAt: new Date(record.created),
    route: productRoute(record.product),
    component: record.component,
    releaseId: null,
    errorSignature: null,
    requestSignature: null,
  });
}
