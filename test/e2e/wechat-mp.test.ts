import { afterEach, describe, expect, it } from 'vitest';
import { signature } from '../../src/channels/shared/tencent-crypto.js';
import { ManualClock } from '../../src/core/clock.js';
import { startFakeWechatMp, type FakeWechatMp } from '../fakes/wechat-mp/server.js';
import { startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { startTestGateway, timeFrom, type TestGateway } from '../helpers/gateway.js';
import { removeWorkspace } from '../helpers/workspace.js';
import { dropSchemas } from '../helpers/postgres.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import type { Store } from '../../src/store/store.js';

const APP = { appId: 'wx0123456789abcdef', appSecret: 'app-secret-0123456789', token: 'tok3n', encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR' };
const ENTRY = 'bot.wechat_mp';

let t: TestGateway | undefined;
let fake: FakeWechatMp | undefined;
let llm: FakeLlm | undefined;
afterEach(async () => {
  await t?.close();
  await fake?.close();
  await llm?.close();
  t = fake = llm = undefined;
});

async function setup(
  mode: 'plain' | 'compatible' | 'safe',
  profile: Record<string, unknown> = { provider: 'echo' },
  extra: { config?: Record<string, unknown>; retryWaitMs?: number; customerService?: boolean; clock?: ManualClock; store?: Store } = {},
) {
  fake = await startFakeWechatMp({ ...APP, mode, retryWaitMs: extra.retryWaitMs ?? 1_000, permissions: { customerService: extra.customerService ?? true } });
  const entry = {
    type: 'channel',
    channel: 'wechat_mp',
    config: {
      app_id: APP.appId,
      app_secret: APP.appSecret,
      token: APP.token,
      encoding_aes_key: APP.encodingAesKey,
      mode,
      api_base_url: fake.url,
      reply_mode: 'customer_service',
      ...extra.config,
    },
  };
  // A given ManualClock sets the gateway's time (timers stay real): retry times are read from the store, not slept through.
  const clock = extra.clock && timeFrom(() => extra.clock!.now());
  t = await startTestGateway({ agents: { bot: { profile, entries: [entry] } } }, { ...(clock ? { clock } : {}), ...(extra.store ? { store: extra.store } : {}) });
  await t.until(() => t!.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  fake.gatewayUrl = `${address}/webhooks/wechat_mp/${ENTRY}`;
  return { t, fake };
}

describe('wechat_mp round trip', () => {
  it.each(['plain', 'compatible', 'safe'] as const)('answers a text message in %s mode through the 客服 API', async (mode) => {
    const { t, fake } = await setup(mode);
    const result = await fake.push('oAlice', { type: 'text', content: `hello in ${mode}` });
    expect(result.attempts).toHaveLength(1);
    expect(result.attempts[0]).toMatchObject({ status: 200, body: 'success', timedOut: false });
    await t.until(() => fake.received('oAlice').length === 1);
    expect(fake.received('oAlice')).toEqual([`hello in ${mode}`]);
    // The fake records the send before the gateway has read its answer and counted it.
    await t.until(() => t!.gateway.keeper.statusOf(ENTRY)?.messagesOut === 1);
    expect(t.gateway.keeper.statusOf(ENTRY)).toMatchObject({ messagesIn: 1, messagesOut: 1 });
  });

  it('answers the console URL verification with the echostr', async () => {
    const { fake } = await setup('safe');
    expect(await fake.verifyUrl('echo-123')).toEqual({ status: 200, body: 'echo-123' });
  });

  it('runs the agent once and answers once when WeChat delivers the same MsgId three times', async () => {
    llm = await startFakeLlm();
    const { t, fake } = await setup('safe', { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' });
    for (let i = 0; i < 3; i++) await fake.push('oBob', { type: 'text', content: 'once please' }, { msgId: '6700000000000000001' });
    await t.until(() => fake.received('oBob').length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.received('oBob')).toEqual(['reply to: once please']);
    expect(llm.requests).toHaveLength(1);
  });

  it('splits a long reply into ordered chunks of at most 2048 bytes', async () => {
    const { t, fake } = await setup('plain');
    const sentence = '这是一个很长的回答，用来测试分段发送。';
    const long = Array.from({ length: 90 }, (_, i) => `${i}${sentence}`).join('');
    expect(Buffer.byteLength(long)).toBeGreaterThan(5_000);
    await fake.push('oCarol', { type: 'text', content: long });
    await t.until(() => fake.received('oCarol').join('').length >= long.length - 10);
    const chunks = fake.received('oCarol');
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    expect(chunks.every((c) => Buffer.byteLength(c) <= 2048)).toBe(true);
    expect(chunks.join('')).toBe(long);
  });
});

describe('wechat_mp typing', () => {
  it('shows 对方正在输入 while the agent thinks and cancels it when the answer is there', async () => {
    llm = await startFakeLlm({ delayMs: 1_500 });
    const { t, fake } = await setup('plain', { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' });
    await fake.push('oTyper', { type: 'text', content: 'a hard question' });
    await t.until(() => fake!.typing.length >= 1);
    expect(fake.typing[0]).toMatchObject({ touser: 'oTyper', command: 'Typing', errcode: 0 });
    expect(fake.received('oTyper')).toHaveLength(0); // still thinking
    await t.until(() => fake!.received('oTyper').length === 1 && fake!.typing.length === 2);
    expect(fake.typing[1]).toMatchObject({ touser: 'oTyper', command: 'CancelTyping', errcode: 0 });
  });

  it('shows none with show_typing off', async () => {
    llm = await startFakeLlm({ delayMs: 300 });
    const { t, fake } = await setup('plain', { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' }, { config: { show_typing: false } });
    await fake.push('oQuiet', { type: 'text', content: 'hush' });
    await t.until(() => fake!.received('oQuiet').length === 1);
    expect(fake.typing).toHaveLength(0);
  });
});

describe('wechat_mp platform limits', () => {
  it('refreshes an expired access token and delivers', async () => {
    const { t, fake } = await setup('plain');
    await fake.push('oDan', { type: 'text', content: 'first' });
    await t.until(() => fake.received('oDan').length === 1);
    const issued = fake.counters.tokensIssued;
    fake.invalidateTokens();
    await fake.push('oDan', { type: 'text', content: 'second' });
    await t.until(() => fake.received('oDan').length === 2);
    expect(fake.received('oDan')).toEqual(['first', 'second']);
    expect(fake.counters.tokensIssued).toBe(issued + 1);
  });

  it('dead-letters a reply WeChat refuses for good (45047) with the reason in the admin API', async () => {
    const { t, fake } = await setup('plain');
    fake.failNextSends(1, 45047);
    await fake.push('oEve', { type: 'text', content: 'too many' });
    const dead = await t.until(async () => {
      const res = await t.admin('GET', '/dead-letters?kind=outbound');
      return res.json.deadLetters.length > 0 ? res.json.deadLetters : undefined;
    });
    expect(dead[0]).toMatchObject({ kind: 'outbound', entryKey: ENTRY, userId: 'oEve' });
    expect(dead[0].error).toMatch(/45047/);
    expect(fake.received('oEve')).toEqual([]);
  });

  it('backs off longer after 45009 (quota) than after -1 (busy), delivers the reply once and holds up no one else', async () => {
    // The gateway's time stands still unless the test moves it, so a retry happens only when it is due.
    const clock = new ManualClock(Date.now());
    const { t, fake } = await setup('plain', { provider: 'echo' }, { clock });
    fake.failNextSends(1, -1);
    fake.failNextSends(1, 45009);
    await fake.push('oFred', { type: 'text', content: 'busy platform' });
    const replyOf = async () => {
      const [message] = await t.gateway.store.listMessages({ userId: 'oFred' });
      return message && (await t.gateway.store.getMessage(message.id))?.replies[0];
    };
    const failedWith = (errcode: number) => async () => {
      const reply = await replyOf();
      return reply?.lastError?.includes(`wechat_mp: ${errcode} `) ? reply : undefined;
    };

    // -1 (system busy): retried on the outbox's own short backoff.
    const busy = await t.until(failedWith(-1));
    const busyAt = clock.now();
    expect(busy).toMatchObject({ status: 'pending', attempts: 1 });
    const busyDelay = busy.availableAt - busyAt;
    expect(busyDelay).toBeGreaterThan(0);
    expect(busyDelay).toBeLessThanOrEqual(1_000);
    expect(fake.received('oFred')).toEqual([]);

    // Due: the retry meets 45009 (API frequency quota) and waits the platform's minute.
    await clock.advance(busyDelay);
    const quota = await t.until(failedWith(45009));
    expect(quota).toMatchObject({ status: 'pending', attempts: 2 });
    const quotaDelay = quota.availableAt - clock.now();
    expect(quotaDelay).toBe(60_000);
    expect(quotaDelay).toBeGreaterThan(busyDelay);
    expect(fake.sends.filter((s) => s.touser === 'oFred').map((s) => s.errcode)).toEqual([-1, 45009]);

    // Meanwhile another user's message is answered at once, while oFred's reply waits.
    await fake.push('oGina', { type: 'text', content: 'not held up' });
    await t.until(() => fake.received('oGina').length === 1);
    expect(fake.received('oFred')).toEqual([]);

    // A second short of the minute it is still waiting; once the minute is up it goes out, once.
    await clock.advance(quotaDelay - 1_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.sends.filter((s) => s.touser === 'oFred')).toHaveLength(2);
    await clock.advance(1_000);
    await t.until(async () => (await replyOf())?.status === 'sent');
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would show up here
    expect(fake.received('oFred')).toEqual(['busy platform']);
    expect(fake.received('oGina')).toEqual(['not held up']);
    expect(fake.sends.filter((s) => s.touser === 'oFred').map((s) => s.errcode)).toEqual([-1, 45009, 0]);
    expect(fake.sends.filter((s) => s.touser === 'oGina').map((s) => s.errcode)).toEqual([0]);
    expect(await t.admin('GET', '/dead-letters')).toMatchObject({ json: { deadLetters: [] } });
  });
});

describe('wechat_mp refuses bad requests and stores nothing', () => {
  const now = () => String(Math.floor(Date.now() / 1000));
  const xml = (content: string) =>
    `<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[oMallory]]></FromUserName><CreateTime>${now()}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content><MsgId>123</MsgId></xml>`;
  const signed = (timestamp = now(), nonce = '12345') => ({ signature: signature(APP.token, timestamp, nonce), timestamp, nonce, openid: 'oMallory' });

  it.each([
    ['a forged signature', () => fake!.rawPost(xml('x'), { ...signed(), signature: 'f'.repeat(40) }), 401],
    ['a stale timestamp', () => fake!.rawPost(xml('x'), signed(String(Number(now()) - 3_600))), 401],
    ['malformed XML', () => fake!.rawPost('<xml><Content>oops</xml>', signed()), 400],
    ['a DTD with entities', () => fake!.rawPost('<!DOCTYPE x [<!ENTITY a "b">]><xml><Content>&a;</Content></xml>', signed()), 400],
    ['a 1 MB body', () => fake!.rawPost(`<xml><Content>${'x'.repeat(1_048_576)}</Content></xml>`, signed()), 413],
    ['a missing MsgId', () => fake!.rawPost(xml('x').replace('<MsgId>123</MsgId>', ''), signed()), 400],
  ] as const)('%s', async (_name, send, status) => {
    const { t } = await setup('plain');
    const res = await send();
    expect(res.status).toBe(status);
    expect(await t.gateway.store.listMessages({})).toEqual([]);
  });

  it('refuses a plain request in safe mode and a message encrypted for another AppID', async () => {
    const { t, fake } = await setup('safe');
    expect((await fake.rawPost(xml('x'), signed())).status).toBe(401);
    const result = await fake.push('oMallory', { type: 'text', content: 'x' }, { tamper: 'appid' });
    expect(result.attempts.every((a) => a.status === 400)).toBe(true);
    expect(await t.gateway.store.listMessages({})).toEqual([]);
  });
});

describe('wechat_mp passive and auto reply modes', () => {
  it('auto: a reply ready within the wait goes back in the HTTP response, encrypted in safe mode', async () => {
    const { fake } = await setup('safe', { provider: 'echo' }, { config: { reply_mode: 'auto' } });
    const result = await fake.push('oFay', { type: 'text', content: 'quick one' });
    expect(result.attempts).toHaveLength(1);
    expect(result.reply).toMatchObject({ encrypted: true, xml: { MsgType: 'text', Content: 'quick one', ToUserName: 'oFay' } });
    expect(result.replyError).toBeUndefined();
    expect(fake.sends).toHaveLength(0);
  });

  it('auto: a slow reply is acknowledged at once and sent as exactly one 客服 message', async () => {
    llm = await startFakeLlm({ delayMs: 1_200 });
    const { t, fake } = await setup('plain', { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' }, { config: { reply_mode: 'auto', passive_wait_ms: 300 } });
    const result = await fake.push('oGus', { type: 'text', content: 'slow one' });
    expect(result.attempts.map((a) => [a.status, a.body])).toEqual([[200, 'success']]);
    await t.until(() => fake.received('oGus').length === 1, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.received('oGus')).toEqual(['reply to: slow one']);
  });

  it('passive: answers WeChat\'s last try with the thinking text, then hands the stored reply out on the next message', async () => {
    llm = await startFakeLlm({ delayMs: 1_500 });
    const { t, fake } = await setup(
      'safe',
      { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' },
      { config: { reply_mode: 'passive', passive_wait_ms: 250, thinking_text: '稍等，正在思考' }, retryWaitMs: 400, customerService: false },
    );
    const first = await fake.push('oHan', { type: 'text', content: 'hard question' });
    expect(first.attempts.map((a) => a.timedOut)).toEqual([true, true, false]);
    expect(first.reply?.xml.Content).toBe('稍等，正在思考');
    await t.until(async () => (await t.gateway.store.listMessages({ status: 'done' })).length === 1, 10_000);
    await t.until(async () => (await t.gateway.store.getMessage('1'))?.replies[0]?.status === 'sent', 10_000);

    llm.delayMs = 0;
    const next = await fake.push('oHan', { type: 'text', content: 'well?' });
    expect(next.attempts).toHaveLength(1);
    // The stored reply comes first; the new message's own reply joins it when it is ready in time.
    expect(next.reply?.xml.Content).toMatch(/^reply to: hard question/);
    expect(fake.sends).toHaveLength(0);
    expect(llm.requests).toHaveLength(2);
  });

  it('auto: after a 48001 the account answers passively, and the reply waits for the next message', async () => {
    llm = await startFakeLlm({ delayMs: 800 });
    const { t, fake } = await setup(
      'plain',
      { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' },
      { config: { reply_mode: 'auto', passive_wait_ms: 200 }, customerService: false },
    );
    const first = await fake.push('oIda', { type: 'text', content: 'q1' });
    expect(first.attempts.map((a) => a.body)).toEqual(['success']);
    await t.until(() => fake.sends.some((s) => s.errcode === 48001), 10_000);
    await t.until(async () => (await t.gateway.store.getMessage('1'))?.replies[0]?.status === 'sent', 10_000);
    llm.delayMs = 0;
    const second = await fake.push('oIda', { type: 'text', content: 'q2' });
    expect(second.reply?.xml.Content).toMatch(/^reply to: q1/);
    expect(await t.admin('GET', '/dead-letters')).toMatchObject({ json: { deadLetters: [] } });
  });

  it('passive: a message finished without a reply (handed to a person, a blocked sender) gets "success" at once, never the thinking text', async () => {
    // WeChat gives up on a try after 400 ms, long before the gateway would stop holding it (3 s).
    const { t, fake } = await setup(
      'safe',
      { provider: 'echo', access: { block_users: ['oSpam'] } },
      { config: { reply_mode: 'passive', passive_wait_ms: 3_000, thinking_text: '稍等，正在思考' }, retryWaitMs: 400, customerService: false },
    );
    await t.admin('PUT', `/entries/${ENTRY}/handoffs/oKim`, { minutes: 30 });
    const first = await fake.push('oKim', { type: 'text', content: 'a person, please' });
    expect(first.attempts.map((a) => [a.status, a.body, a.timedOut])).toEqual([[200, 'success', false]]);
    expect(first.reply).toBeUndefined();
    const blocked = await fake.push('oSpam', { type: 'text', content: 'buy now' });
    expect(blocked.attempts.map((a) => [a.body, a.timedOut])).toEqual([['success', false]]);

    // The operator's reply waits for oKim's next message, which hands it out passively.
    const [asked] = await t.gateway.store.listMessages({ userId: 'oKim', limit: 1 });
    expect((await t.admin('POST', `/messages/${asked!.id}/reply`, { text: 'Kim here, how can I help?' })).status).toBe(202);
    await t.until(async () => (await t.gateway.store.getMessage(asked!.id))?.replies[0]?.status === 'sent', 10_000);
    const next = await fake.push('oKim', { type: 'text', content: 'my order is late' });
    expect(next.attempts).toHaveLength(1);
    expect(next.reply?.xml.Content).toBe('Kim here, how can I help?');
  });

  it('passive: a pending reply survives a gateway restart', async () => {
    // Slower than WeChat's three tries (3 × 250 ms): the last try gets the thinking text.
    llm = await startFakeLlm({ delayMs: 1_500 });
    const { t, fake } = await setup(
      'plain',
      { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' },
      { config: { reply_mode: 'passive', passive_wait_ms: 150 }, retryWaitMs: 250 },
    );
    const first = await fake.push('oJon', { type: 'text', content: 'remember me' });
    expect(first.reply?.xml.Content).toMatch(/正在思考中/);
    await t.until(async () => (await t.gateway.store.getMessage('1'))?.replies[0]?.status === 'sent', 10_000);
    const root = t.root;
    await t.close({ keepWorkspace: true });
    t.close = async () => removeWorkspace(root); // already closed; afterEach removes the workspace both gateways ran on
    const restarted = await startTestGateway({ root });
    try {
      await restarted.until(() => restarted.gateway.keeper.statusOf(ENTRY)?.state === 'running');
      const address = await restarted.app.listen({ port: 0, host: '127.0.0.1' });
      fake.gatewayUrl = `${address}/webhooks/wechat_mp/${ENTRY}`;
      llm.delayMs = 0;
      const next = await fake.push('oJon', { type: 'text', content: 'and now?' });
      expect(next.reply?.xml.Content).toMatch(/^reply to: remember me/);
    } finally {
      await restarted.close();
    }
  });
});

describe('wechat_mp passive replies with several gateway processes (PostgreSQL)', () => {
  const PG_URL = process.env.COCOCAT_TEST_PG_URL;
  const openai = () => ({ provider: 'openai', model: 'm', base_url: llm!.url, api_key: 'k' });

  /** A second gateway on the same workspace and PostgreSQL schema (its own pool), serving the same entry. */
  async function secondGateway(schema: string, clock?: ManualClock) {
    const store = await openPostgresStore({ url: PG_URL!, schema });
    const other = await startTestGateway({ root: t!.root }, { store, ...(clock ? { clock: timeFrom(() => clock.now()) } : {}) });
    await other.until(() => other.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const address = await other.app.listen({ port: 0, host: '127.0.0.1' });
    return { other, url: `${address}/webhooks/wechat_mp/${ENTRY}` };
  }

  async function withSchema(name: string, body: (schema: string) => Promise<void>) {
    const schema = `cc_${name}_${process.pid}_${Date.now().toString(36)}`;
    try {
      await body(schema);
    } finally {
      await t?.close();
      t = undefined;
      await dropSchemas(PG_URL!, [schema]);
    }
  }

  it.skipIf(!PG_URL)('knows WeChat\'s last try when its tries reach different processes, and answers it with the thinking text', async () => {
    await withSchema('mpx', async (schema) => {
      llm = await startFakeLlm({ delayMs: 2_500 });
      const clock = new ManualClock(Date.now()); // requests are signed with the wall clock's time
      const { t, fake } = await setup('safe', openai(), {
        config: { reply_mode: 'passive', passive_wait_ms: 250, thinking_text: '稍等，正在思考' },
        retryWaitMs: 400,
        customerService: false,
        clock,
        store: await openPostgresStore({ url: PG_URL!, schema }),
      });
      const { other, url } = await secondGateway(schema, clock);
      try {
        // Tries 1 and 3 reach this process, try 2 the other: here the last try is only the second one seen.
        const first = await fake.push('oHan', { type: 'text', content: 'hard question' }, {
          tryUrls: [fake.gatewayUrl!, url, fake.gatewayUrl!],
          beforeTry: (i) => i > 0 && clock.advance(5_000), // WeChat's tries come 5 s apart
        });
        expect(first.attempts.map((a) => a.timedOut)).toEqual([true, true, false]);
        expect(first.reply?.xml.Content).toBe('稍等，正在思考');
        const [message] = await t.until(async () => {
          const done = await t.gateway.store.listMessages({ status: 'done' });
          return done.length === 1 && (await t.gateway.store.getMessage(done[0]!.id))?.replies[0]?.status === 'sent' ? done : undefined;
        }, 10_000);
        expect(message?.content).toBe('hard question');

        llm!.delayMs = 0;
        const next = await fake.push('oHan', { type: 'text', content: 'well?' }, { tryUrls: [url] });
        expect(next.attempts).toHaveLength(1);
        expect(next.reply?.xml.Content).toMatch(/^reply to: hard question/);
        expect(llm!.requests).toHaveLength(2); // one agent run per message across both processes
      } finally {
        await other.close();
      }
    });
  });

  it.skipIf(!PG_URL)('hands out a reply the other process stored while this one holds WeChat\'s request', async () => {
    await withSchema('mpy', async (schema) => {
      llm = await startFakeLlm({ delayMs: 8_000 }); // the agents' own answer comes far too late for this test
      const { t, fake } = await setup('plain', openai(), {
        config: { reply_mode: 'passive', passive_wait_ms: 4_000 },
        retryWaitMs: 2_000,
        store: await openPostgresStore({ url: PG_URL!, schema }),
      });
      const { other } = await secondGateway(schema);
      try {
        const pushing = fake.push('oIvy', { type: 'text', content: 'who answers?' });
        const [message] = await t.until(async () => {
          const all = await t.gateway.store.listMessages();
          return all.length > 0 ? all : undefined;
        });
        // What the other process's outbox does with a passive reply: store it in the shared feed.
        await other.gateway.keeper.channel(ENTRY)!.send({ text: 'from the other process', format: 'text' }, 'oIvy', {
          conversationId: 'oIvy', isGroup: false, inReplyTo: 'its MsgId', messageId: message!.id,
          idempotencyKey: `${message!.id}:0`, chunk: { index: 0, count: 1 },
        });
        const first = await pushing;
        // Found while WeChat's first try was still held (it hangs up after 2 s; the hold was 4 s).
        expect(first.attempts.map((a) => a.timedOut)).toEqual([false]);
        expect(first.reply?.xml.Content).toBe('from the other process');
      } finally {
        await other.close();
      }
    });
  });
});

describe('wechat_mp 客服 quota', () => {
  const paragraph = (i: number) => `${i}. ${'段落内容，'.repeat(120)}`;
  const long = Array.from({ length: 12 }, (_, i) => paragraph(i)).join('\n\n');
  const deadLetters = async (tg: TestGateway, count: number) =>
    tg.until(async () => {
      const res = await tg.admin('GET', '/dead-letters?kind=outbound');
      return res.json.deadLetters.length >= count ? (res.json.deadLetters as Array<{ error: string }>) : undefined;
    });

  it('sends 5 messages for one user message and dead-letters the 6th without calling WeChat', async () => {
    const { t, fake } = await setup('plain');
    await fake.push('oKim', { type: 'text', content: long });
    const dead = await deadLetters(t, 1);
    expect(fake.received('oKim')).toHaveLength(5);
    expect(fake.sends.filter((s) => s.touser === 'oKim')).toHaveLength(5); // the rest were never attempted
    expect(dead[0]!.error).toMatch(/45047 over the customer-service quota/);
  });

  // With other processes on the store, this one's count is partial: WeChat's own answer decides.
  const PG_URL = process.env.COCOCAT_TEST_PG_URL;
  it.skipIf(!PG_URL)('leaves the count to WeChat when other gateway processes share the store (PostgreSQL)', async () => {
    const schema = `cc_mpq_${process.pid}_${Date.now().toString(36)}`;
    try {
      const { t, fake } = await setup('plain', { provider: 'echo' }, { store: await openPostgresStore({ url: PG_URL!, schema }) });
      await fake.push('oKim', { type: 'text', content: long });
      const dead = await deadLetters(t, 7);
      expect(fake.received('oKim')).toHaveLength(5);
      // Every chunk went to WeChat; the 7 it refused are dead letters with WeChat's own reason.
      expect(fake.sends.filter((s) => s.touser === 'oKim').map((s) => s.errcode)).toEqual([0, 0, 0, 0, 0, 45047, 45047, 45047, 45047, 45047, 45047, 45047]);
      expect(dead).toHaveLength(7);
      expect(dead.every((d) => /wechat_mp: 45047 /.test(d.error) && !d.error.includes('(not sent)'))).toBe(true);
    } finally {
      await t?.close();
      t = undefined;
      await dropSchemas(PG_URL!, [schema]);
    }
  });
});

describe('wechat_mp events', () => {
  it('welcomes a new follower once, also when WeChat redelivers the event, and does not pass the event to the agent', async () => {
    const { t, fake } = await setup('safe', { provider: 'echo' }, { config: { welcome_text: '欢迎关注！' } });
    const createTime = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 3; i++) {
      const result = await fake.push('oNew', { type: 'event', event: 'subscribe' }, { createTime });
      expect(result.attempts.map((a) => a.body)).toEqual(['success']);
    }
    await t.until(() => fake.received('oNew').length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.received('oNew')).toEqual(['欢迎关注！']);
    expect(await t.gateway.store.listMessages({})).toEqual([]);
  });
});
