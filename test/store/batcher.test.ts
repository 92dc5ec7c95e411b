import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/store/postgres/batcher.js';

/** A batch runner whose batches finish when the test says so; it records every batch it was given. */
function gate() {
  const batches: number[][] = [];
  const pending: (() => void)[] = [];
  const refuse = new Set<number>();
  const run = (items: number[]) => {
    batches.push(items);
    return new Promise<string[]>((resolve, reject) => {
      pending.push(() => (items.some((i) => refuse.has(i)) ? reject(new Error(`refused ${items.join(',')}`)) : resolve(items.map((i) => `r${i}`))));
    });
  };
  /** Finishes every batch started so far, then lets their continuations run. */
  const release = async () => {
    for (let round = 0; round < 20 && pending.length > 0; round++) {
      pending.splice(0).forEach((f) => f());
      await new Promise<void>((r) => setImmediate(r));
    }
  };
  return { batches, run, release, refuse };
}

describe('Batcher', () => {
  it('sends a call made while idle at once, and gathers the calls made while batches are in flight', async () => {
    const g = gate();
    const b = new Batcher({ inFlight: 2, maxBatch: 100 }, g.run);
    const first = b.push(1);
    expect(g.batches).toEqual([[1]]);
    const rest = [2, 3, 4, 5, 6].map((i) => b.push(i));
    // One more goes out at once (two in flight); the others wait together for the next free slot.
    expect(g.batches).toEqual([[1], [2]]);
    await g.release();
    expect(g.batches).toEqual([[1], [2], [3, 4, 5, 6]]);
    expect(await Promise.all([first, ...rest])).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
  });

  it('never puts more than maxBatch calls in one batch', async () => {
    const g = gate();
    const b = new Batcher({ inFlight: 1, maxBatch: 3 }, g.run);
    const all = Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((i) => b.push(i)));
    await g.release();
    expect(g.batches).toEqual([[1], [2, 3, 4], [5, 6, 7], [8]]);
    expect(await all).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8']);
  });

  it('runs a refused batch again one call at a time, in order, so only the refused call fails', async () => {
    const g = gate();
    g.refuse.add(4);
    const b = new Batcher({ inFlight: 1, maxBatch: 100 }, g.run);
    const results = Promise.allSettled([1, 2, 3, 4, 5].map((i) => b.push(i)));
    await g.release();
    expect(g.batches).toEqual([[1], [2, 3, 4, 5], [2], [3], [4], [5]]);
    expect((await results).map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      'r1', 'r2', 'r3', 'refused 4', 'r5',
    ]);
  });

  it('fails every call of a batch whose runner answers the wrong number of results', async () => {
    const b = new Batcher({ inFlight: 1, maxBatch: 10 }, async (items: number[]) => items.slice(1));
    await expect(b.push(1)).rejects.toThrow('batch of 1 returned 0 results');
  });
});
