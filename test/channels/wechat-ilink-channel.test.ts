import { afterEach, describe, expect, it } from 'vitest';
import { wechatIlinkChannel, type IlinkChannel } from '../../src/channels/wechat-ilink/index.js';
import { CURSOR_STATE } from '../../src/channels/wechat-ilink/poller.js';
import type { ChannelContext } from '../../src/core/channel.js';
import { memoryChannelState } from '../../src/core/channel-state.js';
import { systemClock } from '../../src/core/clock.js';
import { isCocoError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { ChatMessage } from '../../src/core/message.js';
import { localRateLimiter } from '../../src/core/rate-limiter.js';
import { FakeIlink } from '../fakes/ilink/index.js';

let channel: IlinkChannel | undefined;
let fake: FakeIlink | undefined;
afterEach(async () => {
  await channel?.stop();
  await fake?.close();
  channel = fake = undefined;
});

/** The channel on its own against the fake iLink, its mailbox a list that fails when told to. */
async function boot() {
  fake = await FakeIlink.start({ longPollMs: 300 });
  const state = memoryChannelState();
  const ctx: ChannelContext = {
    entryKey: 'bot.wechat_ilink',
    entryId: 'wechat_ilink',
    log: silentLogger(),
    clock: systemClock,
    feed: { append: async () => ({ seq: 0, duplicate: false }), read: async () => [], repliesTo: async () => [], watch: () => () => {} },
    state,
    sharedStore: false,
    rateLimiter: (_name, limit) => localRateLimiter(limit, systemClock),
    reportError: () => {},
  };
  const stored: ChatMessage[] = [];
  const mailbox = { failing: 0, delayMs: 0, log: [] as string[] };
  channel = wechatIlinkChannel.create(ctx) as IlinkChannel;
  channel.sceneId = 'bot';
  channel.onMessage = async (m) => {
    mailbox.log.push(`start ${m.content}`);
    if (mailbox.delayMs) await new Promise((r) => setTimeout(r, mailbox.delayMs));
    mailbox.log.push(`end ${m.content}`);
    if (mailbox.failing > 0) {
      mailbox.failing--;
      throw new Error('disk full');
    }
    const duplicate = stored.some((s) => s.msgId === m.msgId);
    if (!duplicate) stored.push(m);
    return { messageId: String(stored.length), duplicate, acceptedAt: Date.now() };
  };
  await channel.start('bot', wechatIlinkChannel.configSchema.parse({ base_url: fake.url, bot_token: fake.botToken }));
  return { fake, channel, stored, mailbox, state };
}

const until = async (predicate: () => boolean | Promise<boolean>, ms = 8_000) => {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('wechat_ilink channel', () => {
  it('keeps the cursor while the mailbox fails, and stores the batch when iLink hands it out again', async () => {
    const { fake, stored, mailbox, state } = await boot();
    await until(() => fake.calls.some((c) => c.endpoint === 'getupdates'));
    mailbox.failing = 1;
    fake.userSends('alice', 'first');
    fake.userSends('alice', 'second');
    await until(() => stored.length === 2);
    expect(stored.map((m) => m.content)).toEqual(['first', 'second']);
    // Two answers handed the batch out; the cursor moved (and was saved) only after the second.
    const polls = fake.calls.filter((c) => c.endpoint === 'getupdates');
    const handing = polls.filter((c) => ((c.response as { msgs?: unknown[] } | undefined)?.msgs?.length ?? 0) > 0);
    expect(handing).toHaveLength(2);
    expect(handing[1]!.body?.get_updates_buf).toBe(handing[0]!.body?.get_updates_buf);
    await until(async () => (await state.get(CURSOR_STATE)) === (handing[1]!.response as { get_updates_buf: string }).get_updates_buf);
  });

  it('stores one user\'s messages one after another, and different users\' side by side', async () => {
    const { fake, stored, mailbox } = await boot();
    await until(() => fake.calls.some((c) => c.endpoint === 'getupdates'));
    // The next answer waits, so all four messages come in one batch.
    fake.failNext('getupdates', { hangMs: 300 });
    await until(() => fake.calls.filter((c) => c.endpoint === 'getupdates').length >= 2);
    mailbox.delayMs = 50;
    for (const [user, text] of [['alice', 'a1'], ['bob', 'b1'], ['alice', 'a2'], ['bob', 'b2']]) fake.userSends(user!, text!);
    await until(() => stored.length === 4);
    const at = (line: string) => mailbox.log.indexOf(line);
    expect(at('start a2')).toBeGreaterThan(at('end a1'));
    expect(at('start b2')).toBeGreaterThan(at('end b1'));
    expect(at('start b1')).toBeLessThan(at('end a1'));
    expect(stored.map((m) => m.content).filter((c) => c.startsWith('a'))).toEqual(['a1', 'a2']);
  });

  it('pauses its polls as well when a send is told the session expired, and tells later sends to wait', async () => {
    const { fake, channel, stored } = await boot();
    fake.userSends('bob', 'hi');
    await until(() => stored.length === 1);
    const m = stored[0]!;
    const context = { conversationId: m.conversationId, isGroup: false, inReplyTo: m.msgId, messageId: '1', idempotencyKey: '1:0', chunk: { index: 0, count: 1 }, replyMeta: m.replyMeta };
    fake.failNext('sendmessage', { ret: -14 });
    const first = await channel.send({ text: 'a', format: 'text' }, m.userId, context).catch((e: unknown) => e);
    expect(isCocoError(first) && first.retryable).toBe(true);
    const second = await channel.send({ text: 'a', format: 'text' }, m.userId, context).catch((e: unknown) => e);
    expect(isCocoError(second) && second.message).toMatch(/session expired/);
    expect(isCocoError(second) && (second.retryAfterMs ?? 0)).toBeGreaterThan(3_000_000);
    expect(fake.calls.filter((c) => c.endpoint === 'sendmessage')).toHaveLength(1);
    expect(channel.transportStatus()).toMatchObject({ state: 'reconnecting' });
  });

  it('retries a refused context token with the user\'s newer one', async () => {
    const { fake, channel, stored } = await boot();
    fake.userSends('carol', 'old question');
    await until(() => stored.length === 1);
    const newer = fake.userSends('carol', 'new question');
    await until(() => stored.length === 2);
    const m = stored[0]!;
    fake.failNext('sendmessage', { ret: -2 });
    const context = { conversationId: m.conversationId, isGroup: false, inReplyTo: m.msgId, messageId: '1', idempotencyKey: '1:0', chunk: { index: 0, count: 1 }, replyMeta: m.replyMeta };
    await channel.send({ text: 'late answer', format: 'text' }, m.userId, context);
    expect(fake.sent('carol').map((s) => [s.text, s.contextToken])).toEqual([['late answer', newer.context_token]]);
  });
});
