/** Condition waiting for a fake platform: every request, connection, frame and push it sees calls `notify()`. */
export class Waiters {
  private readonly waiters = new Set<() => void>();

  /** Names the fake in timeout errors, e.g. "fake WeCom". */
  constructor(private readonly fake: string) {}

  /** Resolves once `predicate` holds; rejects after `timeoutMs` naming `what`. */
  until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.fake}: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** Re-checks every waiter. */
  notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
