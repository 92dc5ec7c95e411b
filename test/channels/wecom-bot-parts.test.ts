import { describe, expect, it } from 'vitest';
import {
  markdownMessageBody,
  planProactive,
  planReply,
  SEND_MARKDOWN_LIMIT_BYTES,
  STREAM_CONTENT_LIMIT_BYTES,
  streamIdFor,
  streamReplyBody,
  welcomeTextBody,
} from '../../src/channels/wecom-bot/format.js';
import { conversationKey, parseBotFrame, shouldAnswer, stripMention, toChatMessage, type WecomBotInbound } from '../../src/channels/wecom-bot/parse.js';
import { isCocoError } from '../../src/core/errors.js';

const NOW = 1_760_000_000_000;
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** A frame as the SDK emits it for `message`: `{cmd, headers: {req_id}, body}`. */
const callback = (body: Record<string, unknown>, reqId = 'req-1') => ({ cmd: 'aibot_msg_callback', headers: { req_id: reqId }, body });
const base = (extra: Record<string, unknown>) => ({
  msgid: 'msg-1',
  aibotid: 'aib-1',
  chattype: 'single',
  from: { userid: 'zhangsan' },
  create_time: 1_760_000_100,
  ...extra,
});
const group = (extra: Record<string, unknown>) => base({ chattype: 'group', chatid: 'wrkGroup1', ...extra });

function message(frame: unknown, botName?: string): WecomBotInbound {
  const parsed = parseBotFrame(frame, { nowMs: NOW, ...(botName ? { botName } : {}) });
  if (parsed.kind !== 'message') throw new Error(`expected a message, got ${parsed.kind}`);
  return parsed.message;
}

function failure(fn: () => unknown): { field?: string; message: string; code?: string } {
  try {
    fn();
  } catch (err) {
    if (isCocoError(err)) return { field: err.field, message: err.message, code: err.code };
    throw err;
  }
  throw new Error('expected a CocoError');
}

