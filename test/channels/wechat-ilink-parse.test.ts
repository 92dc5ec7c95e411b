import { describe, expect, it } from 'vitest';
import { parseUpdate, toChatMessage } from '../../src/channels/wechat-ilink/parse.js';
import { ilinkItem } from '../fakes/ilink/index.js';

const base = { message_id: 7001, from_user_id: 'alice@im.wechat', to_user_id: 'bot@im.bot', message_type: 1, message_state: 2, context_token: 'ctx-1', create_time_ms: 1_700_000_000_000 };

describe('wechat_ilink update parsing', () => {
  it('turns a text message into a direct-chat ChatMessage carrying its context token', () => {
    const parsed = parseUpdate({ ...base, item_list: [ilinkItem.text('你好')] });
    expect(parsed.kind).toBe('message');
    if (parsed.kind !== 'message') return;
    const m = toChatMessage(parsed.message, 1);
    expect(m).toMatchObject({
      channelType: 'wechat_ilink', userId: 'alice@im.wechat', conversationId: 'alice@im.wechat', content: '你好', msgType: 'text',
      msgId: '7001', timestamp: 1_700_000_000_000, isGroup: false, mentionsBot: true, replyMeta: { contextToken: 'ctx-1' },
    });
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
  });

  it('reads a string message_id (uint64 beyond JSON numbers) as the same dedup key', () => {
    const parsed = parseUpdate({ ...base, message_id: '18446744073709551615', item_list: [ilinkItem.text('x')] });
    expect(parsed.kind === 'message' && parsed.message.msgId).toBe('18446744073709551615');
  });

  it('joins several items, keeps a quoted message under the text, and describes media', () => {
    const quote = { ...ilinkItem.text('see above'), ref_msg: { title: 'Bob', message_item: ilinkItem.text('the plan') } };
    const parsed = parseUpdate({ ...base, item_list: [quote, ilinkItem.image(), ilinkItem.voice(''), ilinkItem.video()] });
    expect(parsed.kind === 'message' && parsed.message.text).toBe('see above\n> Bob: the plan\n[image]\n[voice message, 2 s]\n[video]');
    expect(parsed.kind === 'message' && parsed.message.msgType).toBe('text');
    expect(parsed.kind === 'message' && parsed.message.media.map((m) => m.kind)).toEqual(['image', 'voice', 'video']);
  });

  it('gives a quoted image to the agent with the question, and nothing of a quoted text but its words', () => {
    const image = ilinkItem.image();
    const parsed = parseUpdate({ ...base, item_list: [{ ...ilinkItem.text('what does this say?'), ref_msg: { message_item: image } }] });
    expect(parsed.kind === 'message' && parsed.message.text).toBe('what does this say?\n> [image]');
    expect(parsed.kind === 'message' && parsed.message.media).toEqual([{ kind: 'image', ref: image.image_item!.media!.encrypt_query_param, ...(image.image_item!.aeskey ? { key: image.image_item!.aeskey } : {}) }]);
    const text = parseUpdate({ ...base, item_list: [{ ...ilinkItem.text('agreed'), ref_msg: { title: 'Bob', message_item: ilinkItem.text('ship it') } }] });
    expect(text.kind === 'message' && text.message.media).toEqual([]);
  });

  it('skips what is not a finished user message, saying why', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...base, message_type: 2, item_list: [ilinkItem.text('mine')] }, /not a user's message/],
      [{ ...base, message_state: 1, item_list: [ilinkItem.text('typing…')] }, /still being written/],
      [{ ...base, message_id: undefined, item_list: [ilinkItem.text('x')] }, /no message_id/],
      [{ ...base, context_token: '', item_list: [ilinkItem.text('x')] }, /no context_token/],
      [{ ...base, item_list: [{ type: 99 }] }, /no item/],
      ['junk', /not an object/],
    ];
    for (const [raw, reason] of cases) {
      const parsed = parseUpdate(raw);
      expect(parsed.kind).toBe('skip');
      expect(parsed.kind === 'skip' && parsed.reason).toMatch(reason);
    }
  });
});
