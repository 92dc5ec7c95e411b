import { describe, expect, it } from 'vitest';
import type { TransportStatus } from '../../src/core/entry-status.js';
import { tablesIn } from '../fakes/feishu/cards.js';
import { encrypt, FakeFeishu, sign, type FakeFeishuOptions, type ReceiveMessageEvent, type SentMessage } from '../fakes/feishu/index.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { feishuEntryConfig } from '../helpers/feishu.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { captureLogger } from '../helpers/logs.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import { makeWorkspace } from '../helpers/workspace.js';

const ENTRY = 'bot.feishu';
const ENCRYPT_KEY = 'e2e-encrypt-key-0123';

// Before closeAfterEach(): vitest runs the afterEach hooks registered last first, so a kept
// workspace is removed once the gateways on it are closed.
const dirs = tempDirs();
const opened = closeAfterEach();

interface Setup {
  fake?: FakeFeishuOptions;
  config?: Record<string, unknown>;
  profile?: Record<string, unknown>;
  /** Keep the workspace so a second gateway can open it (restart tests). */
  keep?: boolean;
}


/** A fake Feishu and a gateway with one feishu entry on it, running. */
async function setup(opts: Setup = {}) {
  // Feishu's own 3 s ack timeout; tests about events lost with a socket set a shorter one.
  const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000, ...opts.fake }));
  const spec = {
    agents: { bot: { profile: opts.profile ?? { provider: 'echo' }, entries: [{ type: 'channel', channel: 'feishu', config: feishuEntryConfig(fake, undefined, opts.config) }] } },
  };
  const root = opts.keep ? dirs.track(makeWorkspace(spec)) : undefined;
  const t = opened(await startTestGateway(root ? { root } : spec));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  return { t, fake, root };
}

