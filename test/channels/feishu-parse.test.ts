import { describe, expect, it } from 'vitest';
import {
  conversationKey,
  parseLarkEvent,
  replyMetaOf,
  shouldAnswer,
  toChatMessage,
  type BotIdentity,
  type FeishuInbound,
  type LarkEvent,
} from '../../src/channels/feishu/parse.js';
import { CocoError } from '../../src/core/errors.js';

const BOT = { openId: 'ou_bot', name: 'CocoBot' };

interface Options {
  type?: string;
  content?: unknown;
  chatType?: string;
  mentions?: unknown[];
  senderType?: string;
  extra?: Record<string, unknown>;
}

function envelope({ type = 'text', content = { text: 'hello' }, chatType = 'p2p', mentions, senderType = 'user', extra = {} }: Options = {}) {
  return {
    schema: '2.0',
    header: { event_id: 'ev_1', event_type: 'im.message.receive_v1', create_time: '1608725989000', token: 'secret-token', app_id: 'cli_a1b2c3d4e5f60718', tenant_key: 'tk' },
    event: {
      sender: { sender_id: { union_id: 'on_u', user_id: 'u_1', open_id: 'ou_user' }, sender_type: senderType, tenant_key: 'tk' },
      message: {
        message_id: 'om_1',
        create_time: '1608725989123',
        chat_id: 'oc_chat',
        chat_type: chatType,
        message_type: type,
        content: typeof content === 'string' ? content : JSON.stringify(content),
        ...(mentions ? { mentions } : {}),
        ...extra,
      },
    },
  };
}

const mention = (key: string, openId: string, name: string) => ({ key, id: { open_id: openId, user_id: '', union_id: `on_${openId}` }, name, tenant_key: 'tk' });

function message(options: Options = {}, bot: BotIdentity = BOT): FeishuInbound {
  const event = parseLarkEvent(envelope(options), bot);
  if (event.kind !== 'message') throw new Error(`expected a message, got ${event.kind}`);
  return event.message;
}

function thrown(fn: () => unknown): CocoError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CocoError);
    return err as CocoError;
  }
  throw new Error('expected a throw');
}

