import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { FakeWecom, appMessageXml, wecomMessage, type FakeWecomOptions } from '../fakes/wecom/index.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway, timeFrom } from '../helpers/gateway.js';

const ENTRY = 'bot.wecom';

const opened = closeAfterEach();

async function setup(
  opts: { profile?: Record<string, unknown>; config?: Record<string, unknown>; fake?: FakeWecomOptions; clock?: (fake: FakeWecom) => Clock } = {},
) {
  const fake = opened(await FakeWecom.start({ retryWaitMs: 1_000, ...opts.fake }));
  const entry = {
    type: 'channel',
    channel: 'wecom',
    config: {
      corp_id: fake.corpId,
      agent_id: fake.agentId,
      secret: fake.corpSecret,
      token: fake.token,
      encoding_aes_key: fake.encodingAesKey,
      api_base_url: fake.url,
      ...opts.config,
    },
  };
  const t = opened(await startTestGateway({ agents: { bot: { profile: opts.profile ?? { provider: 'echo' }, entries: [entry] } } }, opts.clock ? { clock: opts.clock(fake) } : {}));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  fake.gatewayUrl = `${address}/webhooks/wecom/${ENTRY}`;
  return { t, fake };
}

const texts = (f: FakeWecom, user: string) => f.delivered(user).map((d) => d.content);

