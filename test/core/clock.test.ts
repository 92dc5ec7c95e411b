import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../src/core/clock.js';

describe('ManualClock.timeout', () => {
  it('fires once, when its time is reached and not before', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const fired: number[] = [];
    clock.timeout(100, () => fired.push(clock.now()));
    await clock.advance(99);
    expect(fired).toEqual([]);
    await clock.advance(1);
    expect(fired).toEqual([t0 + 100]);
    await clock.advance(1_000);
    expect(fired).toEqual([t0 + 100]);
  });

  it('does not fire once cancelled', async () => {
    const clock = new ManualClock();
    let fired = 0;
    const cancel = clock.timeout(50, () => fired++);
    await clock.advance(49);
    cancel();
    await clock.advance(1_000);
    expect(fired).toBe(0);
    cancel(); // a second cancel is harmless
  });

  it('cancelling one timer leaves the others running', async () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    const cancelA = clock.timeout(10, () => fired.push('a'));
    clock.timeout(10, () => fired.push('b'));
    cancelA();
    await clock.advance(10);
    expect(fired).toEqual(['b']);
  });

  it('fires in time order with sleeps, ties in the order they were set', async () => {
    const clock = new ManualClock();
    const order: string[] = [];
    void clock.sleep(30).then(() => order.push('sleep 30'));
    clock.timeout(30, () => order.push('timeout 30'));
    clock.timeout(20, () => order.push('timeout 20'));
    void clock.sleep(10).then(() => order.push('sleep 10'));
    await clock.advance(30);
    expect(order).toEqual(['sleep 10', 'timeout 20', 'sleep 30', 'timeout 30']);
  });

  it('treats a negative delay as zero', async () => {
    const clock = new ManualClock();
    let fired = 0;
    clock.timeout(-5, () => fired++);
    await clock.advance(0);
    expect(fired).toBe(1);
  });
});

describe('systemClock.timeout', () => {
  it('fires after the delay unless cancelled', async () => {
    const fired: string[] = [];
    systemClock.timeout(5, () => fired.push('kept'));
    const cancel = systemClock.timeout(5, () => fired.push('cancelled'));
    cancel();
    await new Promise((r) => setTimeout(r, 50));
    expect(fired).toEqual(['kept']);
  });
});
