import { afterEach, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { CocoError } from '../../src/core/errors.js';
import type { ChatMessage, SendContext } from '../../src/core/message.js';
import { signature } from '../../src/channels/shared/tencent-crypto.js';
import { WecomChannel } from '../../src/channels/wecom/channel.js';
import { wecomConfigSchema } from '../../src/channels/wecom/config.js';
import { MemberPacer } from '../../src/channels/wecom/pacer.js';
import { FakeWecom, appMessageXml, wecomMessage, type FakeWecomOptions, type WecomAppMessage } from '../fakes/wecom/index.js';
import { channelContext } from '../helpers/channel-context.js';

describe('MemberPacer', () => {
  it('grants the per-minute count within a sliding minute, then says when the oldest send leaves it', () => {
    const pacer = new MemberPacer(3, 100);
    expect([0, 1_000, 2_000].map((t) => pacer.reserve('a', t))).toEqual([0, 0, 0]);
    // Full: the first send (t=0) leaves the window at 60 000.
    expect(pacer.reserve('a', 10_000)).toBe(50_001);
    expect(pacer.reserve('b', 10_000)).toBe(0);
    expect(pacer.reserve('a', 60_001)).toBe(0);
    // The window now holds 1 000, 2 000 and 60 001: 1 000 leaves it at 61 000.
    expect(pacer.reserve('a', 60_002)).toBe(999);
  });

  it('applies the hourly cap across minutes, and forgets members idle for an hour', () => {
    const pacer = new MemberPacer(2, 4);
    for (const t of [0, 1, 61_000, 61_001]) expect(pacer.reserve('a', t)).toBe(0);
    expect(pacer.reserve('a', 200_000)).toBe(3_600_001 - 200_000);
    pacer.sweep(3_700_000);
    expect(pacer.reserve('a', 3_700_000)).toBe(0);
  });
});

let fake: FakeWecom | undefined;
let channel: WecomChannel | undefined;
afterEach(async () => {
  await channel?.stop();
  await fake?.close();
  channel = fake = undefined;
});

async function boot(config: Record<string, unknown> = {}, fakeOpts: FakeWecomOptions = {}, clock: Clock = systemClock) {
  fake = await FakeWecom.start(fakeOpts);
  const received: ChatMessage[] = [];
  const ctx = channelContext('wecom', { clock });
  channel = new WecomChannel(ctx);
  channel.onMessage = async (m) => {
    received.push(m);
    return { messageId: String(received.length), duplicate: false, acceptedAt: Date.now() };
  };
  const parsed = wecomConfigSchema.parse({
    corp_id: fake.corpId,
    agent_id: fake.agentId,
    secret: fake.corpSecret,
    token: fake.token,
    encoding_aes_key: fake.encodingAesKey,
    api_base_url: fake.url,
    ...config,
  });
  await channel.start('bot', parsed);
  return { fake, channel, received };
}

/** A callback exactly as WeCom signs and encrypts it. */
function callback(f: FakeWecom, user: string, message: WecomAppMessage, createTime = Math.floor(f.now() / 1000)) {
  const msgId = message.type === 'event' ? undefined : '7300000000000000042';
  const encrypt = f.crypto.encrypt(appMessageXml(f.corpId, user, createTime, f.agentId, message, msgId));
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = 'n0nce';
  return { query: { msg_signature: signature(f.token, timestamp, nonce, encrypt), timestamp, nonce }, body: `<xml><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>` };
}

const ctxFor = (key: string): SendContext => ({ conversationId: 'u', isGroup: false, inReplyTo: 'm', messageId: '1', idempotencyKey: key, chunk: { index: 0, count: 1 } });

describe('WecomChannel', () => {
  it('resumes a split reply after the part that failed: no part is sent twice', async () => {
    const { fake, channel } = await boot();
    const again = `${'a'.repeat(1_500)}\n\n${'b'.repeat(1_500)}\n\n${'c'.repeat(1_500)}`;
    const sent = fake.sends.length;
    let calls = 0;
    // The second message/send of the reply answers busy.
    fake.onDelivered(() => {
      if (++calls === 1) fake!.failNextSends(1, -1);
    });
    const err = await channel.send({ text: again, format: 'text' }, 'lisi', ctxFor('r2')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CocoError);
    expect((err as CocoError).retryable).toBe(true);
    await channel.send({ text: again, format: 'text' }, 'lisi', ctxFor('r2'));
    expect(fake.delivered('lisi').map((d) => d.content[0])).toEqual(['a', 'b', 'c']);
    expect(fake.sends.slice(sent).map((s) => s.errcode)).toEqual([0, -1, 0, 0]);
  });

  it('dead-letters what WeCom will always refuse: a member outside the visible range', async () => {
    const { channel } = await boot({}, { members: ['zhangsan'] });
    const err = await channel.send({ text: 'hi', format: 'text' }, 'stranger', ctxFor('r3')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CocoError);
    expect((err as CocoError).retryable).toBe(false);
    expect((err as CocoError).message).toMatch(/81013/);
  });

  it('hands a reply over the member limit back to the outbox with retryAfter, without sending it', async () => {
    const { fake, channel } = await boot({ member_messages_per_minute: 2, member_messages_per_hour: 10 });
    await channel.send({ text: 'one', format: 'text' }, 'wangwu', ctxFor('a'));
    await channel.send({ text: 'two', format: 'text' }, 'wangwu', ctxFor('b'));
    const err = await channel.send({ text: 'three', format: 'text' }, 'wangwu', ctxFor('c')).catch((e: unknown) => e);
    expect((err as CocoError).retryable).toBe(true);
    expect((err as CocoError).retryAfterMs).toBeGreaterThan(55_000);
    expect(fake.delivered('wangwu').map((d) => d.content)).toEqual(['one', 'two']);
  });

  it('welcomes a member opening the chat once, without running the agent; forwards other events only when asked', async () => {
    const { fake, channel, received } = await boot({ welcome_text: '欢迎使用' });
    const open = callback(fake, 'zhaoliu', wecomMessage.enterAgent());
    await channel.receive(open.query, open.body);
    await channel.receive(open.query, open.body); // WeCom's retry of the same event
    await fake.waitFor(() => fake.delivered('zhaoliu').length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.delivered('zhaoliu').map((d) => d.content)).toEqual(['欢迎使用']);
    const click = callback(fake, 'zhaoliu', wecomMessage.click('menu_1'));
    await channel.receive(click.query, click.body);
    expect(received).toEqual([]);
    const text = callback(fake, 'zhaoliu', wecomMessage.text('你好'));
    await channel.receive(text.query, text.body);
    expect(received.map((m) => [m.msgId, m.content])).toEqual([['7300000000000000042', '你好']]);
  });
});
