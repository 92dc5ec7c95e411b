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

// A run takes the first of its tokens before it starts (there must be one left); `spend` takes the rest after.
const tokenDay = { field: 'tokens_per_day', seconds: 86_400, label: 'day', unit: 'tokens', bucket: 'token-day' } as const;
const windows = [
  { field: 'per_minute', seconds: 60, label: 'minute', unit: 'messages', bucket: 'minute' },
  { field: 'per_day', seconds: 86_400, label: 'day', unit: 'messages', bucket: 'day' },
  tokenDay,
] as const;

/**
 * How many messages (and model tokens) one user may have answered by an agent (`user_limit` in its
 * profile): token buckets per (target, entry, user) and window. On a shared store every process draws from the same
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
      if ((await this.takeFrom(bucketKey(w.bucket, capacity, userKey), 1, capacity, capacity / w.seconds)) < 1) {
        const notify = await this.noticeDue(`user:notice:${userKey}`, NOTICE_EVERY_MS);
        return { ok: false, notify, why: `over the user limit of ${capacity} ${w.unit} per ${w.label}` };
      }
    }
    return { ok: true };
  }

  /** After an answer: the tokens it used beyond the one `take` took, from the user's daily token budget. */
  async spend(userKey: string, limit: UserLimit, tokens: number): Promise<void> {
    const capacity = limit[tokenDay.field];
    if (capacity === undefined || tokens <= 1) return;
    await this.takeFrom(bucketKey(tokenDay.bucket, capacity, userKey), tokens - 1, capacity, capacity / tokenDay.seconds);
  }

  /** True at most once per `everyMs` for a key (at most a day: idle buckets are dropped after 25 h). */
  async noticeDue(key: string, everyMs: number): Promise<boolean> {
    return (await this.takeFrom(key, 1, 1, 1000 / everyMs)) === 1;
  }

  /** Takes up to `want` from a bucket; returns how many were taken. */
  private async takeFrom(key: string, want: number, capacity: number, perSecond: number): Promise<number> {
    const now = this.clock.now();
    if (this.store) return (await this.store.takeRateTokens(key, want, { capacity, perSecond, now })).taken;
    if (++this.takes % SWEEP_EVERY === 0) this.sweep(now);
    let slot = this.local.get(key);
    if (!slot) this.local.set(key, (slot = { bucket: new TokenBucket(capacity, perSecond, now), usedAt: now }));
    slot.usedAt = now;
    return slot.bucket.takeUpTo(want, now);
  }

  private sweep(now: number): void {
    for (const [key, slot] of this.local) if (now - slot.usedAt > IDLE_MS) this.local.delete(key);
  }
}

/** The limit is part of the key: a changed limit applies at once, to a fresh bucket. */
function bucketKey(window: string, capacity: number, userKey: string): string {
  return `user:${capacity}/${window}:${userKey}`;
}
