import { describe, expect, it } from 'vitest';
import { RecentCounter } from '../../src/channels/shared/recent-counter.js';

describe('RecentCounter', () => {
  it('counts the sightings of each key', () => {
    const c = new RecentCounter(30_000, 0);
    expect([c.add('a', 0), c.add('b', 1), c.add('a', 2), c.add('a', 3)]).toEqual([1, 1, 2, 3]);
    expect(c.size).toBe(2);
  });

  it('remembers a key for at least memoryMs after its last sighting, across a rotation', () => {
    const c = new RecentCounter(30_000, 0);
    c.add('late', 29_999); // just before the first rotation
    c.add('other', 30_000); // rotates: 'late' moves to the older generation
    expect(c.add('late', 59_998)).toBe(2); // 29 999 ms later: still known, and now in the newer one
    c.add('other', 60_000); // rotates again
    expect(c.add('late', 89_997)).toBe(3); // still within 30 s of its last sighting
  });

  it('forgets a key within twice memoryMs, and forgets everything after a long quiet spell', () => {
    const c = new RecentCounter(30_000, 0);
    c.add('a', 0);
    c.add('x', 30_000); // rotation 1: 'a' is in the older generation
    c.add('y', 60_000); // rotation 2: 'a' is dropped
    expect(c.add('a', 60_001)).toBe(1);
    c.add('b', 60_002);
    expect(c.size).toBe(4); // x (older generation), y, a, b

    // No calls for two spans: both generations are older than memoryMs.
    expect(c.add('b', 60_002 + 60_000)).toBe(1);
    expect(c.size).toBe(1);
  });
});
