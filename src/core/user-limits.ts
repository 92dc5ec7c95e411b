import { TokenBucket } from '../channels/shared/token-bucket.js';
import type { UserLimit } from '../config/schema.js';
import type { Store } from '../store/store.js';
import type { Clock } from './clock.js';

/** What a user's next message may have: an answer, or (over the limit) the notice at most once a minute. */
export type UserVerdict = { ok: true } | { ok: false; notify: boolean; why: string };

/** The notice goes out at most this often per user, so a flood is not answered by a flood. */
const NOTICE_EVERY_MS = 60_000;
/** In memory, buckets idle this long are full again and are dropped. */
const IDLE_MS = 25 * 3_600_000;
const SWEEP_EVERY = 10_000;

const windows = [
  { field: 'per_minute', seconds: 60, label: 'minute' },
  { field: 'per_day', seconds: 86_400, label: 'day' },
] as const;

/**
 * How many messages one user may have answered by an agent (`user_limit` in its profile): token
 * buckets per (target, entry, user) and window. On a shared store every process draws from the same
 * buckets, so the limit holds for the deployment; alone, they live in memory.
 */
export class UserLimits {
  private readonly local = new Map<string, { bucket: TokenBucket; usedAt: number }>();
  private takes = 0;

  constructor(
    private readonly clock: Clock,
    private readonly store?: Pick<Store, 'takeRateTokens'>,
  ) {}

  async take(userKey: string, limit: UserLimit): Promise<UserVerdict> {
    for (const w of windows) {
      const capacity = limit[w.field];
      if (capacity === undefined) continue;
      // The limit is part of the key: a changed limit applies at once, to a fresh bucket.
      if (!(await this.takeOne(`user:${capacity}/${w.label}:${userKey}`, capacity, capacity / w.seconds))) {
        const notify = await this.takeOne(`user:notice:${userKey}`, 1, 1000 / NOTICE_EVERY_MS);
        return { ok: false, notify, why: `over the user limit of ${capacity} messages per ${w.label}` };
      }
    }
    return { ok: true };
  }

  private async takeOne(key: string, capacity: number, perSecond: number): Promise<boolean> {
    const now = this.clock.now();
    if (this.store) return (await this.store.takeRateTokens(key, 1, { capacity, perSecond, now })).taken === 1;
    if (++this.takes % SWEEP_EVERY === 0) this.sweep(now);
    let slot = this.local.get(key);
    if (!slot) this.local.set(key, (slot = { bucket: new TokenBucket(capacity, perSecond, now), usedAt: now }));
    slot.usedAt = now;
    return slot.bucket.take(now).ok;
  }

  private sweep(now: number): void {
    for (const [key, slot] of this.local) if (now - slot.usedAt > IDLE_MS) this.local.delete(key);
  }
}