const textOf = (m: SentMessage | undefined) => (m?.content as { text?: string } | undefined)?.text;
const transport = (gateway: TestGateway) => gateway.gateway.keeper.statusOf(ENTRY)?.transport as TransportStatus | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('feishu over the long connection', () => {
  it('answers a p2p text message in the same chat, acking the event once it is stored', async () => {
    const { t, fake } = await setup();
    const event = fake.textEvent('你好，long connection');
    const delivery = fake.pushEvent(event, { fragments: 3 });
    await delivery.done;
    expect(delivery.status).toBe('acked');
    expect(delivery.attempts).toHaveLength(1);
    const chat = event.event.message.chat_id;
    await t.until(() => fake.messagesIn(chat).length === 1);
    const [reply] = fake.messagesIn(chat);
    expect(textOf(reply)).toBe('你好，long connection');
    expect(reply).toMatchObject({ receiveIdType: 'chat_id', receiveId: chat, msgType: 'text', replyInThread: false });
    expect(reply?.uuid).toMatch(/^[0-9a-f]{40}$/);
    // The fake has the message before the gateway has read the send's answer and counted it.
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.messagesOut === 1);
    const status = t.gateway.keeper.statusOf(ENTRY);
    expect(status).toMatchObject({ messagesIn: 1, messagesOut: 1 });
    expect(status?.transport).toMatchObject({ kind: 'websocket', state: 'connected', reconnects: 0, eventsReceived: 1 });
    expect(status?.transport?.lastEventAt).toBeGreaterThan(0);
  });

  it('answers a group @mention as a reply to the asking message, with the mention stripped', async () => {
    const { t, fake } = await setup();
    const event = fake.textEvent('what is 2+2?', { chatType: 'group', mentionBot: true, mentions: [{ openId: 'ou_someoneelse000000000000000000', name: 'Tom' }] });
    await fake.pushEvent(event).done;
    const group = event.event.message.chat_id;
    await t.until(() => fake.messagesIn(group).length === 1);
    const [reply] = fake.messagesIn(group);
    // Replied in the group, under the message that asked; the bot's own mention is gone, Tom's is named.
    expect(reply).toMatchObject({ chatId: group, replyTo: event.event.message.message_id, rootId: event.event.message.message_id });
    expect(reply?.receiveId).toBeUndefined();
    expect(textOf(reply)).toBe('@Tom what is 2+2?');
    expect(fake.messagesIn(fake.p2pChatId()).length).toBe(0);
  });

  it('with fallback_in_groups: false, leaves the group alone when the agent fails, and still apologises in a direct chat', async () => {
    const llm = opened(await startFakeLlm());
    llm.failNext(4, { status: 500 });
    const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', retries: 1, fallback_reply: 'Sorry, try later.', fallback_in_groups: false };
    const { t, fake } = await setup({ profile });
    const group = fake.textEvent('anyone?', { chatType: 'group', mentionBot: true });
    await fake.pushEvent(group).done;
    await t.until(async () => (await t.gateway.store.listMessages({ limit: 1 }))[0]?.status === 'fallback');
    const direct = fake.textEvent('hello?');
    await fake.pushEvent(direct).done;
    await t.until(() => fake.messagesIn(fake.p2pChatId()).length === 1);
    expect(textOf(fake.messagesIn(fake.p2pChatId())[0])).toBe('Sorry, try later.');
    expect(fake.messagesIn(group.event.message.chat_id)).toEqual([]);
    const [, groupMessage] = await t.gateway.store.listMessages({ limit: 2 });
    const detail = await t.gateway.store.getMessage(groupMessage!.id);
    expect(detail).toMatchObject({ status: 'fallback', replies: [] });
    expect(detail!.timeline.find((e) => e.stage === 'fallback')?.detail).toMatch(/HTTP 500.*\(no fallback reply in groups\)$/);
  });

  it('continues a thread in a topic group inside the thread', async () => {
    const { t, fake } = await setup();
    const event = fake.textEvent('in the topic', { chatType: 'topic_group', mentionBot: true, rootId: 'om_root0000000000000000000000000', threadId: 'omt_topic1' });
    await fake.pushEvent(event).done;
    await t.until(() => fake.messagesIn(event.event.message.chat_id).length === 1);
    expect(fake.messagesIn(event.event.message.chat_id)[0]).toMatchObject({ replyTo: event.event.message.message_id, replyInThread: true, threadId: 'omt_topic1' });
  });

  it('acks but does not answer a group message without a mention, a bot sender or another event type', async () => {
    const { t, fake } = await setup();
    const plain = fake.textEvent('people talking among themselves', { chatType: 'group' });
    const botSender = fake.textEvent('from a bot', { chatType: 'group', mentionBot: true });
    (botSender.event.sender as { sender_type: string }).sender_type = 'app';
    const other = { schema: '2.0', header: { ...plain.header, event_id: 'f'.repeat(32), event_type: 'im.chat.member.bot.added_v1' }, event: { chat_id: plain.event.message.chat_id } };
    const garbage = { schema: '2.0', header: { ...plain.header, event_id: 'e'.repeat(32) }, event: { message: { chat_id: 'oc_x' } } };
    const foreign = fake.textEvent('for another app');
    foreign.header.app_id = 'cli_0000000000000000';
    const deliveries = [plain, botSender, other, garbage, foreign].map((e) => fake.pushEvent(e));
    await Promise.all(deliveries.map((d) => d.done));
    expect(deliveries.map((d) => [d.status, d.attempts.length, d.acks[0]?.code])).toEqual(Array(5).fill(['acked', 1, 200]));
    // A message that is answered, to know the pipeline had its chance with the others.
    const probe = fake.textEvent('probe', { chatType: 'group', mentionBot: true });
    await fake.pushEvent(probe).done;
    await t.until(() => fake.messages.length === 1);
    await sleep(200);
    expect(fake.messages.map(textOf)).toEqual(['probe']);
    expect((await t.gateway.store.listMessages({})).map((m) => m.content)).toEqual(['probe']);
    expect(transport(t)?.eventsReceived).toBe(6);
  });

  it('answers every group message with group_policy "all", and none with "off"', async () => {
    const { t, fake } = await setup({ config: { group_policy: 'all' } });
    const event = fake.textEvent('no mention needed', { chatType: 'group' });
    await fake.pushEvent(event).done;
    await t.until(() => fake.messages.length === 1);
    expect(textOf(fake.messages[0])).toBe('no mention needed');
    await t.close();
    await fake.close();

    const off = await setup({ config: { group_policy: 'off' } });
    await off.fake.pushEvent(off.fake.textEvent('even with a mention', { chatType: 'group', mentionBot: true })).done;
    const dm = off.fake.textEvent('direct chats are always answered');
    await off.fake.pushEvent(dm).done;
    await off.t.until(() => off.fake.messages.length === 1);
    await sleep(200);
    expect(off.fake.messages.map(textOf)).toEqual(['direct chats are always answered']);
  });

  it('answers image and file messages with their media kept on the stored message', async () => {
    const { t, fake } = await setup();
    const image = fake.imageEvent();
    const file = fake.fileEvent('report.pdf');
    await fake.pushEvent(image).done;
    await fake.pushEvent(file).done;
    await t.until(() => fake.messages.length === 2);
    expect(fake.messages.map(textOf)).toEqual(['[image]', '[file: report.pdf]']);
    const [stored] = await t.gateway.store.listMessages({ limit: 1 });
    const detail = await t.gateway.store.getMessage(stored!.id);
    expect(JSON.stringify(detail)).toContain('report.pdf');
  });

  it('runs the agent once and replies once when Feishu delivers the same event 4 times, across a gateway restart', async () => {
    const llm = opened(await startFakeLlm());
    const { t: first, fake, root } = await setup({ keep: true, profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' } });
    const event = fake.textEvent('only once, please');
    const chat = event.event.message.chat_id;
    for (let i = 0; i < 3; i++) {
      const d = fake.pushEvent(event);
      await d.done;
      expect(d.status).toBe('acked');
    }
    await first.until(() => fake.messagesIn(chat).length === 1);

    await first.close({ keepWorkspace: true });
    const t = opened(await startTestGateway({ root: root! }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const fourth = fake.pushEvent(event);
    await fourth.done;
    expect(fourth.status).toBe('acked');
    await sleep(500);

    expect(fake.deliveries.filter((d) => d.eventId === event.header.event_id)).toHaveLength(4);
    expect(fake.messagesIn(chat).map(textOf)).toEqual(['reply to: only once, please']);
    expect(llm.requests).toHaveLength(1);
    expect(await t.gateway.store.listMessages({})).toHaveLength(1);
  });

  it('answers 500 messages once each while the socket is dropped 20 times; the status counts the reconnects', async () => {
    // Feishu re-pushes an unacked event for hours; 30 re-pushes 1 s apart stand in for that horizon here.
    const { t, fake } = await setup({ fake: { ackTimeoutMs: 1_000, maxRetries: 30 } });
    const USERS = 50;
    const user = (u: number) => `ou_user${String(u).padStart(27, '0')}`;
    const sent: ReceiveMessageEvent[] = [];
    let dropped = 0;
    let n = 0;
    const push = (count: number) => {
      for (let i = 0; i < count; i++, n++) {
        const event = fake.textEvent(`message ${n}`, { from: user(n % USERS) });
        sent.push(event);
        fake.pushEvent(event);
      }
    };
    for (let round = 0; round < 20; round++) {
      // Drop a live connection while this round's first events are in flight (their acks die with it);
      // the rest are pushed while the gateway reconnects.
      await fake.waitForConnections(1, 15_000);
      push(12);
      await sleep(round % 4);
      dropped += fake.dropConnections();
      push(13);
    }
    expect(dropped).toBe(20);
    await t.until(() => fake.messages.length >= 500, 60_000);
    await sleep(500); // a duplicate would show up here

    expect(fake.messages).toHaveLength(500);
    for (let u = 0; u < USERS; u++) {
      const expected = sent.filter((e) => e.event.sender.sender_id.open_id === user(u)).map((e) => (JSON.parse(e.event.message.content) as { text: string }).text);
      // Every message of the user answered exactly once. (Not necessarily in the order pushed: an event
      // lost with a dropped socket comes again after the ack timeout, behind later ones.)
      expect(fake.messagesIn(fake.p2pChatId(user(u))).map(textOf).sort()).toEqual(expected.sort());
    }
    // Every event was acked in the end: those lost with a socket after a re-push.
    await Promise.all(fake.deliveries.map((d) => d.done));
    const rePushes = fake.deliveries.reduce((k, d) => k + d.attempts.length - 1, 0);
    expect(rePushes).toBeGreaterThan(0);
    const unacked = fake.deliveries.filter((d) => d.status !== 'acked').map((d) => ({ status: d.status, attempts: d.attempts.length, acks: d.acks.map((a) => a.code) }));
    expect(unacked).toEqual([]);
    expect(await t.gateway.store.listMessages({ limit: 500 })).toHaveLength(500);
    expect(fake.maxPerWindow()).toBeLessThanOrEqual(5);

    await fake.waitForConnections(1);
    await t.until(() => transport(t)?.state === 'connected');
    const status = transport(t)!;
    expect(status.reconnects).toBeGreaterThanOrEqual(20);
    // Re-pushed events that had been stored before their socket died came again, and were dropped as duplicates.
    expect(status.eventsReceived).toBeGreaterThanOrEqual(500);
    // The admin API shows it too, with no credential in the answer.
    const res = await t.admin('GET', `/entries/${ENTRY}/status`);
    expect(res.json.transport).toMatchObject({ kind: 'websocket', state: 'connected', reconnects: status.reconnects });
    expect(JSON.stringify(res.json)).not.toContain(fake.appSecret);
  }, 90_000);

  it('notices a socket that stays open but goes silent, and reconnects', async () => {
    const { t, fake } = await setup();
    expect(fake.stallConnections()).toBe(1);
    // Pushed now, it can only arrive over a new connection.
    const event = fake.textEvent('after the silence');
    const delivery = fake.pushEvent(event);
    await t.until(() => (transport(t)?.reconnects ?? 0) >= 1, 15_000);
    await delivery.done;
    await t.until(() => fake.messagesIn(event.event.message.chat_id).length === 1);
    // Our watchdog, not the socket, noticed: nothing came back after a ping for ping_timeout_seconds.
    expect(transport(t)?.lastError?.message).toMatch(/no answer to a ping within 3 s/);
    expect(fake.connections.filter((c) => c.stalled)).toHaveLength(1);
    expect(fake.connections.find((c) => c.stalled)?.open).toBe(false);
  }, 30_000);

  it('shows refused credentials on the entry, and keeps retrying until the platform lets it in', async () => {
    const { t, fake } = await setup();
    // Mid-run: the next discovery answers 514 (as after an App Secret reset).
    fake.failNextEndpoint(514, 1, 'auth failed');
    fake.dropConnections();
    const failed = await t.until(() => {
      const s = t.gateway.keeper.statusOf(ENTRY);
      return s?.state === 'error' ? s : undefined;
    });
    expect(failed.lastError?.message).toMatch(/514.*check app_id and app_secret/);
    // The SceneKeeper restarts the entry with backoff; the next discovery succeeds.
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running', 15_000);
    expect(t.gateway.keeper.statusOf(ENTRY)?.restarts).toBeGreaterThanOrEqual(1);
    const event = fake.textEvent('back again');
    await fake.pushEvent(event).done;
    await t.until(() => fake.messagesIn(event.event.message.chat_id).length === 1);
  }, 30_000);

  it('retries busy and over-the-limit discovery answers, showing the failures on the transport', async () => {
    const { t, fake } = await setup({ config: { reconnect_max_delay_seconds: 1 } });
    fake.failNextEndpoint(1, 2); // system busy
    fake.failNextEndpoint(1000040350, 1); // too many connections: retried, but at the slow pace
    fake.dropConnections();
    let mostFailures = 0;
    await t.until(() => {
      const s = transport(t);
      mostFailures = Math.max(mostFailures, s?.failedAttempts ?? 0);
      return s?.state === 'connected' && s.reconnects === 1;
    }, 15_000);
    expect(mostFailures).toBe(3);
    expect(transport(t)?.lastError?.message).toMatch(/1000040350/);
    expect(t.gateway.keeper.statusOf(ENTRY)).toMatchObject({ state: 'running', restarts: 0 });
    expect(fake.discoveries.map((d) => d.code)).toEqual([0, 1, 1, 1000040350, 0]);
  }, 30_000);

  it('refuses to start with a wrong App Secret, with the reason on the entry', async () => {
    const fake = opened(await FakeFeishu.start());
    const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'echo' }, entries: [{ type: 'channel', channel: 'feishu', config: { ...feishuEntryConfig(fake), app_secret: 'wrong-secret-0123456789' } }] } } }));
    const failed = await t.until(() => {
      const s = t.gateway.keeper.statusOf(ENTRY);
      return s?.state === 'error' ? s : undefined;
    });
    expect(failed.lastError?.message).toMatch(/10014.*check app_id and app_secret/);
    expect(failed.lastError?.message).not.toContain('wrong-secret-0123456789');
    expect(fake.connectionCount).toBe(0);
  });
});

