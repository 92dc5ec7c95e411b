import { afterEach, describe, expect, it } from 'vitest';
import { ChannelRegistry } from '../../src/channels/registry.js';
import { webApiChannel } from '../../src/channels/web-api/index.js';
import type { ChannelContext } from '../../src/core/channel.js';
import { ManualClock, systemClock, type Clock } from '../../src/core/clock.js';
import { CocoError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { localRateLimiter } from '../../src/core/rate-limiter.js';
import type { ChatMessage, SendContext } from '../../src/core/message.js';
import { startFakeRelay, type FakeRelay } from '../../examples/relay-channel/fake-platform.js';
import { RelayChannel, relayChannel } from '../../examples/relay-channel/index.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { runChannelContract } from './channel.contract.js';
import { memoryChannelState, noSignals } from '../../src/core/channel-state.js';
import { imagesOf, startFakeLlm } from '../fakes/llm/server.js';
import { solidPng } from '../helpers/images.js';
import { mediaDownloads } from '../helpers/media.js';

async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

runChannelContract('relay (example)', {
  definition: relayChannel,
  idempotentSend: true,
  async setup() {
    const fake = await startFakeRelay();
    return {
      config: { base_url: fake.url, token: fake.token, poll_timeout_ms: 5_000 },
      teardown: () => fake.close(),
      driver: {
        async deliver({ userId, text, msgId }) {
          const { cursor } = fake.push(userId, text, msgId);
          // Acked: the channel polled past the update. Not acked: the platform had to hand it out again.
          await waitFor(() => fake.ackedCursor >= cursor || fake.deliveries(cursor) >= 2);
          return { acked: fake.ackedCursor >= cursor };
        },
        received: async (userId) => fake.received(userId),
      },
    };
  },
});

describe('relay example channel', () => {
  let fake: FakeRelay | undefined;
  let channel: RelayChannel | undefined;
  afterEach(async () => {
    await channel?.stop();
    await fake?.close();
    channel = fake = undefined;
  });

  function open(clock: Clock = systemClock, onMessage?: (m: ChatMessage) => Promise<void>) {
    const errors: unknown[] = [];
    const noFeed = () => Promise.reject(new Error('the relay channel keeps no feed'));
    const ctx: ChannelContext = {
      entryKey: 'bot.relay',
      entryId: 'relay',
      log: silentLogger(),
      clock,
      feed: { append: noFeed, read: noFeed, repliesTo: noFeed, watch: () => () => {} },
      state: memoryChannelState(),
      signals: noSignals(),
      sharedStore: false,
      rateLimiter: (_name, limit) => localRateLimiter(limit, clock),
      reportError: (e) => errors.push(e),
    };
    const instance = new RelayChannel(ctx);
    instance.sceneId = 'bot';
    const seen: ChatMessage[] = [];
    instance.onMessage = async (m) => {
      seen.push(m);
      await onMessage?.(m);
      return { messageId: String(seen.length), duplicate: false, acceptedAt: Date.now() };
    };
    channel = instance;
    return { instance, errors, seen };
  }

  const config = (f: FakeRelay, extra: Record<string, unknown> = {}) =>
    relayChannel.configSchema.parse({ base_url: f.url, token: f.token, ...extra });

  it('start() rejects with a clear COCO_ERR_CHANNEL_START on a wrong token, and does not poll', async () => {
    fake = await startFakeRelay();
    const { instance } = open();
    const error = await instance.start('bot', { ...config(fake), token: 'wrong-token' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CocoError);
    expect(error).toMatchObject({ code: 'COCO_ERR_CHANNEL_START', channel: 'relay' });
    expect((error as Error).message).toMatch(/rejected the token \(401/);
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.counts.polls).toBe(0);
  });

  it('moves the cursor only after onMessage resolved: a failed hand-over is delivered again', async () => {
    fake = await startFakeRelay();
    let release!: () => void;
    let calls = 0;
    const { instance, seen } = open(systemClock, async () => {
      calls++;
      if (calls === 1) throw new CocoError('COCO_ERR_STORE', 'disk full');
      if (calls === 2) await new Promise<void>((r) => (release = r));
    });
    await instance.start('bot', config(fake));
    const update = fake.push('alice', 'hello', 'p-42');
    // First hand-over throws: the update is handed out again, after a backoff, with the same id.
    expect(await waitFor(() => seen.length === 2)).toBe(true);
    expect(fake.deliveries(update.cursor)).toBe(2);
    expect(seen.map((m) => m.msgId)).toEqual(['p-42', 'p-42']);
    // Second hand-over is still pending: nothing acks it yet.
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.ackedCursor).toBeLessThan(update.cursor);
    release();
    expect(await waitFor(() => fake!.ackedCursor >= update.cursor)).toBe(true);
    expect(fake.deliveries(update.cursor)).toBe(2);
  });

  it('stop() during a long poll ends the held request, and no poll follows', async () => {
    fake = await startFakeRelay();
    const { instance } = open();
    await instance.start('bot', config(fake, { poll_timeout_ms: 30_000 }));
    expect(await waitFor(() => fake!.waiting === 1)).toBe(true);
    const began = Date.now();
    await instance.stop();
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(await waitFor(() => fake!.waiting === 0)).toBe(true);
    const polls = fake.counts.polls;
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.counts.polls).toBe(polls);
  });

  it('backs off on the injected clock and reports the entry broken after 5 failed polls in a row', async () => {
    fake = await startFakeRelay();
    fake.failNextPolls(100, 503);
    const clock = new ManualClock();
    const { instance, errors } = open(clock);
    await instance.start('bot', config(fake));
    expect(await waitFor(() => fake!.counts.polls === 1)).toBe(true);
    // The retry waits for the clock, not for real time.
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.counts.polls).toBe(1);
    expect(await waitFor(async () => (await clock.advance(60_000), errors.length === 1))).toBe(true);
    expect(fake.counts.polls).toBe(5);
    expect((errors[0] as Error).message).toContain('503');
    // Reported means done: the SceneKeeper restarts a fresh instance, this one polls no more.
    await clock.advance(600_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.counts.polls).toBe(5);
  });

  it('stop() during a backoff returns at once, without the clock moving', async () => {
    fake = await startFakeRelay();
    fake.failNextPolls(1, 503);
    const { instance } = open(new ManualClock());
    await instance.start('bot', config(fake));
    expect(await waitFor(() => fake!.counts.polls === 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    const outcome = await Promise.race([instance.stop().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), 1_000))]);
    expect(outcome).toBe('stopped');
    expect(fake.counts.polls).toBe(1);
  });

  it('maps send failures: 429 retryable with Retry-After, 5xx retryable, other 4xx not', async () => {
    fake = await startFakeRelay();
    const { instance } = open();
    await instance.start('bot', config(fake));
    const context: SendContext = {
      conversationId: 'bob',
      isGroup: false,
      inReplyTo: 'p-1',
      messageId: '1',
      idempotencyKey: '1:0',
      chunk: { index: 0, count: 1 },
    };
    const send = () => instance.send({ text: 'hi bob', format: 'text' }, 'bob', context).catch((e: unknown) => e);
    fake.failNextSends(1, 429, 7);
    const limited = await send();
    expect(limited).toBeInstanceOf(CocoError);
    expect(limited).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: true, retryAfterMs: 7_000 });
    fake.failNextSends(1, 502);
    expect(await send()).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: true, retryAfterMs: undefined });
    fake.failNextSends(1, 400);
    expect(await send()).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: false });
    expect(fake.received('bob')).toEqual([]);
    expect(await send()).toEqual({ platformMessageId: 'm-1:0' });
    expect(fake.received('bob')).toEqual(['hi bob']);
  });
});

