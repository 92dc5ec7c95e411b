/** One minute per bucket, one hour kept: what the dashboard's "last hour" and chart show. */
export const ACTIVITY_BUCKET_MS = 60_000;
export const ACTIVITY_BUCKETS = 60;

export interface ActivitySeries {
  bucketMs: number;
  /** Start of the oldest bucket (epoch ms); the newest bucket holds `now`. */
  start: number;
  in: number[];
  out: number[];
}

/** A ring of per-minute counters; a bucket stamped with an older minute reads as zero. */
class Ring {
  readonly in = new Uint32Array(ACTIVITY_BUCKETS);
  readonly out = new Uint32Array(ACTIVITY_BUCKETS);
  readonly minute = new Float64Array(ACTIVITY_BUCKETS).fill(-1);

  add(direction: 'in' | 'out', minute: number): void {
    const slot = minute % ACTIVITY_BUCKETS;
    if (this.minute[slot] !== minute) {
      this.minute[slot] = minute;
      this.in[slot] = 0;
      this.out[slot] = 0;
    }
    this[direction][slot]!++;
  }

  /** Adds this ring's last hour into `into`, oldest bucket first. */
  addTo(into: ActivitySeries, nowMinute: number): void {
    for (let i = 0; i < ACTIVITY_BUCKETS; i++) {
      const minute = nowMinute - (ACTIVITY_BUCKETS - 1) + i;
      const slot = minute % ACTIVITY_BUCKETS;
      if (this.minute[slot] !== minute) continue;
      into.in[i]! += this.in[slot]!;
      into.out[i]! += this.out[slot]!;
    }
  }
}

/**
 * Messages received and replies delivered per entry, per minute, over the last hour, in memory:
 * a few array writes per message, nothing on the store's hot path. It starts empty with the
 * process; the message log in the store is the durable record.
 */
export class ActivityLog {
  private readonly rings = new Map<string, Ring>();

  record(entryKey: string, direction: 'in' | 'out', now: number): void {
    let ring = this.rings.get(entryKey);
    if (!ring) this.rings.set(entryKey, (ring = new Ring()));
    ring.add(direction, Math.floor(now / ACTIVITY_BUCKET_MS));
  }

  /** The last hour of one entry, or of all entries together when `entryKey` is omitted. */
  series(now: number, entryKey?: string): ActivitySeries {
    const nowMinute = Math.floor(now / ACTIVITY_BUCKET_MS);
    const series: ActivitySeries = {
      bucketMs: ACTIVITY_BUCKET_MS,
      start: (nowMinute - (ACTIVITY_BUCKETS - 1)) * ACTIVITY_BUCKET_MS,
      in: new Array<number>(ACTIVITY_BUCKETS).fill(0),
      out: new Array<number>(ACTIVITY_BUCKETS).fill(0),
    };
    const rings = entryKey === undefined ? [...this.rings.values()] : [this.rings.get(entryKey)].filter((r) => r !== undefined);
    for (const ring of rings) ring.addTo(series, nowMinute);
    return series;
  }

  /** Totals over the last hour. */
  lastHour(now: number, entryKey?: string): { in: number; out: number } {
    const s = this.series(now, entryKey);
    return { in: sum(s.in), out: sum(s.out) };
  }

  forget(entryKey: string): void {
    this.rings.delete(entryKey);
  }
}

function sum(values: number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