describe('parseLarkEvent: envelopes', () => {
  it('turns a p2p text message into a normalized inbound', () => {
    const m = message();
    expect(m).toMatchObject({
      eventId: 'ev_1',
      appId: 'cli_a1b2c3d4e5f60718',
      messageId: 'om_1',
      chatId: 'oc_chat',
      chatType: 'p2p',
      isGroup: false,
      sender: { openId: 'ou_user', userId: 'u_1', unionId: 'on_u', tenantKey: 'tk' },
      messageType: 'text',
      msgType: 'text',
      text: 'hello',
      media: [],
      mentionsBot: false,
      mentionsAll: false,
      createTime: 1608725989123,
    });
    expect(m.rootId).toBeUndefined();
  });

  it('keeps root, parent and thread ids, and drops empty ones', () => {
    const m = message({ extra: { root_id: 'om_root', parent_id: 'om_parent', thread_id: 'omt_1' } });
    expect([m.rootId, m.parentId, m.threadId]).toEqual(['om_root', 'om_parent', 'omt_1']);
    const empty = message({ extra: { root_id: '', parent_id: null } });
    expect('rootId' in empty || 'parentId' in empty).toBe(false);
  });

  it('answers the URL verification challenge', () => {
    expect(parseLarkEvent({ challenge: 'ajls384kdjx98XX', token: 't', type: 'url_verification' })).toEqual({ kind: 'url_verification', challenge: 'ajls384kdjx98XX' });
    expect(thrown(() => parseLarkEvent({ type: 'url_verification' })).message).toBe('challenge: is missing');
  });

  it('ignores other event types, messages from bots and apps, and schema 1.0 callbacks', () => {
    const read = { ...envelope(), header: { ...envelope().header, event_type: 'im.message.message_read_v1' } };
    expect(parseLarkEvent(read)).toEqual({ kind: 'ignored', eventId: 'ev_1', eventType: 'im.message.message_read_v1', reason: 'im.message.message_read_v1 is not a message event' });
    expect(parseLarkEvent(envelope({ senderType: 'app' }))).toMatchObject({ kind: 'ignored', reason: 'sent by a app, not a user' });
    const v1 = { uuid: 'u-1', token: 't', ts: '1', type: 'event_callback', event: { type: 'message', text: 'hi' } };
    expect(parseLarkEvent(v1)).toMatchObject({ kind: 'ignored', eventId: 'u-1', eventType: 'message', reason: expect.stringContaining('schema 1.0') });
  });

  it('reads a recall: which message is gone and who took it back; a recall without a message id is a 400 naming it', () => {
    const recall = (event: Record<string, unknown>) => ({ ...envelope(), header: { ...envelope().header, event_type: 'im.message.recalled_v1' }, event });
    expect(parseLarkEvent(recall({ message_id: 'om_9', chat_id: 'oc_chat', recall_time: '1608725990000', recall_type: 'group_manager' }))).toEqual({
      kind: 'recalled',
      eventId: 'ev_1',
      messageId: 'om_9',
      chatId: 'oc_chat',
      recallType: 'group_manager',
    });
    expect(parseLarkEvent(recall({ message_id: 'om_9' }))).toEqual({ kind: 'recalled', eventId: 'ev_1', messageId: 'om_9' });
    const err = thrown(() => parseLarkEvent(recall({ chat_id: 'oc_chat' })));
    expect([err.field, err.statusCode]).toEqual(['event.message_id', 400]);
  });

  it('names the field that is missing or wrong', () => {
    const e = envelope();
    const cases: [unknown, string][] = [
      [{ ...e, schema: '3.0' }, 'schema'],
      [{ header: e.header, event: e.event }, 'schema'],
      [{ ...e, header: { ...e.header, event_id: undefined } }, 'header.event_id'],
      [{ ...e, event: { ...e.event, message: { ...e.event.message, chat_id: undefined } } }, 'event.message.chat_id'],
      [{ ...e, event: { ...e.event, message: { ...e.event.message, content: 5 } } }, 'event.message.content'],
      [{ ...e, event: { ...e.event, message: { ...e.event.message, content: '{not json' } } }, 'event.message.content'],
      [{ ...e, event: { ...e.event, message: { ...e.event.message, content: '{"txt":"x"}' } } }, 'event.message.content.text'],
      [{ ...e, event: { ...e.event, sender: { ...e.event.sender, sender_id: {} } } }, 'event.sender.sender_id.open_id'],
      [{ ...e, event: { ...e.event, message: { ...e.event.message, create_time: 'soon' } } }, 'event.message.create_time'],
      ['a string', 'body'],
    ];
    for (const [input, field] of cases) {
      const err = thrown(() => parseLarkEvent(input));
      expect({ field: err.field, code: err.code, status: err.statusCode }).toEqual({ field, code: 'COCO_ERR_REQUEST_INVALID', status: 400 });
      expect(err.message.startsWith(`${field}: `)).toBe(true);
    }
  });

  it('keeps the raw envelope without the verification token', () => {
    const m = message();
    expect(JSON.stringify(m.raw)).not.toContain('secret-token');
    expect((m.raw as { header: Record<string, unknown> }).header).toMatchObject({ event_id: 'ev_1', app_id: 'cli_a1b2c3d4e5f60718' });
  });
});