describe('wecom_bot: message callbacks', () => {
  it('normalizes a direct text message: req_id kept for the reply, msgid as dedup key, seconds to ms', () => {
    const m = message(callback(base({ msgtype: 'text', text: { content: ' 你好 ' }, response_url: 'https://one-shot' })));
    expect(m).toEqual({
      reqId: 'req-1',
      msgId: 'msg-1',
      aibotId: 'aib-1',
      chatType: 'single',
      isGroup: false,
      userId: 'zhangsan',
      msgtype: 'text',
      msgType: 'text',
      text: '你好',
      media: [],
      mentionsBot: true,
      createTime: 1_760_000_100_000,
      raw: { msgid: 'msg-1', aibotid: 'aib-1', chattype: 'single', from: { userid: 'zhangsan' }, create_time: 1_760_000_100, msgtype: 'text', text: { content: ' 你好 ' } },
    });
    expect(toChatMessage(m, NOW)).toEqual({
      channelType: 'wecom_bot',
      userId: 'zhangsan',
      conversationId: 'zhangsan',
      content: '你好',
      msgType: 'text',
      msgId: 'msg-1',
      timestamp: 1_760_000_100_000,
      isGroup: false,
      mentionsBot: true,
      replyMeta: { reqId: 'req-1', msgId: 'msg-1', chatType: 'single', sendTo: 'zhangsan', userId: 'zhangsan', receivedAt: NOW },
      raw: m.raw,
    });
  });

  it('strips the robot\'s @mention in groups: exactly with the name known, the leading @word without it', () => {
    expect(message(callback(group({ msgtype: 'text', text: { content: '@CocoCat 查一下' } }))).text).toBe('查一下');
    expect(message(callback(group({ msgtype: 'text', text: { content: '@Coco Cat\u2005查一下' } })), 'Coco Cat').text).toBe('查一下');
    expect(message(callback(group({ msgtype: 'text', text: { content: '请 @CocoCat 看看 @CocoCatX' } })), 'CocoCat').text).toBe('请 看看 @CocoCatX');
    // Direct chats keep an @ as written.
    expect(message(callback(base({ msgtype: 'text', text: { content: '@someone hi' } }))).text).toBe('@someone hi');
    expect(stripMention('@CocoCat', 'CocoCat')).toBe('');
    const m = message(callback(group({ msgtype: 'text', text: { content: '@CocoCat hi' } })));
    expect(toChatMessage(m, NOW)).toMatchObject({ conversationId: 'wrkGroup1', isGroup: true, mentionsBot: true, replyMeta: { sendTo: 'wrkGroup1', chatType: 'group' } });
  });

  it('describes image, file, video, voice and mixed; media keys stay out of raw but travel in media[].key', () => {
    const image = message(callback(base({ msgtype: 'image', image: { url: 'https://dl/1', aeskey: 'a2V5' } })));
    expect(image).toMatchObject({ msgType: 'image', text: '[image]', media: [{ kind: 'image', url: 'https://dl/1', aeskey: 'a2V5' }] });
    expect(JSON.stringify(image.raw)).not.toContain('a2V5');
    // The download needs the key in any gateway process: it is stored with the message (masked by the admin API and logs).
    const chat = toChatMessage(image, NOW);
    expect(chat.media).toEqual([{ kind: 'image', ref: 'https://dl/1', key: 'a2V5' }]);
    expect(JSON.stringify({ ...chat, media: undefined })).not.toContain('a2V5');
    expect(toChatMessage(message(callback(base({ msgtype: 'video', video: { url: 'https://dl/3' } }))), NOW).media).toEqual([{ kind: 'video', ref: 'https://dl/3' }]);
    expect(message(callback(base({ msgtype: 'file', file: { url: 'https://dl/2', aeskey: 'k' } })))).toMatchObject({ msgType: 'file', text: '[file]', media: [{ kind: 'file' }] });
    expect(message(callback(base({ msgtype: 'video', video: { url: 'https://dl/3' } })))).toMatchObject({ msgType: 'video', media: [{ kind: 'video', url: 'https://dl/3' }] });
    expect(message(callback(base({ msgtype: 'voice', voice: { content: '明天几点开会' } })))).toMatchObject({ msgType: 'voice', text: '明天几点开会', media: [] });
    const mixed = message(
      callback(
        group({
          msgtype: 'mixed',
          mixed: { msg_item: [{ msgtype: 'text', text: { content: '@CocoCat 这张图' } }, { msgtype: 'image', image: { url: 'https://dl/4', aeskey: 'k4' } }, { msgtype: 'text', text: { content: '是什么？' } }] },
        }),
      ),
    );
    expect(mixed).toMatchObject({ msgType: 'text', text: '这张图\n[image]\n是什么？', media: [{ kind: 'image', url: 'https://dl/4' }] });
    expect(toChatMessage(mixed, NOW).media).toEqual([{ kind: 'image', ref: 'https://dl/4', key: 'k4' }]);
    expect(message(callback(base({ msgtype: 'sticker' })))).toMatchObject({ msgType: 'text', text: '[sticker message]' });
  });

  it('appends a quoted message as a quote block, so the agent sees what "translate this" means', () => {
    const m = message(callback(group({ msgtype: 'text', text: { content: '@CocoCat 翻译一下' }, quote: { msgtype: 'text', text: { content: 'Hello\nworld' } } })));
    expect(m.text).toBe('翻译一下\n\n> Hello\n> world');
    const img = message(callback(base({ msgtype: 'text', text: { content: '这是什么' }, quote: { msgtype: 'image', image: { url: 'u', aeskey: 'k' } } })));
    expect(img.text).toBe('这是什么\n\n> [image]');
    // The quoted image goes to agents that read images, like one sent with the message.
    expect(img.media).toEqual([{ kind: 'image', url: 'u', aeskey: 'k' }]);
    const mixed = { msgtype: 'mixed', mixed: { msg_item: [{ msgtype: 'image', image: { url: 'a' } }, { msgtype: 'text', text: { content: 't' } }, { msgtype: 'image', image: { url: 'b' } }] } };
    expect(message(callback(base({ msgtype: 'text', text: { content: '对比' }, quote: mixed }))).media).toEqual([
      { kind: 'image', url: 'a' },
      { kind: 'image', url: 'b' },
    ]);
    expect(message(callback(base({ msgtype: 'text', text: { content: 'x' }, quote: { msgtype: 'image', image: {} } }))).media).toEqual([]);
  });

  it('takes create_time in seconds or ms, and the arrival time when it is missing', () => {
    expect(message(callback(base({ msgtype: 'text', text: { content: 'x' }, create_time: 1_760_000_100_123 }))).createTime).toBe(1_760_000_100_123);
    expect(message(callback(base({ msgtype: 'text', text: { content: 'x' }, create_time: '1760000100' }))).createTime).toBe(1_760_000_100_000);
    expect(message(callback(base({ msgtype: 'text', text: { content: 'x' }, create_time: undefined }))).createTime).toBe(NOW);
  });

  it('refuses malformed callbacks, naming the field', () => {
    expect(failure(() => parseBotFrame({ cmd: 'aibot_msg_callback', headers: {}, body: base({ msgtype: 'text', text: { content: 'x' } }) }, { nowMs: NOW }))).toMatchObject({
      field: 'headers.req_id',
      code: 'COCO_ERR_REQUEST_INVALID',
    });
    expect(failure(() => parseBotFrame(callback(base({ msgtype: 'text', from: {} })), { nowMs: NOW })).field).toBe('body.from.userid');
    expect(failure(() => parseBotFrame(callback(base({ msgtype: 'text' })), { nowMs: NOW })).field).toBe('body.text');
    expect(failure(() => parseBotFrame(callback(base({ msgtype: 'text', text: { content: 'x' }, chattype: 'group' })), { nowMs: NOW })).field).toBe('body.chatid');
    expect(failure(() => parseBotFrame(callback(base({ msgid: '', msgtype: 'text', text: { content: 'x' } })), { nowMs: NOW })).field).toBe('body.msgid');
    expect(failure(() => parseBotFrame('nope', { nowMs: NOW })).field).toBe('frame');
  });
});

