import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HttpLoad } from '../../server/http/request-context';

describe('HttpLoad (the job workers’ measure of HTTP traffic)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts requests started over the last second, whether or not they are still in flight', () => {
    const load = new HttpLoad();
    for (let index = 0; index < 300; index += 1) {
      load.begin();
      load.end();
    }
    expect(load.inFlight).toBe(0);
    expect(load.requestsPerSecond).toBe(300);
  });

  it('slides: last second’s requests fade out as the next second goes by, then are gone', () => {
    const load = new HttpLoad();
    for (let index = 0; index < 1000; index += 1) load.begin();
    vi.advanceTimersByTime(1250);
    for (let index = 0; index < 100; index += 1) load.begin();
    // A quarter into the new second: three quarters of the last second's 1,000 still count.
    expect(load.requestsPerSecond).toBeCloseTo(750 + 100, 5);
    vi.advanceTimersByTime(1000);
    expect(load.requestsPerSecond).toBeCloseTo(75, 5);
    vi.advanceTimersByTime(5000);
    expect(load.requestsPerSecond).toBe(0);
    expect(load.inFlight).toBe(1100);
  });
});
