/** Requests held open (long polls, scripted hangs) until something changes, time runs out, or the client leaves. */
import type { ServerResponse } from 'node:http';

/** `gone`: the client disconnected or the fake is closing, so nothing should be answered. */
export type HoldEnd = 'ready' | 'timeout' | 'gone';

export class Holds {
  private readonly checks = new Set<() => void>();
  private readonly enders = new Set<() => void>();
  private closed = false;

  /** Resolves when `ready()` holds (checked now and on every `wake()`), after `ms`, or when the client leaves. */
  hold(res: ServerResponse, ms: number, ready: () => boolean): Promise<HoldEnd> {
    if (this.closed || res.destroyed) return Promise.resolve('gone');
    if (ready()) return Promise.resolve('ready');
    return new Promise((resolve) => {
      const finish = (end: HoldEnd): void => {
        clearTimeout(timer);
        this.checks.delete(check);
        this.enders.delete(gone);
        res.off('close', gone);
        resolve(end);
      };
      const check = (): void => {
        if (ready()) finish('ready');
      };
      const gone = (): void => finish('gone');
      const timer = setTimeout(() => finish('timeout'), ms);
      this.checks.add(check);
      this.enders.add(gone);
      // A held response only closes early when the client went away.
      res.on('close', gone);
    });
  }

  /** Re-checks every held request. */
  wake(): void {
    for (const check of [...this.checks]) check();
  }

  /** Ends every hold as `gone`; later holds end at once. */
  endAll(): void {
    this.closed = true;
    for (const gone of [...this.enders]) gone();
  }
}
