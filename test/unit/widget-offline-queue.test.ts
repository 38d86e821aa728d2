import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enqueueReport, type QueuedReport } from '../../widget/transport';

/**
 * The offline queue's bounds (5 reports, 5 MB of JSON; images leave before text when storage is
 * full). Node has no localStorage, so each test gets a small in-memory Storage with a quota that
 * throws as a full browser storage does.
 */
class QuotaStorage {
  private readonly items = new Map<string, string>();
  constructor(private readonly quotaChars: number) {}
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    if (value.length > this.quotaChars) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    this.items.set(key, value);
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
}

const queued = () => JSON.parse(globalThis.localStorage.getItem('bugloop:queue') ?? '[]') as QueuedReport[];
const report = (index: number, imageChars = 0): QueuedReport => ({
  server: 'https://bugloop.example',
  key: 'pk_test',
  report: { id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`, description: `Report ${index}`, screenshot: imageChars ? { width: 10, height: 10 } : undefined } as QueuedReport['report'],
  image: imageChars ? `data:image/webp;base64,${'A'.repeat(imageChars)}` : undefined,
  queuedAt: index,
});

describe('widget offline queue', () => {
  const original = globalThis.localStorage;
  beforeEach(() => {
    globalThis.localStorage = new QuotaStorage(50 * 1024 * 1024) as unknown as Storage;
  });
  afterEach(() => {
    globalThis.localStorage = original;
  });

  it('keeps the newest 5 reports', () => {
    for (let index = 1; index <= 7; index++) enqueueReport(report(index));
    expect(queued().map((item) => item.report.description)).toEqual(['Report 3', 'Report 4', 'Report 5', 'Report 6', 'Report 7']);
  });

  it('queues a report once however often it is retried (same client id)', () => {
    enqueueReport(report(1));
    enqueueReport({ ...report(1), queuedAt: 99 });
    expect(queued()).toHaveLength(1);
    expect(queued()[0].queuedAt).toBe(99);
  });

  it('drops the oldest reports while the queue is over 5 MB', () => {
    for (let index = 1; index <= 4; index++) enqueueReport(report(index, 1_500_000));
    const stored = globalThis.localStorage.getItem('bugloop:queue')!;
    expect(stored.length).toBeLessThanOrEqual(5 * 1024 * 1024);
    expect(queued().map((item) => item.report.description)).toEqual(['Report 2', 'Report 3', 'Report 4']);
  });

  it('when storage is full, drops the oldest images before any text', () => {
    globalThis.localStorage = new QuotaStorage(2_000_000) as unknown as Storage;
    enqueueReport(report(1, 900_000));
    enqueueReport(report(2, 900_000));
    enqueueReport(report(3, 900_000));
    const items = queued();
    expect(items.map((item) => item.report.description)).toEqual(['Report 1', 'Report 2', 'Report 3']);
    expect(items.map((item) => !!item.image)).toEqual([false, true, true]);
    // A report that lost its image says so: no screenshot metadata without the picture.
    for (const item of items.filter((entry) => !entry.image)) expect(item.report.screenshot).toBeUndefined();
  });
});
