import { describe, expect, it } from 'vitest';
import { burstEndsAt, mergeBurst } from '../../src/core/burst.js';
import type { ChatMessage } from '../../src/core/message.js';

const message = (over: Partial<ChatMessage>): ChatMessage => ({
  channelType: 'feishu', sceneId: 'bot', userId: 'u1', conversationId: 'g1', content: '', msgType: 'text', msgId: 'm',
  timestamp: 0, isGroup: false, mentionsBot: true, ...over,
});

describe('burstEndsAt', () => {
  const debounce = { quiet_ms: 2_000, max_messages: 10 };
  it('ends a pause after the last message, and at the latest max_wait_ms (default four pauses) after the first', () => {
    expect(burstEndsAt(debounce, 1_000, [])).toBe(3_000);
    expect(burstEndsAt(debounce, 1_000, [2_500, 2_000])).toBe(4_500);
    expect(burstEndsAt(debounce, 1_000, [8_500])).toBe(9_000);
    expect(burstEndsAt({ ...debounce, max_wait_ms: 3_000 }, 1_000, [2_500])).toBe(4_000);
  });
});

describe('mergeBurst', () => {
  it('is the newest message with every text and media item, oldest first', () => {
    const a = message({ msgId: 'a', content: 'look', media: [{ kind: 'image', ref: 'img-1' }], replyMeta: { token: 'old' } });
    const b = message({ msgId: 'b', content: '   ', msgType: 'image', media: [{ kind: 'image', ref: 'img-2' }] });
    const c = message({ msgId: 'c', content: 'what is this?', replyMeta: { token: 'new' }, timestamp: 9 });
    const merged = mergeBurst([a, b, c]);
    expect(merged).toMatchObject({ msgId: 'c', content: 'look\nwhat is this?', msgType: 'text', replyMeta: { token: 'new' }, timestamp: 9 });
    expect(merged.media?.map((m) => m.ref)).toEqual(['img-1', 'img-2']);
    expect(mergeBurst([b, b]).msgType).toBe('image');
    expect(mergeBurst([c, c]).media).toBeUndefined();
    expect(mergeBurst([a])).toBe(a);
  });

  it('says who wrote each line when several people did, and is addressed to the bot when any message was', () => {
    const merged = mergeBurst([
      message({ userId: 'u1', userName: 'Ann', content: 'hi bot', isGroup: true, mentionsBot: true }),
      message({ userId: 'u2', content: 'me too', isGroup: true, mentionsBot: false }),
    ]);
    expect(merged).toMatchObject({ content: 'Ann: hi bot\nu2: me too', userId: 'u2', mentionsBot: true });
  });
});
