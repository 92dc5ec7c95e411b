// The measured loop of a fake platform's benchmark process: push messages, keeping at most
// `inflight` pushed but not yet answered, for a warm-up and a measured window; then wait for the
// stragglers and count what was never answered or answered twice.
import { percentile } from '../lib/common.js';

export interface PushLoopSpec {
  warmupSeconds: number;
  seconds: number;
  users: number;
  inflight: number;
}

export class PushLoop {
  private readonly pushedAt = new Map<string, number>();
  private readonly answered = new Set<string>();
  private duplicates = 0;
  private measuring = false;
  private measured = 0;
  private windowStart = 0;
  private readonly latencies: number[] = [];
  private readonly perSecond = new Map<number, number>();
  private wake?: () => void;

  /** An answer to the message pushed under `key`: false when no such message was pushed. */
  answer(key: string, at = Date.now()): boolean {
    const sentAt = this.pushedAt.get(key);
    if (sentAt === undefined) return false;
    if (this.answered.has(key)) {
      this.duplicates++;
      return true;
    }
    this.answered.add(key);
    if (this.measuring) {
      this.measured++;
      this.latencies.push(at - sentAt);
      const second = Math.floor((at - this.windowStart) / 1000);
      this.perSecond.set(second, (this.perSecond.get(second) ?? 0) + 1);
    }
    this.wake?.();
    return true;
  }

  /** Runs the loop; `push(n)` sends message n and returns the key its answer will carry. */
  async run(spec: PushLoopSpec, push: (n: number) => string) {
    let n = 0;
    const until = Date.now() + (spec.warmupSeconds + spec.seconds) * 1000;
    const measureFrom = Date.now() + spec.warmupSeconds * 1000;
    while (Date.now() < until) {
      if (!this.measuring && Date.now() >= measureFrom) {
        this.measuring = true;
        this.windowStart = Date.now();
      }
      if (this.pushedAt.size - this.answered.size >= spec.inflight) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, 50);
        });
        continue;
      }
      n++;
      this.pushedAt.set(push(n), Date.now());
      // Yield now and then so acks, pings and the send API get served.
      if (n % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    const windowSeconds = (Date.now() - this.windowStart) / 1000;
    this.measuring = false;
    const drainUntil = Date.now() + 30_000;
    while (this.answered.size < this.pushedAt.size && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 50));
    this.latencies.sort((a, b) => a - b);
    const seconds = [...this.perSecond.entries()].filter(([s]) => s < Math.floor(windowSeconds)).map(([, c]) => c);
    return {
      seconds: Math.round(windowSeconds * 10) / 10,
      users: spec.users,
      inflight: spec.inflight,
      perSec: Math.round(this.measured / windowSeconds),
      minSecond: seconds.length ? Math.min(...seconds) : 0,
      maxSecond: seconds.length ? Math.max(...seconds) : 0,
      latencyP50Ms: percentile(this.latencies, 50),
      latencyP99Ms: percentile(this.latencies, 99),
      pushed: this.pushedAt.size,
      lost: this.pushedAt.size - this.answered.size,
      duplicates: this.duplicates,
    };
  }
}
