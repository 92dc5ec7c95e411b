import { afterEach, describe, expect, it } from 'vitest';
import { sdkLogger } from '../../src/channels/wecom-bot/connection.js';
import { CocoError } from '../../src/core/errors.js';
import type { ChatMessage, SendContext } from '../../src/core/message.js';
import { STREAM_CONTENT_LIMIT_BYTES } from '../../src/channels/wecom-bot/format.js';
import { WecomBotChannel, wecomBotChannel } from '../../src/channels/wecom-bot/index.js';
import { FakeWecom } from '../fakes/wecom/index.js';
import { channelContext } from '../helpers/channel-context.js';
import { captureLogger } from '../helpers/logs.js';

/** The channel on its own against the fake: reply planning, stale req_ids, retries, liveness, welcome. */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(10);
  }
}

async function boot(config: Record<string, unknown> = {}) {
  const fake = await FakeWecom.start();
  cleanups.push(() => fake.close());
  const received: ChatMessage[] = [];
  const errors: unknown[] = [];
  const ctx = channelContext('wecom_bot', { reportError: (e) => errors.push(e) });
  const channel = wecomBotChannel.create(ctx) as WecomBotChannel;
  channel.sceneId = 'bot';
  channel.onMessage = async (m) => {
    received.push(m);
    return { messageId: String(received.length), duplicate: false, acceptedAt: Date.now() };
  };
  cleanups.push(() => channel.stop());
  const parsed = wecomBotChannel.configSchema.parse({ bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl, ...config });
  await channel.start('bot', parsed);
  return { fake, channel, received, errors };
}

function contextOf(m: ChatMessage, key = 'k:0', meta: Record<string, unknown> = {}): SendContext {
  return {
    conversationId: m.conversationId,
    isGroup: m.isGroup,
    inReplyTo: m.msgId,
    messageId: '1',
    idempotencyKey: key,
    chunk: { index: 0, count: 1 },
    replyMeta: { ...m.replyMeta, ...meta },
  };
}

