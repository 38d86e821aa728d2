import { describe, expect, it } from 'vitest';
import { HttpLoad } from '../../server/http/request-context';

describe('HttpLoad (the job workers’ signal to yield to HTTP)', () => {
  it('is saturated from the threshold of requests in flight, not below it', () => {
    const load = new HttpLoad(4, 1000);
    for (let index = 0; index < 3; index += 1) load.begin();
    expect(load.saturated).toBe(false);
    load.begin();
    expect(load.inFlight).toBe(4);
    expect(load.saturated).toBe(true);
  });

  it('stays saturated through the dip after a group commit answers its batch, then lets go', async () => {
    const load = new HttpLoad(4, 60);
    for (let index = 0; index < 4; index += 1) load.begin();
    for (let index = 0; index < 4; index += 1) load.end();
    expect(load.inFlight).toBe(0);
    // The clients have not sent their next requests yet: still a flood.
    expect(load.saturated).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(load.saturated).toBe(false);
  });

  it('never counts a steady trickle as saturation', () => {
    const load = new HttpLoad(4, 1000);
    for (let index = 0; index < 100; index += 1) {
      load.begin();
      load.begin();
      load.end();
      load.end();
    }
    expect(load.saturated).toBe(false);
  });
});
