/**
 * A token bucket: `capacity` tokens, refilled continuously at `perSecond`. Used for inbound rate
 * limits (per API key) and outbound platform quotas (per chat or account).
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.updatedAt = now;
  }

  /** Takes one token if there is one. Otherwise returns how many ms until one is available. */
  take(now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - this.tokens) / this.perSecond) * 1000) };
  }

  /** Takes up to `n` tokens (what is there, if fewer); returns how many were taken. */
  takeUpTo(n: number, now: number): number {
    this.refill(now);
    const taken = Math.min(Math.floor(this.tokens), Math.max(0, Math.trunc(n)));
    this.tokens -= taken;
    return taken;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt) / 1000;
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.perSecond);
    this.updatedAt = now;
  }
}