describe('wecom_bot channel', () => {
  it('streams the first 20480 bytes and sends the rest as markdown to the group; a retry sends nothing again', async () => {
    const { fake, channel, received } = await boot();
    const d = fake.sendBotText('long please', { chatType: 'group', chatId: 'wrLong' });
    await until(() => received.length === 1);
    const paragraph = `${'这是一段很长的回答。'.repeat(40)}\n\n`; // 1202 bytes
    const text = paragraph.repeat(30).trim();
    const context = contextOf(received[0]!);
    await channel.send({ text, format: 'markdown' }, 'u', context);
    expect(d.finished).toBe(true);
    expect(d.stream?.frames).toBe(1);
    expect(Buffer.byteLength(d.text ?? '')).toBeLessThanOrEqual(STREAM_CONTENT_LIMIT_BYTES);
    const followUps = fake.botSent.map((s) => [s.chatid, s.msgtype]);
    expect(followUps.length).toBeGreaterThan(3);
    expect(new Set(followUps.map((f) => f.join()))).toEqual(new Set(['wrLong,markdown']));
    // Nothing lost and nothing twice: the parts put together are the answer.
    expect([d.text, ...fake.botSent.map((s) => s.content)].join('\n\n').replace(/\s+/g, '')).toBe(text.replace(/\s+/g, ''));
    const sent = fake.botSent.length;
    await channel.send({ text, format: 'markdown' }, 'u', context);
    expect(fake.botSent).toHaveLength(sent);
    expect(d.replies).toHaveLength(1);
  });

  it('sends proactively when the req_id is past the stream window or from before the start', async () => {
    const { fake, channel, received } = await boot();
    const d = fake.sendBotText('slow one', { from: 'wangwu' });
    await until(() => received.length === 1);
    const m = received[0]!;
    await channel.send({ text: 'late answer', format: 'text' }, 'wangwu', contextOf(m, 'late:0', { receivedAt: Date.now() - 6 * 60_000 }));
    await channel.send({ text: 'after a restart', format: 'text' }, 'wangwu', contextOf(m, 'restart:0', { receivedAt: 1 }));
    expect(d.replies).toHaveLength(0);
    expect(fake.botSent.map((s) => [s.chatid, s.content])).toEqual([
      ['wangwu', 'late answer'],
      ['wangwu', 'after a restart'],
    ]);
  });

  it('a refused stream frame is a retryable send error, and the retry finishes the same stream once', async () => {
    const { fake, channel, received } = await boot();
    const d = fake.sendBotText('retry me');
    await until(() => received.length === 1);
    fake.failNextReplies(1, -1);
    const context = contextOf(received[0]!);
    const err = await channel.send({ text: 'answer', format: 'text' }, 'u', context).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CocoError);
    expect(err).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: true });
    expect(d.finished).toBe(false);
    await channel.send({ text: 'answer', format: 'text' }, 'u', context);
    expect(d.finished).toBe(true);
    expect(d.text).toBe('answer');
    expect(d.replies.map((r) => r.errcode)).toEqual([-1, 0]);
    const streamIds = new Set(d.replies.map((r) => (r.body.stream as { id: string }).id));
    expect(streamIds.size).toBe(1);
  });

  it('shows the reply so far as unfinished frames of the reply stream, and issues none once send() began or after stop()', async () => {
    const { fake, channel, received } = await boot();
    const d = fake.sendBotText('preview me');
    await until(() => received.length === 1);
    const m = received[0]!;
    const preview = channel.startPreview(m, '1')!;
    expect(preview.intervalMs).toBe(500);
    preview.update('The answer');
    await until(() => d.replies.length === 1);
    const sending = channel.send({ text: 'The answer, whole.', format: 'text' }, 'u', contextOf(m));
    preview.update('The answer, wh'); // too late: send() began
    await sending;
    preview.update('The answer, whole.');
    preview.stop();
    preview.stop();
    await sleep(100);
    const frames = d.replies.map((r) => [r.errcode, (r.body.stream as { content: string }).content, (r.body.stream as { finish: boolean }).finish]);
    expect(frames).toEqual([
      [0, 'The answer', false],
      [0, 'The answer, whole.', true],
    ]);
    expect(new Set(d.replies.map((r) => (r.body.stream as { id: string }).id)).size).toBe(1);

    const e = fake.sendBotText('stopped early');
    await until(() => received.length === 2);
    const stopped = channel.startPreview(received[1]!, '2')!;
    stopped.stop();
    stopped.update('nothing');
    await sleep(100);
    expect(e.replies).toHaveLength(0);
  });

  it('shows no preview with show_preview off, past the stream window or for a req_id from before the start', async () => {
    const off = await boot({ show_preview: false });
    off.fake.sendBotText('x');
    await until(() => off.received.length === 1);
    expect(off.channel.startPreview(off.received[0]!, '1')).toBeUndefined();
    const { fake, channel, received } = await boot();
    fake.sendBotText('y');
    await until(() => received.length === 1);
    const m = received[0]!;
    expect(channel.startPreview({ ...m, replyMeta: { ...m.replyMeta, receivedAt: Date.now() - 6 * 60_000 } }, '1')).toBeUndefined();
    expect(channel.startPreview({ ...m, replyMeta: { ...m.replyMeta, receivedAt: 1 } }, '1')).toBeUndefined();
    expect(channel.startPreview(m, '1')).toBeDefined();
  });

  it('welcomes a member who opens the chat, when welcome_text is set, without a message for the agent', async () => {
    const { fake, received } = await boot({ welcome_text: '你好，我是 CocoCat' });
    const d = fake.sendBotEvent('enter_chat', { from: 'zhaoliu' });
    await until(() => d.welcome !== undefined);
    expect(d.welcome).toMatchObject({ msgtype: 'text', text: { content: '你好，我是 CocoCat' } });
    expect(received).toHaveLength(0);
  });

  it('reopens a connection that stays open but answers no ping within liveness_timeout_seconds', async () => {
    const { fake, channel, received, errors } = await boot({ heartbeat_interval_seconds: 5, liveness_timeout_seconds: 10 });
    fake.ignorePings(2);
    await until(() => (channel.transportStatus()?.reconnects ?? 0) >= 1, 15_000);
    // Our watchdog fired (10 s), before the SDK's own two-missed-pings check (15 s).
    expect(channel.transportStatus()?.lastError?.message).toMatch(/nothing received for 1\d s/);
    expect(fake.connections[0]?.pingsIgnored).toBe(2);
    expect(fake.connections[0]?.open).toBe(false);
    expect(errors).toEqual([]);
    const d = fake.sendBotText('still there?');
    await until(() => received.length === 1);
    await channel.send({ text: 'yes', format: 'text' }, 'u', contextOf(received[0]!));
    expect(d.text).toBe('yes');
  }, 25_000);

  it('stop() closes the connection, and is idempotent', async () => {
    const { fake, channel } = await boot();
    expect(fake.openConnections).toBe(1);
    await channel.stop();
    await channel.stop();
    await until(() => fake.openConnections === 0);
    expect(channel.transportStatus()?.state).toBe('stopped');
    await expect(channel.send({ text: 'x', format: 'text' }, 'u', contextOf({ conversationId: 'u', isGroup: false, msgId: 'm' } as ChatMessage))).rejects.toMatchObject({
      code: 'COCO_ERR_CHANNEL_SEND',
      retryable: true,
    });
  });

  it("keeps the secret and message bodies out of the SDK's log lines", () => {
    const capture = captureLogger('trace');
    const log = sdkLogger(capture.log);
    log.debug('[plugin -> server] cmd=aibot_subscribe, body={"bot_id":"b1","secret":"s3cr3t-value"}');
    log.error('Auth frame failed', new Error('secret=s3cr3t-value rejected'));
    log.info('[server -> plugin] cmd=aibot_msg_callback, reqId=r1, body={"text":{"content":"private words"}}');
    log.warn('Connection lost, reconnecting in 1000ms');
    expect(capture.lines).toHaveLength(4);
    const all = capture.raw();
    expect(all).not.toContain('s3cr3t-value');
    expect(all).not.toContain('private words');
    expect(all).toContain('Connection lost, reconnecting in 1000ms');
    expect(all).toContain('cmd=aibot_msg_callback');
  });
});
