export interface BackoffPolicy {
  /** Delay before the first retry. */
  baseMs: number;
  /** No delay grows past this. */
  capMs: number;
  /** 0..1: the share of each delay that is randomised ("equal jitter"). */
  jitter?: number;
}

/**
 * Delay before retry number `attempt` (1 = first retry): exponential, capped, jittered so that
 * many failing entries or messages do not retry in lockstep.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jitter = policy.jitter ?? 0.5;
  return Math.round(exp * (1 - jitter) + exp * jitter * random());
}