describe('wecom_bot: events and other frames', () => {
  const event = (eventtype: string, extra: Record<string, unknown> = {}) => ({
    cmd: 'aibot_event_callback',
    headers: { req_id: 'req-e' },
    body: { msgid: 'ev-1', create_time: 1_760_000_200, aibotid: 'aib-1', from: { userid: 'lisi' }, msgtype: 'event', event: { eventtype, ...extra } },
  });

  it('classifies enter_chat, template card clicks and the takeover event', () => {
    expect(parseBotFrame(event('enter_chat'), { nowMs: NOW })).toEqual({ kind: 'event', reqId: 'req-e', eventType: 'enter_chat', msgId: 'ev-1', userId: 'lisi', createTime: 1_760_000_200_000 });
    expect(parseBotFrame(event('template_card_event', { event_key: 'yes', task_id: 't1' }), { nowMs: NOW })).toMatchObject({ kind: 'event', eventKey: 'yes', taskId: 't1' });
    const takeover = { cmd: 'aibot_event_callback', headers: { req_id: 'req-d' }, body: { msgid: 'd1', create_time: 1, aibotid: 'aib-1', msgtype: 'event', event: { eventtype: 'disconnected_event' } } };
    expect(parseBotFrame(takeover, { nowMs: NOW })).toEqual({ kind: 'disconnected', reqId: 'req-d', msgId: 'd1' });
    expect(failure(() => parseBotFrame({ ...event('x'), body: { msgtype: 'event', event: {} } }, { nowMs: NOW })).field).toBe('body.event.eventtype');
  });

  it('ignores acks and webhook-only stream refreshes', () => {
    expect(parseBotFrame({ headers: { req_id: 'ping_1' }, errcode: 0, errmsg: 'ok' }, { nowMs: NOW })).toEqual({ kind: 'ignored', reqId: 'ping_1', reason: 'response frame is not a callback' });
    expect(parseBotFrame(callback(base({ msgtype: 'stream', stream: { id: 's' } })), { nowMs: NOW })).toMatchObject({ kind: 'ignored', reqId: 'req-1' });
  });

  it('answers direct chats always and groups by policy; keys conversations by chat', () => {
    const direct = { isGroup: false, mentionsBot: true };
    const grp = { isGroup: true, mentionsBot: true };
    expect([shouldAnswer(direct, 'off'), shouldAnswer(grp, 'mention'), shouldAnswer(grp, 'all'), shouldAnswer(grp, 'off')]).toEqual([true, true, true, false]);
    expect(shouldAnswer({ isGroup: true, mentionsBot: false }, 'mention')).toBe(false);
    expect(conversationKey({ isGroup: true, chatId: 'wrk1', userId: 'u' })).toBe('wrk1');
    expect(conversationKey({ isGroup: false, userId: 'u' })).toBe('u');
  });
});

