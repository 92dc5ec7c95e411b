import { setMaxListeners } from 'node:events';
import type { Clock } from './clock.js';
import { describeError } from './errors.js';
import type { Logger } from './logger.js';

export interface WorkLoopOptions<T> {
  name: string;
  clock: Clock;
  log: Logger;
  concurrency: number;
  /** Periodic wake-up: catches expired leases and retries that became due. */
  tickMs: number;
  claim(limit: number): Promise<T[]>;
  process(item: T, shutdown: AbortSignal): Promise<void>;
}

/**
 * Claims and processes items with at most `concurrency` in flight. Wakes on demand (an enqueue)
 * and on a periodic tick. Shared by the Heartbeat (mailbox) and the Outbox sender.
 */
export class WorkLoop<T> {
  private running = false;
  private pumping = false;
  private again = false;
  private active = 0;
  private cancelTick?: () => void;
  private readonly shutdown = new AbortController();
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: WorkLoopOptions<T>) {
    // Every item in flight listens for shutdown; `concurrency` listeners is expected, not a leak.
    setMaxListeners(0, this.shutdown.signal);
  }

  get inFlight(): number {
    return this.active;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.cancelTick = this.options.clock.every(this.options.tickMs, () => this.wake());
    this.wake();
  }

  wake(): void {
    if (!this.running) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    void this.pump();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.cancelTick?.();
    this.shutdown.abort(new Error(`${this.options.name} stopping`));
    await Promise.allSettled([...this.pending]);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.again = false;
        while (this.running && this.active < this.options.concurrency) {
          const limit = this.options.concurrency - this.active;
          let items: T[];
          try {
            items = await this.options.claim(limit);
          } catch (err) {
            this.options.log.error({ err: describeError(err) }, `${this.options.name}: claim failed`);
            return;
          }
          if (!this.running) return;
          for (const item of items) this.run(item);
          if (items.length < limit) break;
        }
      } while (this.again && this.running);
    } finally {
      this.pumping = false;
    }
  }

  private run(item: T): void {
    this.active++;
    const task = this.options
      .process(item, this.shutdown.signal)
      .catch((err: unknown) => this.options.log.error({ err: describeError(err) }, `${this.options.name}: processing failed`))
      .finally(() => {
        this.active--;
        this.pending.delete(task);
        this.wake();
      });
    this.pending.add(task);
  }
}
