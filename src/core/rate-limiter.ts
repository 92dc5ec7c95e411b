import { TokenBucket } from '../channels/shared/token-bucket.js';
import type { Store } from '../store/store.js';
import type { Clock } from './clock.js';
import { CocoError } from './errors.js';

/** A limit as a token bucket: bursts up to `capacity`, `perSecond` on average. */
export interface RateLimit {
  capacity: number;
  perSecond: number;
}

export type RateDecision = { ok: true } | { ok: false; retryAfterMs: number };

/** Decides whether one more request is within its limit. */
export interface RateLimiter {
  take(): RateDecision | Promise<RateDecision>;
}

const OK: RateDecision = { ok: true };

/** One process: a token bucket in memory. */
export function localRateLimiter(limit: RateLimit, clock: Clock): RateLimiter {
  const bucket = new TokenBucket(limit.capacity, limit.perSecond, clock.now());
  return { take: () => bucket.take(clock.now()) };
}

/** Leased tokens not used within this time lapse, so a quiet process cannot save them up. */
export const RATE_LEASE_MS = 1_000;

/**
 * Several processes sharing the store: every process draws from one bucket in the store, so the
 * limit holds for the whole deployment. Tokens are taken in blocks of about 100 ms worth of the rate
 * (at least one, at most an eighth of the burst), so at full rate a process goes to the store about
 * ten times a second, not once per request. A block lapses after RATE_LEASE_MS: the limit can only
 * come out stricter than configured, by at most one block per process, never looser.
 */
export class SharedRateLimiter implements RateLimiter {
  private tokens = 0;
  private leasedUntil = 0;
  /** Callers that found no token here and wait for the store; a refill asks for at least as many. */
  private waiting = 0;
  private refilling?: Promise<number>;
  private readonly block: number;

  constructor(
    private readonly store: Pick<Store, 'takeRateTokens'>,
    private readonly key: string,
    private readonly limit: RateLimit,
    private readonly clock: Clock,
  ) {
    this.block = Math.max(1, Math.min(Math.floor(limit.capacity / 8), Math.ceil(limit.perSecond / 10)));
  }

  take(): RateDecision | Promise<RateDecision> {
    return this.takeLeased() ? OK : this.takeFromStore();
  }

  private takeLeased(): boolean {
    if (this.clock.now() >= this.leasedUntil) this.tokens = 0;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  private async takeFromStore(): Promise<RateDecision> {
    this.waiting++;
    try {
      for (;;) {
        // Callers waiting together share one round trip to the store.
        const retryAfterMs = await (this.refilling ??= this.refill().finally(() => (this.refilling = undefined)));
        if (this.takeLeased()) return OK;
        // The store had nothing left; otherwise earlier callers took this round's tokens: ask again.
        if (retryAfterMs > 0) return { ok: false, retryAfterMs };
      }
    } finally {
      this.waiting--;
    }
  }

  /** Leases a block from the store; resolves 0, or when it was empty, the ms until one token is back. */
  private async refill(): Promise<number> {
    const now = this.clock.now();
    let granted: { taken: number; left: number };
    try {
      granted = await this.store.takeRateTokens(this.key, Math.max(this.block, this.waiting), { ...this.limit, now });
    } catch (err) {
      throw new CocoError('COCO_ERR_STORE', 'the rate limit could not be checked; send it again', {
        statusCode: 503,
        retryable: true,
        retryAfterMs: 1_000,
        cause: err,
      });
    }
    const { taken, left } = granted;
    if (taken === 0) return Math.max(1, Math.ceil(((1 - left) / this.limit.perSecond) * 1000));
    if (now >= this.leasedUntil) this.tokens = 0;
    this.tokens += taken;
    this.leasedUntil = now + RATE_LEASE_MS;
    return 0;
  }
}
