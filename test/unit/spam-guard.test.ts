import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SpamGuard } from '../../server/reports/spam-guard';

const report = (description: string) => ({ id: randomUUID(), description });

describe('spam guard', () => {
  it('refuses the same text past its limit within the window', () => {
    const guard = new SpamGuard(3, 60_000, () => 1_000);
    for (let index = 0; index < 3; index += 1) guard.check('project', report('The same words again'));
    expect(() => guard.check('project', report('the  same words AGAIN'))).toThrow(expect.objectContaining({ code: 'rate_limited' }));
  });

  // Regression (bench:soak): 200 distinct reports a second kept every text for the whole window.
  it('keeps at most its bound of distinct texts, yet still stops a flood among them', () => {
    let now = 0;
    const guard = new SpamGuard(25, 10 * 60_000, () => now, 100);
    const texts = (guard as unknown as { recentTexts: Map<string, unknown> }).recentTexts;
    for (let index = 0; index < 3; index += 1) guard.check('project', report('flood text'));
    for (let index = 0; index < 1_000; index += 1) {
      now += 1;
      guard.check('project', report(`distinct report number ${index}`));
      if (index % 50 === 0) guard.check('project', report('flood text')); // the flood keeps coming
    }
    expect(texts.size).toBeLessThanOrEqual(100);
    // 3 + 20 sends so far; the flood's count survived the evictions, so the 26th is refused.
    guard.check('project', report('flood text'));
    guard.check('project', report('flood text'));
    expect(() => guard.check('project', report('flood text'))).toThrow(expect.objectContaining({ code: 'rate_limited' }));
  });
});