describe('wecom round trip', () => {
  it('answers the URL verification with the decrypted echostr, and refuses a forged one', async () => {
    const { fake } = await setup();
    const ok = await fake.verifyUrl();
    expect(ok).toMatchObject({ ok: true, status: 200, timedOut: false });
    expect(ok.body).toBe(ok.echostr);
    expect((await fake.verifyUrl(undefined, { tamper: 'msg_signature' })).status).toBe(401);
    expect((await fake.verifyUrl(undefined, { tamper: 'corpid' })).status).toBe(400);
  });

  it('stores a text message, answers an empty 200 at once, and replies through message/send', async () => {
    const { t, fake } = await setup();
    const result = await fake.push('zhangsan', wecomMessage.text('你好'));
    expect(result.attempts).toHaveLength(1);
    expect(result.attempts[0]).toMatchObject({ status: 200, body: '', timedOut: false });
    await t.until(() => fake.delivered('zhangsan').length === 1);
    expect(fake.delivered('zhangsan')[0]).toMatchObject({ msgtype: 'text', content: '你好', truncated: false });
    // Counted once the outbox has recorded the send, a moment after the fake saw it.
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.messagesOut === 1);
    expect(t.gateway.keeper.statusOf(ENTRY)).toMatchObject({ messagesIn: 1, messagesOut: 1 });
  });

  it('sends a 6 000-byte reply complete, as ordered messages of at most 2048 bytes', async () => {
    const { t, fake } = await setup();
    const sentence = '这是一个很长的回答，用来测试分段发送。';
    const long = Array.from({ length: 110 }, (_, i) => `${i}${sentence}`).join('');
    expect(Buffer.byteLength(long)).toBeGreaterThan(6_000);
    await fake.push('lisi', wecomMessage.text(long));
    await t.until(() => texts(fake, 'lisi').join('').length >= long.length);
    const chunks = fake.delivered('lisi');
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    for (const c of chunks) {
      expect(c.bytes).toBeLessThanOrEqual(2048);
      expect(c.truncated).toBe(false);
    }
    expect(chunks.map((c) => c.content).join('')).toBe(long);
    expect(fake.dropped('lisi')).toEqual([]);
  });

  it('runs the agent once when WeCom delivers the same message three times', async () => {
    const llm = opened(await startFakeLlm());
    const { t, fake } = await setup({ profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' } });
    for (let i = 0; i < 3; i++) {
      const r = await fake.push('wangwu', wecomMessage.text('once please'), { msgId: '7300000000000000001' });
      expect(r.attempts[0]?.status).toBe(200);
    }
    await t.until(() => fake.delivered('wangwu').length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(texts(fake, 'wangwu')).toEqual(['reply to: once please']);
    expect(llm.requests).toHaveLength(1);
  });
});

describe('wecom refuses what is not a genuine push for this app', () => {
  it('answers 4xx to forgeries, foreign apps, malformed and oversize XML, and enqueues nothing', async () => {
    const { t, fake } = await setup();
    const sig = await fake.push('mallory', wecomMessage.text('forged'), { tamper: 'msg_signature', retryWaitMs: 500 });
    expect(sig.attempts.map((a) => a.status)).toEqual([401, 401, 401]);
    const corp = await fake.push('mallory', wecomMessage.text('other corp'), { tamper: 'corpid' });
    expect(corp.attempts[0]?.status).toBe(400);
    const stale = await fake.push('mallory', wecomMessage.text('replayed'), { tamper: 'timestamp' });
    expect(stale.attempts[0]?.status).toBe(401);

    // Another app of the same company: decrypts fine, only AgentID tells it apart.
    const otherApp = fake.crypto.encrypt(appMessageXml(fake.corpId, 'mallory', Math.floor(fake.now() / 1000), 1000099, wecomMessage.text('not ours'), '7300000000000000002'));
    const foreign = await fake.rawPost(`<xml><ToUserName><![CDATA[${fake.corpId}]]></ToUserName><AgentID>1000099</AgentID><Encrypt><![CDATA[${otherApp}]]></Encrypt></xml>`, { encrypt: otherApp });
    expect(foreign.status).toBe(400);

    expect((await fake.rawPost('<xml><Encrypt>unclosed', { encrypt: 'unclosed' })).status).toBe(400);
    expect((await fake.rawPost('<xml><Encrypt>not base64!</Encrypt></xml>', { encrypt: 'not base64!' })).status).toBe(400);
    const huge = `<xml><Encrypt>${'A'.repeat(70_000)}</Encrypt></xml>`;
    expect((await fake.rawPost(huge, { encrypt: 'A'.repeat(70_000) })).status).toBe(413);

    // A genuine push afterwards is the only message the agent saw.
    await fake.push('alice', wecomMessage.text('genuine'));
    await t.until(() => fake.delivered('alice').length === 1);
    expect(t.gateway.keeper.statusOf(ENTRY)).toMatchObject({ messagesIn: 1 });
    expect(fake.delivered('mallory')).toEqual([]);
  });
});

describe('wecom outbound', () => {
  it('delivers after the access token expires or is revoked mid-run', async () => {
    const { t, fake } = await setup();
    await fake.push('zhaoliu', wecomMessage.text('one'));
    await t.until(() => fake.delivered('zhaoliu').length === 1);
    fake.expireTokens();
    await fake.push('zhaoliu', wecomMessage.text('two'));
    await t.until(() => fake.delivered('zhaoliu').length === 2);
    fake.invalidateTokens();
    await fake.push('zhaoliu', wecomMessage.text('three'));
    await t.until(() => fake.delivered('zhaoliu').length === 3);
    expect(texts(fake, 'zhaoliu')).toEqual(['one', 'two', 'three']);
    const codes = fake.sends.map((s) => s.errcode);
    expect(codes).toContain(42001);
    expect(codes).toContain(40014);
  });

  it('retries busy (-1) answers until delivered', async () => {
    const { t, fake } = await setup();
    fake.failNextSends(2, -1);
    await fake.push('sunqi', wecomMessage.text('busy'));
    await t.until(() => fake.delivered('sunqi').length === 1, 15_000);
    expect(texts(fake, 'sunqi')).toEqual(['busy']);
    expect(fake.sends.filter((s) => s.errcode === -1)).toHaveLength(2);
  });

  it('paces 40 replies to one member within the per-minute limit: all arrive, none dropped', async () => {
    // The gateway reads the fake's clock, so the test moves a minute forward without waiting one.
    const { fake } = await setup({
      clock: (f) => timeFrom(() => f.now()),
    });
    const start = fake.now();
    for (let i = 0; i < 40; i++) await fake.push('zhouba', wecomMessage.text(`reply ${i}`));
    for (let stalled = 0; fake.delivered('zhouba').length < 40; ) {
      const before = fake.delivered('zhouba').length;
      await new Promise((r) => setTimeout(r, 200));
      stalled = fake.delivered('zhouba').length === before ? stalled + 1 : 0;
      if (stalled >= 2) fake.advanceTime(5);
      if (fake.now() - start > 10 * 60_000) break;
    }
    expect(fake.delivered('zhouba')).toHaveLength(40);
    expect(fake.dropped('zhouba')).toEqual([]);
    expect(texts(fake, 'zhouba')).toEqual(Array.from({ length: 40 }, (_, i) => `reply ${i}`));
    // Paced: no 60 s window holds more than the configured 28.
    const at = fake.delivered('zhouba').map((d) => d.at);
    for (let i = 28; i < at.length; i++) expect(at[i]! - at[i - 28]!).toBeGreaterThanOrEqual(60_000);
  }, 30_000);
});
