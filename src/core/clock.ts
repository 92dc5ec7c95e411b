/**
 * Time comes from a Clock so that leases, retries and backoff are tested without sleeping.
 * `now()` is epoch milliseconds; `sleep()` resolves after `ms` of this clock's time,
 * or early (rejecting with the signal's reason) when the signal aborts.
 */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Repeating timer; returns a function that cancels it. */
  every(ms: number, fn: () => void): () => void;
  /** One-shot timer: runs `fn` once after `ms` of this clock's time; returns a function that cancels it. */
  timeout(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      timer.unref?.();
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    timer.unref?.();
    return () => clearInterval(timer);
  },
  timeout(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref?.();
    return () => clearTimeout(timer);
  },
};

/**
 * A clock that only moves when told to. `advance()` fires due sleeps and timers in time order.
 */
export class ManualClock implements Clock {
  private current: number;
  private waiters: { at: number; seq: number; fire: () => void }[] = [];
  private seq = 0;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const waiter = { at: this.current + Math.max(0, ms), seq: this.seq++, fire: () => resolve() };
      this.waiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  every(ms: number, fn: () => void): () => void {
    let cancelled = false;
    const schedule = () => {
      const waiter = {
        at: this.current + ms,
        seq: this.seq++,
        fire: () => {
          if (cancelled) return;
          fn();
          schedule();
        },
      };
      this.waiters.push(waiter);
    };
    schedule();
    return () => {
      cancelled = true;
    };
  }

  timeout(ms: number, fn: () => void): () => void {
    const waiter = { at: this.current + Math.max(0, ms), seq: this.seq++, fire: () => fn() };
    this.waiters.push(waiter);
    return () => {
      // Dropped from the list, like an aborted sleep, so cancelled timers do not pile up.
      this.waiters = this.waiters.filter((w) => w !== waiter);
    };
  }

  /** Moves time forward by `ms`, firing everything due on the way, then lets promises settle. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      this.waiters.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.waiters[0];
      if (!next || next.at > target) break;
      this.waiters.shift();
      this.current = next.at;
      next.fire();
      await flushMicrotasks();
    }
    this.current = target;
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}
