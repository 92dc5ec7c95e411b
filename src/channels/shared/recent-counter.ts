/**
 * Counts how often each key was seen lately: a platform's redeliveries of one message, a welcome
 * already sent. A key is remembered for at least `memoryMs` after it was last seen and forgotten
 * within twice that. Two generations of plain maps rotate: no object per key and no sweep per call,
 * which matters at thousands of webhooks a second (an object per key held ~40 MB for a minute of
 * 5 000 messages a second; a number per key about half of that).
 */
export class RecentCounter {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private rotatedAt: number;

  constructor(
    private readonly memoryMs: number,
    now: number,
  ) {
    this.rotatedAt = now;
  }

  /** Records one sighting of `key`; returns how many there have been, this one included. */
  add(key: string, now: number): number {
    this.rotate(now);
    const count = (this.current.get(key) ?? this.previous.get(key) ?? 0) + 1;
    this.current.set(key, count);
    return count;
  }

  /** Keys remembered now (both generations; a key in both counts once). */
  get size(): number {
    let n = this.current.size;
    for (const key of this.previous.keys()) if (!this.current.has(key)) n++;
    return n;
  }

  private rotate(now: number): void {
    const elapsed = now - this.rotatedAt;
    if (elapsed < this.memoryMs) return;
    // Everything in `current` was added before rotatedAt + memoryMs (an add past that rotates
    // first), so after two spans it is all older than memoryMs and goes with `previous`.
    this.previous = elapsed < 2 * this.memoryMs ? this.current : new Map();
    this.current = new Map();
    this.rotatedAt = now;
  }
}