describe('feishu over the webhook', () => {
  it('answers a p2p text message pushed encrypted and signed, with a 200 only after it is stored', async () => {
    const { t, fake, url } = await startWebhookGateway();
    const event = fake.textEvent('hello over the webhook');
    const result = await fake.pushWebhook(url, event);
    expect(result.delivered).toBe(true);
    expect(result.attempts).toHaveLength(1);
    expect(result.attempts[0]?.status).toBe(200);
    // The 200 came after the message was stored.
    expect(await t.gateway.store.listMessages({})).toHaveLength(1);
    await t.until(() => fake.messagesIn(event.event.message.chat_id).length === 1);
    expect(textOf(fake.messagesIn(event.event.message.chat_id)[0])).toBe('hello over the webhook');
    expect(transport(t)).toMatchObject({ kind: 'webhook', state: 'listening', eventsReceived: 1 });
  });

  it('answers the Request URL check with the challenge, encrypted or plain', async () => {
    const { fake, url } = await startWebhookGateway();
    expect(await fake.urlVerification(url)).toMatchObject({ ok: true, status: 200 });
    // With an Encrypt Key Feishu encrypts the check too; a plaintext one is not from Feishu.
    expect(await fake.urlVerification(url, { plaintext: true })).toMatchObject({ ok: false, status: 401 });
    const wrongToken = await fake.urlVerification(url, { verificationToken: 'not-the-token' });
    expect(wrongToken.ok).toBe(false);
  });

  it('answers once when Feishu pushes the same event twice', async () => {
    const { t, fake, url } = await startWebhookGateway();
    const event = fake.textEvent('pushed twice');
    await fake.pushWebhook(url, event);
    await fake.pushWebhook(url, event);
    await t.until(() => fake.messagesIn(event.event.message.chat_id).length === 1);
    await sleep(300);
    expect(fake.messagesIn(event.event.message.chat_id)).toHaveLength(1);
  });

  describe('refuses bad pushes with a 4xx and stores nothing', () => {
    const stamp = () => ({ ts: String(Math.floor(Date.now() / 1000)), nonce: String(Math.random()).slice(2) });
    const signed = (body: string) => {
      const { ts, nonce } = stamp();
      return { 'content-type': 'application/json', 'x-lark-request-timestamp': ts, 'x-lark-request-nonce': nonce, 'x-lark-signature': sign(ts, nonce, ENCRYPT_KEY, body) };
    };
    const encrypted = (payload: unknown) => JSON.stringify({ encrypt: encrypt(ENCRYPT_KEY, JSON.stringify(payload)) });

    it.each([
      ['a forged signature', async (f: FakeFeishu, url: string) => (await f.pushWebhook(url, f.textEvent('forged'), { forgeSignature: true })).attempts[0]!.status, 401],
      ['a wrong verification token', async (f: FakeFeishu, url: string) => (await f.pushWebhook(url, f.textEvent('x'), { verificationToken: 'wrong' })).attempts[0]!.status, 401],
      ['a plaintext push while an Encrypt Key is set', async (f: FakeFeishu, url: string) => (await f.pushWebhook(url, f.textEvent('x'), { plaintext: true })).attempts[0]!.status, 401],
      ['a body encrypted with another key', async (f: FakeFeishu, url: string) => {
        const body = JSON.stringify({ encrypt: encrypt('another-key', JSON.stringify(f.textEvent('x'))) });
        return (await f.rawWebhook(url, body, signed(body))).status;
      }, 400],
      ['an encrypt field that is not base64', async (f: FakeFeishu, url: string) => {
        const body = JSON.stringify({ encrypt: 'this is not base64!' });
        return (await f.rawWebhook(url, body, signed(body))).status;
      }, 400],
      ['a message event missing its chat_id', async (f: FakeFeishu, url: string) => {
        const event = f.textEvent('x') as unknown as { event: { message: Record<string, unknown> } };
        delete event.event.message.chat_id;
        const body = encrypted(event);
        return (await f.rawWebhook(url, body, signed(body))).status;
      }, 400],
      ['an event of another app', async (f: FakeFeishu, url: string) => {
        const event = f.textEvent('x');
        event.header.app_id = 'cli_0000000000000000';
        return (await f.pushWebhook(url, event)).attempts[0]!.status;
      }, 400],
      ['a body that is not JSON', async (f: FakeFeishu, url: string) => (await f.rawWebhook(url, '{"encrypt": ', signed('{"encrypt": '))).status, 400],
      ['a 1 MB body', async (f: FakeFeishu, url: string) => {
        const body = JSON.stringify({ encrypt: 'A'.repeat(1_048_576) });
        return (await f.rawWebhook(url, body, signed(body))).status;
      }, 413],
    ] as const)('%s', async (_name, push, status) => {
      const { t, fake, url } = await startWebhookGateway();
      expect(await push(fake, url)).toBe(status);
      expect(await t.gateway.store.listMessages({})).toEqual([]);
      expect(fake.messages).toEqual([]);
    });
  });
});

