/** WeChat lets an account answer a user's message with at most this many 客服 messages… */
const MESSAGES_PER_INBOUND = 5;
/** …within this long after it (45047 / 45015 beyond). */
const WINDOW_MS = 48 * 3_600_000;
/** Users remembered per entry; past this the least recently active are forgotten. */
export const MAX_TRACKED_USERS = 100_000;

/**
 * The customer-service rules per user, kept so that a reply WeChat would refuse is dead-lettered
 * with the reason instead of spent on an API call. Users not seen since this process started (or
 * forgotten to bound memory) are let through: WeChat's own answer (45015/45047) then decides, and
 * is dead-lettered the same way.
 */
export class CustomerServiceQuota {
  /** In order of last inbound message, oldest first (a Map keeps insertion order). */
  private readonly users = new Map<string, { lastInbound: number; sent: number }>();

  constructor(private readonly maxUsers = MAX_TRACKED_USERS) {}

  /** A user message opens a fresh window with a fresh count. */
  inbound(user: string, at: number): void {
    this.users.delete(user);
    this.users.set(user, { lastInbound: at, sent: 0 });
    if (this.users.size > this.maxUsers) this.users.delete(this.users.keys().next().value!);
  }

  /** Why WeChat would refuse a message to this user now, if it would. */
  refusal(user: string, now: number): string | undefined {
    const state = this.users.get(user);
    if (!state) return undefined;
    if (now - state.lastInbound > WINDOW_MS) return '45015 outside the 48-hour reply window (not sent)';
    if (state.sent >= MESSAGES_PER_INBOUND) return `45047 over the customer-service quota of ${MESSAGES_PER_INBOUND} messages per user message (not sent)`;
    return undefined;
  }

  sent(user: string): void {
    const state = this.users.get(user);
    if (state) state.sent++;
  }

  get size(): number {
    return this.users.size;
  }
}