describe('relay example through the gateway', () => {
  const opened = closeAfterEach();

  it('answers a platform message with the echo reply exactly once, also when the platform redelivers it', async () => {
    const fake = opened(await startFakeRelay());
    const registry = new ChannelRegistry([webApiChannel, relayChannel]);
    const entry = { type: 'channel', channel: 'relay', enabled: true, config: { base_url: fake.url, token: fake.token, poll_timeout_ms: 1_000 } };
    const t = opened(await startTestGateway({ agents: { echo: { profile: { provider: 'echo', prefix: 'echo: ' }, entries: [entry] } } }, { registry }));
    await t.until(() => t.gateway.keeper.statusOf('echo.relay')?.state === 'running');

    const first = fake.push('carol', 'hello relay', 'p-1');
    await t.until(() => fake.received('carol').length > 0);
    const again = fake.push('carol', 'hello relay', 'p-1');
    await t.until(() => fake.ackedCursor >= again.cursor);
    await new Promise((r) => setTimeout(r, 300));

    expect(first.cursor).toBeLessThan(again.cursor);
    expect(fake.received('carol')).toEqual(['echo: hello relay']);
    expect(fake.counts.sends).toBe(1);
    expect(t.gateway.keeper.statusOf('echo.relay')).toMatchObject({ state: 'running', messagesIn: 1, messagesOut: 1 });
  });
});