describe('wecom_bot: stream replies', () => {
  it('derives a stable stream id from the idempotency key', () => {
    const id = streamIdFor('msg_42:0');
    expect(id).toMatch(/^stream_[0-9a-f]{32}$/);
    expect(streamIdFor('msg_42:0')).toBe(id);
    expect(streamIdFor('msg_42:1')).not.toBe(id);
    expect(streamIdFor('msg_43:0')).not.toBe(id);
  });

  it('builds the frame bodies the SDK and the platform expect', () => {
    expect(streamReplyBody('stream_x', '**hi**', false)).toEqual({ msgtype: 'stream', stream: { id: 'stream_x', finish: false, content: '**hi**' } });
    expect(streamReplyBody('stream_x', 'done', true).stream.finish).toBe(true);
    expect(markdownMessageBody('# x')).toEqual({ msgtype: 'markdown', markdown: { content: '# x' } });
    expect(welcomeTextBody('欢迎')).toEqual({ msgtype: 'text', text: { content: '欢迎' } });
  });

  it('fits a normal reply in the stream, with nothing to follow', () => {
    expect(planReply('## 答案\n\n- 一\n- 二')).toEqual({ stream: '## 答案\n\n- 一\n- 二', followUps: [] });
    expect(planReply('  \n')).toEqual({ stream: '', followUps: [] });
  });

  it('sends what exceeds 20480 bytes as follow-ups within the proactive limit, losing nothing, fences kept whole', () => {
    const paragraph = (i: number) => `第${i}段：${'这是一段很长的回答内容。'.repeat(30)}`; // ~1 KB
    const code = '```ts\n' + Array.from({ length: 60 }, (_, i) => `const v${i} = ${i};`).join('\n') + '\n```';
    const input = [...Array.from({ length: 22 }, (_, i) => paragraph(i)), code, paragraph(99)].join('\n\n');
    expect(bytes(input)).toBeGreaterThan(STREAM_CONTENT_LIMIT_BYTES + SEND_MARKDOWN_LIMIT_BYTES);
    const plan = planReply(input);
    expect(bytes(plan.stream)).toBeLessThanOrEqual(STREAM_CONTENT_LIMIT_BYTES);
    expect(bytes(plan.stream)).toBeGreaterThan(STREAM_CONTENT_LIMIT_BYTES - 1_100); // filled up to the last paragraph that fits
    expect(plan.followUps.length).toBeGreaterThan(1);
    for (const f of plan.followUps) {
      expect(bytes(f)).toBeLessThanOrEqual(SEND_MARKDOWN_LIMIT_BYTES);
      expect(f.split('\n').filter((l) => l.startsWith('```')).length % 2).toBe(0); // every fence opened is closed
    }
    // All text arrives, in order: rejoined without fence bookkeeping and cut whitespace it is the input.
    const squash = (s: string) => s.replace(/```ts\n|\n```/g, '').replace(/\s+/g, '');
    expect(squash([plan.stream, ...plan.followUps].join(''))).toBe(squash(input));
    expect(planReply(input)).toEqual(plan);
  });

  it('repeats a long table\'s header rows at the top of each follow-up, so its rows still render as a table', () => {
    const rows = Array.from({ length: 900 }, (_, i) => `| 订单 ${i} | ${i % 9} 箱 | 已发货 |`);
    const input = `| 订单 | 数量 | 状态 |\n|---|---|---|\n${rows.join('\n')}`;
    const plan = planReply(input);
    expect(plan.followUps.length).toBeGreaterThan(1);
    for (const part of [plan.stream, ...plan.followUps]) {
      expect(bytes(part)).toBeLessThanOrEqual(part === plan.stream ? STREAM_CONTENT_LIMIT_BYTES : SEND_MARKDOWN_LIMIT_BYTES);
      expect(part.startsWith('| 订单 | 数量 | 状态 |\n|---|---|---|\n| 订单 ')).toBe(true);
    }
    expect([plan.stream, ...plan.followUps].join('\n').split('\n').filter((l) => /^\| 订单 \d/.test(l))).toEqual(rows);
  });

  it('plans a reply that can no longer be streamed as proactive messages only', () => {
    const input = Array.from({ length: 10 }, (_, i) => `Paragraph ${i}. ${'word '.repeat(150).trim()}.`).join('\n\n');
    const out = planProactive(input);
    expect(out.length).toBeGreaterThan(1);
    for (const part of out) expect(bytes(part)).toBeLessThanOrEqual(SEND_MARKDOWN_LIMIT_BYTES);
    expect(out.join('\n\n')).toBe(input);
    expect(planProactive(' ')).toEqual([]);
  });
});