describe('feishu outbound limits', () => {
  it('refreshes an expired tenant token mid-run and delivers', async () => {
    const { t, fake } = await setup();
    const first = fake.textEvent('before expiry');
    await fake.pushEvent(first).done;
    await t.until(() => fake.messages.length === 1);
    const issued = fake.counters.tokensIssued;
    // Two hours on at the platform: the token the gateway holds is expired there (99991663).
    fake.advanceTime(7_300);
    const second = fake.textEvent('after expiry');
    await fake.pushEvent(second).done;
    await t.until(() => fake.messages.length === 2);
    expect(fake.messages.map(textOf)).toEqual(['before expiry', 'after expiry']);
    expect(fake.counters.tokensIssued).toBe(issued + 1);
    expect(fake.calls.filter((c) => c.code === 99991663)).toHaveLength(1);

    // A revoked token the same way.
    fake.invalidateTokens();
    const third = fake.textEvent('after revocation');
    await fake.pushEvent(third).done;
    await t.until(() => fake.messages.length === 3);
    expect(fake.counters.tokensIssued).toBe(issued + 2);
  });

  it('delivers every reply through a 429 storm, never more than 5 per second into a chat', async () => {
    // The fake's own limit is lifted: what keeps the chat at 5 per second is the channel's pacing.
    const { t, fake } = await setup({ fake: { chatRateLimit: { count: 1_000, windowMs: 1_000 } } });
    fake.rateLimitStorm(6, 1);
    const events = Array.from({ length: 10 }, (_, i) => fake.textEvent(`storm ${i}`, { chatType: 'group', mentionBot: true }));
    for (const e of events) fake.pushEvent(e);
    const group = events[0]!.event.message.chat_id;
    await t.until(() => fake.messagesIn(group).length === 10, 30_000);
    expect(fake.messagesIn(group).map(textOf)).toEqual(events.map((_, i) => `storm ${i}`));
    expect(fake.counters.rateLimited).toBe(6);
    expect(fake.maxPerWindow(group)).toBeLessThanOrEqual(5);
    expect((await t.admin('GET', '/dead-letters?kind=outbound')).json.deadLetters).toEqual([]);
  }, 40_000);

  it('keeps a busy chat under the real limit without being refused', async () => {
    const { t, fake } = await setup();
    const events = Array.from({ length: 20 }, (_, i) => fake.textEvent(`busy ${i}`));
    for (const e of events) fake.pushEvent(e);
    const chat = events[0]!.event.message.chat_id;
    await t.until(() => fake.messagesIn(chat).length === 20, 30_000);
    expect(fake.counters.rateLimited).toBe(0);
    expect(fake.maxPerWindow(chat)).toBeLessThanOrEqual(5);
  }, 40_000);

  it('sends a long markdown reply as cards under the 30 KB limit, in order, without breaking its code block', async () => {
    const code = Array.from({ length: 1_200 }, (_, i) => `const line${i} = "${'x'.repeat(20)}";`).join('\n');
    const markdown = `## Result\n\nHere is the code:\n\n\`\`\`ts\n${code}\n\`\`\`\n\nDone.`;
    const llm = opened(await startFakeLlm({ reply: () => markdown }));
    const { t, fake } = await setup({ profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' } });
    const event = fake.textEvent('show me the code');
    await fake.pushEvent(event).done;
    const chat = event.event.message.chat_id;
    await t.until(() => fake.messagesIn(chat).some((m) => JSON.stringify(m.content).includes('Done.')), 20_000);
    const cards = fake.messagesIn(chat);
    expect(cards.length).toBeGreaterThanOrEqual(2);
    expect(cards.every((m) => m.msgType === 'interactive' && Buffer.byteLength(m.rawContent) < 30_000)).toBe(true);
    expect(new Set(cards.map((m) => m.uuid)).size).toBe(cards.length);
    const parts = cards.map((m) => (m.content as { body: { elements: { content: string }[] } }).body.elements[0]!.content);
    // Every card's fences balance: a block cut at the limit is closed and reopened with its language.
    for (const part of parts) expect((part.match(/^```/gm) ?? []).length % 2).toBe(0);
    expect(parts[1]).toMatch(/^```ts\n/);
    const lines = parts.join('\n').split('\n').filter((l) => l.startsWith('const line'));
    expect(lines).toEqual(code.split('\n'));
  }, 30_000);

  it('sends a reply with twelve tables as three cards of at most five, which Feishu takes, in order', async () => {
    const section = (i: number) => `## Region ${i}\n\n| Month | Sales |\n|---|---:|\n| Jan | ${i}00 |`;
    const report = `${Array.from({ length: 12 }, (_, i) => section(i + 1)).join('\n\n')}\n\nThat is all.`;
    const llm = opened(await startFakeLlm({ reply: () => report }));
    const { t, fake } = await setup({ profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' } });
    const event = fake.textEvent('sales by region');
    await fake.pushEvent(event).done;
    const chat = event.event.message.chat_id;
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.messagesOut === 1, 20_000);
    const cards = fake.messagesIn(chat);
    expect(cards.map((m) => m.msgType)).toEqual(['interactive', 'interactive', 'interactive']);
    expect(cards.map((m) => tablesIn(m.content as Record<string, unknown>))).toEqual([5, 5, 2]);
    const shown = cards.map((m) => (m.content as { body: { elements: { content: string }[] } }).body.elements[0]!.content).join('\n\n');
    expect(shown).toBe(report);
    // No send was refused on the way (Feishu answers 230099 to a sixth table).
    expect(fake.calls.filter((c) => c.code !== 0)).toEqual([]);
  }, 30_000);

  it('sends a card Feishu refuses for its content as plain text: the words arrive, with a warning', async () => {
    const markdown = '**Total**: 42 orders\n\n- shipped: 40\n- waiting: 2';
    const llm = opened(await startFakeLlm({ reply: () => markdown }));
    const log = captureLogger();
    const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000 }));
    const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' };
    const t = opened(
      await startTestGateway({ agents: { bot: { profile, entries: [{ type: 'channel', channel: 'feishu', config: feishuEntryConfig(fake) }] } } }, { log: log.log }),
    );
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    // A rule of Feishu's card renderer we did not foresee.
    fake.failNextSends(1, { code: 230099, msg: 'Failed to create card content, ext=ErrCode: 11246; ErrMsg: element exceeds the limit; ' });
    const event = fake.textEvent('how many orders?');
    await fake.pushEvent(event).done;
    const chat = event.event.message.chat_id;
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.messagesOut === 1, 20_000);
    const [reply, ...more] = fake.messagesIn(chat);
    expect(more).toEqual([]);
    expect(reply?.msgType).toBe('text');
    expect(textOf(reply)).toBe('Total: 42 orders\n\n• shipped: 40\n• waiting: 2');
    expect(fake.calls.map((c) => c.code)).toEqual([230099, 0]);
    expect(log.lines.some((l) => l.level === 40 && /refused a reply card for its content/.test(String(l.msg)) && /11246/.test(JSON.stringify(l)))).toBe(true);
    const dead = await t.admin('GET', '/dead-letters?kind=outbound');
    expect(dead.json.deadLetters).toEqual([]);
  }, 30_000);

  it('dead-letters a reply Feishu refuses for good (230002 bot not in the chat)', async () => {
    const { t, fake } = await setup();
    fake.failNextSends(1, { code: 230002 });
    await fake.pushEvent(fake.textEvent('nobody hears this', { chatType: 'group', mentionBot: true })).done;
    const dead = await t.until(async () => {
      const res = await t.admin('GET', '/dead-letters?kind=outbound');
      return res.json.deadLetters.length > 0 ? res.json.deadLetters : undefined;
    });
    expect(dead[0].error).toMatch(/230002.*not in this chat/);
    expect(fake.messages).toEqual([]);
  });
});

/** Webhook-mode gateway whose entry carries the fake's verification token; listening, so the fake can POST. */
async function startWebhookGateway() {
  const fake = opened(await FakeFeishu.start({ encryptKey: ENCRYPT_KEY, webhookRetrySchedule: [] }));
  const config = feishuEntryConfig(fake, ENCRYPT_KEY);
  const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'echo' }, entries: [{ type: 'channel', channel: 'feishu', config }] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  return { t, fake, url: `${address}/webhooks/feishu/${ENTRY}` };
}