describe('relay example: images users send reach agents that read them', () => {
  const opened = closeAfterEach();

  async function start(images: boolean) {
    const fake = opened(await startFakeRelay());
    const llm = opened(await startFakeLlm());
    const registry = new ChannelRegistry([webApiChannel, relayChannel]);
    const entry = { type: 'channel', channel: 'relay', enabled: true, config: { base_url: fake.url, token: fake.token, poll_timeout_ms: 1_000 } };
    const profile = { provider: 'openai', model: 'vision-model', base_url: llm.url, api_key: 'k', images };
    const t = opened(await startTestGateway({ agents: { looker: { profile, entries: [entry] } } }, { registry }));
    await t.until(() => t.gateway.keeper.statusOf('looker.relay')?.state === 'running');
    return { fake, llm, t };
  }


  it('passes the photo to the model as an image part next to the text, once, and keeps only the text in history', async () => {
    const { fake, llm, t } = await start(true);
    const png = solidPng(3, 2, [0, 128, 255]);
    fake.pushImage('dora', png, { text: 'what is this?' });
    await t.until(() => fake.received('dora').length > 0);
    expect(fake.received('dora')).toEqual(['reply to: what is this? [image] (+1 image)']);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(fake.counts.downloads).toBe(1);
    expect(await mediaDownloads(t, 'relay', 'ok')).toBe(1);

    // The next turn sees the photo's turn as text: the image bytes are not kept or sent again.
    fake.push('dora', 'and now?');
    await t.until(() => fake.received('dora').length > 1);
    const history = llm.requests[1]!.body.messages!;
    expect(history.map((m) => m.content)).toEqual(['what is this? [image]', 'reply to: what is this? [image] (+1 image)', 'and now?']);
    expect(fake.counts.downloads).toBe(1);
  });

  it('downloads nothing for an agent without images: true, which answers from the text', async () => {
    const { fake, llm, t } = await start(false);
    fake.pushImage('eve', solidPng());
    await t.until(() => fake.received('eve').length > 0);
    expect(fake.received('eve')).toEqual(['reply to: [image]']);
    expect(llm.requests[0]!.body.messages!.at(-1)!.content).toBe('[image]');
    expect(fake.counts.downloads).toBe(0);
  });

  it('answers from the text when the file is gone, once, and shows why in the timeline and the metrics', async () => {
    const { fake, llm, t } = await start(true);
    const update = fake.pushImage('finn', solidPng(), { id: 'gone-1' });
    fake.expireFile(update.image!.file_id);
    await t.until(() => fake.received('finn').length > 0);
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.received('finn')).toEqual(['reply to: [image]']);
    expect(imagesOf(llm.requests[0]!)).toEqual([]);
    expect(fake.counts.downloads).toBe(1); // a 404 is not tried again

    const [summary] = await t.gateway.store.listMessages({ limit: 1 });
    const detail = await t.gateway.store.getMessage(summary!.id);
    expect(detail?.status).toBe('done');
    const event = detail!.timeline.find((e) => e.stage === 'media_error');
    expect(event?.detail).toMatch(/^COCO_ERR_MEDIA: image 1: relay: file f-1 is gone \(404\)/);
    expect(await mediaDownloads(t, 'relay', 'failed')).toBe(1);
  });

  it('tries a download that failed with a 5xx once more, and passes the image', async () => {
    const { fake, llm, t } = await start(true);
    const png = solidPng(1, 1, [9, 9, 9]);
    fake.failNextDownloads(1, 503);
    fake.pushImage('gus', png);
    await t.until(() => fake.received('gus').length > 0);
    expect(fake.counts.downloads).toBe(2);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(fake.received('gus')).toEqual(['reply to: [image] (+1 image)']);
  });
});

