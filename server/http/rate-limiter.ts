/**
 * Token buckets kept in memory, per key. Each bucket holds up to `capacity` tokens and refills
 * at `capacity` per `windowMs`, so short bursts pass and sustained floods are cut. Buckets that
 * are full again are forgotten, so memory stays bounded by the number of active senders.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();
  private lastSweep = 0;

  constructor(
    private readonly capacity: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token; answers how long to wait (ms) when none is left. */
  take(key: string): { allowed: true } | { allowed: false; retryAfterMs: number } {
    const now = this.now();
    this.sweep(now);
    const refillPerMs = this.capacity / this.windowMs;
    const bucket = this.buckets.get(key) ?? { tokens: this.capacity, updatedAt: now };
    bucket.tokens = Math.min(this.capacity, bucket.tokens + (now - bucket.updatedAt) * refillPerMs);
    bucket.updatedAt = now;
    if (bucket.tokens < 1) {
      this.buckets.set(key, bucket);
      return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / refillPerMs) };
    }
    bucket.tokens -= 1;
    this.buckets.set(key, bucket);
    return { allowed: true };
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < this.windowMs) return;
    this.lastSweep = now;
    const refillPerMs = this.capacity / this.windowMs;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.updatedAt) * refillPerMs >= this.capacity) this.buckets.delete(key);
    }
  }
}
