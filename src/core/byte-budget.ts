/** A budget of bytes taken and given back, granted in arrival order (a large request is not starved by small ones). */
export class ByteBudget {
  private used = 0;
  private readonly waiting: { n: number; grant: () => void }[] = [];
  constructor(readonly limit: number) {}

  /**
   * Waits until `n` bytes (at most the whole budget) are free and takes them; returns the function that
   * gives them back (once). When `signal` aborts first, nothing is taken and that function does nothing.
   */
  async reserve(n: number, signal: AbortSignal): Promise<() => void> {
    const want = Math.min(Math.max(0, n), this.limit);
    if (signal.aborted) return () => {};
    if (this.waiting.length === 0 && this.used + want <= this.limit) {
      this.used += want;
      return this.releaser(want);
    }
    const granted = await new Promise<boolean>((resolve) => {
      const waiter = { n: want, grant: () => (signal.removeEventListener('abort', onAbort), resolve(true)) };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        resolve(false);
        this.drain(); // the next in line may fit now
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
    return granted ? this.releaser(want) : () => {};
  }

  /** Bytes taken now. */
  get inUse(): number {
    return this.used;
  }

  private releaser(n: number): () => void {
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.used -= n;
      this.drain();
    };
  }

  private drain(): void {
    while (this.waiting[0] && this.used + this.waiting[0].n <= this.limit) {
      const next = this.waiting.shift()!;
      this.used += next.n;
      next.grant();
    }
  }
}
