import { createHash } from 'node:crypto';
import type { Report } from '../../shared/report-schema';
import { AppError } from '../http/app-error';

/** Sends faster than this after the form opened are not a person typing. */
export const minimumFillTimeMs = 1500;

/**
 * Cheap guards against bots on the public endpoint: a honeypot field, a minimum time between
 * opening the form and sending it, and a cap on the same text arriving again and again.
 */
export class SpamGuard {
  private readonly recentTexts = new Map<string, { count: number; firstSeen: number }>();

  constructor(
    private readonly identicalTextLimit = 20,
    private readonly identicalTextWindowMs = 10 * 60_000,
    private readonly now: () => number = Date.now,
    private readonly maxTexts = 10_000,
  ) {}

  check(projectId: string, report: Report): void {
    if (report.website && report.website.trim() !== '') {
      throw new AppError('spam_suspected', 'The report was rejected as automated (a hidden field was filled in)');
    }
    const openedAt = report.client?.openedAt;
    const sentAt = report.client?.sentAt;
    if (openedAt !== undefined && sentAt !== undefined && sentAt - openedAt < minimumFillTimeMs && sentAt >= openedAt) {
      throw new AppError('spam_suspected', 'The report was sent too quickly after the form opened to be typed by a person');
    }
    this.checkFlood(projectId, report.description);
  }

  private checkFlood(projectId: string, description: string): void {
    const now = this.now();
    const key = `${projectId}:${createHash('sha256').update(description.trim().toLowerCase().replace(/\s+/g, ' ')).digest('base64')}`;
    const entry = this.recentTexts.get(key);
    if (!entry || now - entry.firstSeen > this.identicalTextWindowMs) {
      this.recentTexts.delete(key);
      this.recentTexts.set(key, { count: 1, firstSeen: now });
      this.forgetOldest();
      return;
    }
    // Move the text to the end (most recent), so the eviction below never forgets an active flood.
    this.recentTexts.delete(key);
    this.recentTexts.set(key, entry);
    entry.count += 1;
    if (entry.count > this.identicalTextLimit) {
      const retryAfter = Math.ceil((entry.firstSeen + this.identicalTextWindowMs - now) / 1000);
      throw new AppError('rate_limited', 'The same text was sent too many times; try again later', { headers: { 'Retry-After': String(Math.max(1, retryAfter)) } });
    }
  }

  /**
   * Bounds the memory: past `maxTexts` distinct texts, the least recently seen are forgotten
   * (Map order is insertion order, and a repeat re-inserts). Without this, 200 distinct reports
   * a second kept 120,000 entries alive for the whole 10-minute window (bench:soak).
   */
  private forgetOldest(): void {
    for (const key of this.recentTexts.keys()) {
      if (this.recentTexts.size <= this.maxTexts) return;
      this.recentTexts.delete(key);
    }
  }
}