describe('parseLarkEvent: mentions', () => {
  const group = (text: string, mentions: unknown[], bot: BotIdentity = BOT) =>
    message({ chatType: 'group', content: { text }, mentions }, bot);

  it('strips the bot mention and names other people', () => {
    const m = group('@_user_1 ask @_user_2 about it', [mention('@_user_1', 'ou_bot', 'CocoBot'), mention('@_user_2', 'ou_tom', 'Tom')]);
    expect(m.text).toBe('ask @Tom about it');
    expect(m.mentionsBot).toBe(true);
    expect(m.mentions.map((x) => [x.key, x.isBot])).toEqual([
      ['@_user_1', true],
      ['@_user_2', false],
    ]);
  });

  it('strips a bot mention in the middle or at the end without leaving double spaces', () => {
    expect(group('hi @_user_1 there', [mention('@_user_1', 'ou_bot', 'CocoBot')]).text).toBe('hi there');
    expect(group('line one\n@_user_1 line two @_user_1', [mention('@_user_1', 'ou_bot', 'CocoBot')]).text).toBe('line one\nline two');
  });

  it('never confuses @_user_1 with @_user_10', () => {
    const mentions = Array.from({ length: 10 }, (_, i) => mention(`@_user_${i + 1}`, `ou_${i + 1}`, `P${i + 1}`));
    expect(group('@_user_10 and @_user_1', mentions).text).toBe('@P10 and @P1');
  });

  it('without the bot open_id, recognizes the bot by name; without either, by nothing', () => {
    const mentions = [mention('@_user_1', 'ou_unknown', 'CocoBot')];
    expect(group('@_user_1 hi', mentions, { name: 'CocoBot' }).mentionsBot).toBe(true);
    // With the open_id known, a user who happens to share the name is not the bot.
    expect(group('@_user_1 hi', mentions, { openId: 'ou_bot', name: 'CocoBot' }).mentionsBot).toBe(false);
    expect(group('@_user_1 hi', mentions, {}).mentionsBot).toBe(false);
  });

  it('reports @all without counting it as a mention of the bot', () => {
    const m = group('@_all standup now', [{ key: '@_all', name: '所有人' }]);
    expect([m.text, m.mentionsAll, m.mentionsBot]).toEqual(['@all standup now', true, false]);
    // The platform often leaves @_all out of `mentions`.
    expect(group('@_all hi', []).text).toBe('@all hi');
    expect(group('@_all hi', []).mentionsAll).toBe(true);
  });
});

describe('parseLarkEvent: content types', () => {
  it('flattens a post: title, text, links, mentions, images, emotions, code blocks, md and rules', () => {
    const post = {
      title: 'Report',
      content: [
        [
          { tag: 'at', user_id: 'ou_bot', user_name: 'CocoBot' },
          { tag: 'text', text: ' please read ', style: ['bold'] },
          { tag: 'a', text: 'the spec', href: 'https://example.com/spec' },
          { tag: 'text', text: ' with ' },
          { tag: 'at', user_id: 'ou_tom', user_name: 'Tom' },
        ],
        [{ tag: 'img', image_key: 'img_v2_1' }, { tag: 'emotion', emoji_type: 'SMILE' }],
        [{ tag: 'text', text: 'code:' }, { tag: 'code_block', language: 'PYTHON', text: 'print(1)\n' }, { tag: 'text', text: 'after' }],
        [{ tag: 'hr' }],
        [{ tag: 'md', text: '**bold** md' }],
        [{ tag: 'a', href: 'https://x.y', text: 'https://x.y' }, { tag: 'media', file_key: 'file_v2_9', image_key: 'img_cover' }],
      ],
    };
    const m = message({ type: 'post', chatType: 'group', content: post, mentions: [mention('@_user_1', 'ou_bot', 'CocoBot'), mention('@_user_2', 'ou_tom', 'Tom')] });
    expect(m.text).toBe(
      ['Report', 'please read the spec (https://example.com/spec) with @Tom', '[image][SMILE]', 'code:\n```python\nprint(1)\n```\nafter', '---', '**bold** md', 'https://x.y[video]'].join('\n'),
    );
    expect(m.msgType).toBe('text');
    expect(m.mentionsBot).toBe(true);
    expect(m.media).toEqual([
      { kind: 'image', ref: 'img_v2_1' },
      { kind: 'video', ref: 'file_v2_9' },
    ]);
  });

  it('unwraps a post sent inside a locale key', () => {
    const wrapped = { en_us: { title: '', content: [[{ tag: 'text', text: 'hello' }]] } };
    expect(message({ type: 'post', content: wrapped }).text).toBe('hello');
    expect(message({ type: 'post', content: { ja_jp: { content: [[{ tag: 'text', text: 'こんにちは' }]] } } }).text).toBe('こんにちは');
    expect(message({ type: 'post', content: {} }).text).toBe('[rich text message]');
  });

  it('describes media and keeps their keys as media references', () => {
    expect(message({ type: 'image', content: { image_key: 'img_1' } })).toMatchObject({ msgType: 'image', text: '[image]', media: [{ kind: 'image', ref: 'img_1' }] });
    expect(message({ type: 'audio', content: { file_key: 'file_a', duration: 3200 } })).toMatchObject({
      msgType: 'voice',
      text: '[voice message, 3 s]',
      media: [{ kind: 'voice', ref: 'file_a' }],
    });
    expect(message({ type: 'file', content: { file_key: 'file_f', file_name: 'report.pdf' } })).toMatchObject({
      msgType: 'file',
      text: '[file: report.pdf]',
      media: [{ kind: 'file', ref: 'file_f', name: 'report.pdf' }],
    });
    expect(message({ type: 'media', content: { file_key: 'file_v', image_key: 'img_c', file_name: 'clip.mp4', duration: 5000 } })).toMatchObject({
      msgType: 'video',
      text: '[video: clip.mp4]',
      media: [{ kind: 'video', ref: 'file_v', name: 'clip.mp4' }],
    });
    expect(message({ type: 'location', content: { name: 'Office', latitude: '39.9', longitude: '116.4' } }).text).toBe('[location] Office (39.9, 116.4)');
    expect(message({ type: 'share_chat', content: { chat_id: 'oc_x' } })).toMatchObject({ msgType: 'text', text: '[share_chat message]', media: [] });
  });
});

