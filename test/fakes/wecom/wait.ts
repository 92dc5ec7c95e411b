/** Condition waiting for the fake WeCom: every request, connection, frame and push re-checks the waiters. */
export class Waiters {
  private readonly waiters = new Set<() => void>();

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
        reject(new Error(`fake WeCom: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