describe('feishu secrets', () => {
  it('keeps the App Secret, tenant tokens and connection tickets out of every log line, even at trace level', async () => {
    const capture = captureLogger('trace');
    const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 500 }));
    const t = opened(await startTestGateway(
      { agents: { bot: { profile: { provider: 'echo' }, entries: [{ type: 'channel', channel: 'feishu', config: feishuEntryConfig(fake) }] } } },
      { log: capture.log },
    ));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const f = fake;
    // The error paths log the most: a revoked token, a rate limit, a refused send, a dropped socket.
    f.invalidateTokens();
    f.rateLimitStorm(1, 1);
    await f.pushEvent(f.textEvent('one')).done;
    await t.until(() => f.messages.length === 1);
    f.failNextSends(1, { code: 230001 });
    await f.pushEvent(f.textEvent('two', { chatType: 'group', mentionBot: true })).done;
    f.dropConnections();
    await t.until(() => (transport(t)?.reconnects ?? 0) >= 1);
    await f.pushEvent(f.textEvent('three')).done;
    await t.until(() => f.messages.length === 2);

    const log = capture.raw();
    expect(log).toMatch(/feishu long connection lost/);
    expect(log).toMatch(/rate limit/);
    expect(log).not.toContain(f.appSecret);
    expect(log).not.toMatch(/t-g[0-9a-f]{40}/); // tenant tokens
    expect(log).not.toMatch(/(access_key|ticket)=[0-9a-f]/); // the long connection URL's credentials
    const status = await t.admin('GET', `/entries/${ENTRY}/status`);
    expect(JSON.stringify(status.json)).not.toContain(f.appSecret);
  });
});