describe('group policy and the ChatMessage', () => {
  const inGroup = (mentioned: boolean) =>
    message({ chatType: 'group', content: { text: mentioned ? '@_user_1 hi' : 'hi' }, mentions: mentioned ? [mention('@_user_1', 'ou_bot', 'CocoBot')] : [] });

  it('answers direct chats always, groups by policy', () => {
    const table = (['mention', 'all', 'off'] as const).map((policy) => [policy, shouldAnswer(message(), policy), shouldAnswer(inGroup(true), policy), shouldAnswer(inGroup(false), policy)]);
    expect(table).toEqual([
      ['mention', true, true, false],
      ['all', true, true, true],
      ['off', true, false, false],
    ]);
    expect(shouldAnswer(message({ chatType: 'topic_group', content: { text: 'x' } }), 'mention')).toBe(false);
  });

  it('builds a ChatMessage keyed by chat, deduplicated by message_id, with what send() needs', () => {
    const m = message({ chatType: 'group', content: { text: '@_user_1 hi' }, mentions: [mention('@_user_1', 'ou_bot', 'CocoBot')], extra: { thread_id: 'omt_7' } });
    const chat = toChatMessage(m);
    expect(chat).toEqual({
      channelType: 'feishu',
      userId: 'ou_user',
      conversationId: 'oc_chat',
      content: 'hi',
      msgType: 'text',
      msgId: 'om_1',
      timestamp: 1608725989123,
      isGroup: true,
      mentionsBot: true,
      replyMeta: { chatId: 'oc_chat', chatType: 'group', messageId: 'om_1', replyInThread: true, threadId: 'omt_7', senderOpenId: 'ou_user' },
      raw: m.raw,
    });
    // JSON-safe, as the store needs.
    expect(JSON.parse(JSON.stringify(chat))).toEqual(chat);
  });

  it('one conversation per chat: two users in a group share it; a p2p chat is its own', () => {
    const a = message({ chatType: 'group' });
    const b = parseLarkEvent({ ...envelope({ chatType: 'group' }), event: { ...envelope({ chatType: 'group' }).event, sender: { sender_id: { open_id: 'ou_other' }, sender_type: 'user' } } }) as Extract<
      LarkEvent,
      { kind: 'message' }
    >;
    expect(conversationKey(a)).toBe(conversationKey(b.message));
    expect(b.message.sender).toEqual({ openId: 'ou_other' });
    expect(toChatMessage(message()).mentionsBot).toBe(true);
    expect(replyMetaOf(message({ chatType: 'topic_group' })).replyInThread).toBe(true);
    expect(replyMetaOf(message()).replyInThread).toBe(false);
    expect(toChatMessage(message({ type: 'image', content: { image_key: 'img_1' } })).media).toEqual([{ kind: 'image', ref: 'img_1' }]);
  });
});
