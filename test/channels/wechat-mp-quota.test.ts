import { describe, expect, it } from 'vitest';
import { CustomerServiceQuota } from '../../src/channels/wechat-mp/quota.js';

const HOUR = 3_600_000;

describe('wechat_mp customer-service quota', () => {
  it('lets 5 messages through per user message, then refuses with 45047 until the user writes again', () => {
    const q = new CustomerServiceQuota();
    q.inbound('oA', 0);
    for (let i = 0; i < 5; i++) {
      expect(q.refusal('oA', 1_000)).toBeUndefined();
      q.sent('oA');
    }
    expect(q.refusal('oA', 1_000)).toMatch(/^45047 /);
    q.inbound('oA', 2_000);
    expect(q.refusal('oA', 3_000)).toBeUndefined();
  });

  it('refuses with 45015 past 48 hours and lets unknown users through for WeChat to decide', () => {
    const q = new CustomerServiceQuota();
    q.inbound('oA', 0);
    expect(q.refusal('oA', 48 * HOUR)).toBeUndefined();
    expect(q.refusal('oA', 48 * HOUR + 1)).toMatch(/^45015 /);
    expect(q.refusal('oNever', 48 * HOUR + 1)).toBeUndefined();
  });

  it('remembers at most maxUsers, forgetting the one whose last message is oldest', () => {
    const q = new CustomerServiceQuota(3);
    for (const user of ['oA', 'oB', 'oC']) {
      q.inbound(user, 0);
      for (let i = 0; i < 5; i++) q.sent(user);
    }
    q.inbound('oA', 10); // oA wrote again: now the newest
    for (let i = 0; i < 5; i++) q.sent('oA');
    q.inbound('oD', 20); // a fourth user: oB, the oldest, is forgotten
    expect(q.size).toBe(3);
    expect(q.refusal('oB', 30)).toBeUndefined();
    expect(q.refusal('oA', 30)).toMatch(/^45047 /);
    expect(q.refusal('oC', 30)).toMatch(/^45047 /);
    expect(q.refusal('oD', 30)).toBeUndefined();
  });
});
