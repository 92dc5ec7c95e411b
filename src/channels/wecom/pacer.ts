/**
 * Per-member send pacing. WeCom counts messages per member over a sliding minute and hour and silently
 * drops the excess, so the pacer keeps the send times of each member and grants a slot only while both
 * windows have room. (A token bucket would not do: a full bucket plus a minute of refill lets nearly
 * twice the per-minute cap through one sliding minute.)
 */
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

export class MemberPacer {
  private readonly sent = new Map<string, number[]>();

  constructor(
    private readonly perMinute: number,
    private readonly perHour: number,
  ) {}

  /** Takes a slot for `member` now (0), or says how many ms until one frees up without taking it. */
  reserve(member: string, now: number): number {
    const times = this.prune(member, now);
    const wait = Math.max(this.waitFor(times, now, MINUTE_MS, this.perMinute), this.waitFor(times, now, HOUR_MS, this.perHour));
    if (wait > 0) return wait;
    times.push(now);
    this.sent.set(member, times);
    return 0;
  }

  /** Members with no send in the last hour are forgotten. */
  sweep(now: number): void {
    for (const member of [...this.sent.keys()]) if (this.prune(member, now).length === 0) this.sent.delete(member);
  }

  private prune(member: string, now: number): number[] {
    const times = this.sent.get(member) ?? [];
    let drop = 0;
    while (drop < times.length && times[drop]! <= now - HOUR_MS) drop++;
    if (drop > 0) times.splice(0, drop);
    return times;
  }

  /** ms until fewer than `limit` sends fall within the last `windowMs`. Times are ascending. */
  private waitFor(times: number[], now: number, windowMs: number, limit: number): number {
    let inWindow = 0;
    for (let i = times.length - 1; i >= 0 && times[i]! > now - windowMs; i--) inWindow++;
    if (inWindow < limit) return 0;
    // The send that must leave the window: the limit-th newest one.
    const oldest = times[times.length - limit]!;
    return oldest + windowMs - now + 1;
  }
}
