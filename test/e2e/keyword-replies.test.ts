import { describe, expect, it } from 'vitest';
import { startFakeLlm } from '../fakes/llm/server.js';
import { startFakeWechatMp } from '../fakes/wechat-mp/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

/** Fixed answers to given messages, phrases and menu clicks, sent without the agent (`keyword_replies`). */

const opened = closeAfterEach();

const RULES = [
  { match: ['营业时间', 'opening hours'], reply: '我们每天 9:00–21:00 营业。' },
  { contains: ['退款', 'refund'], reply: '退款请在订单页点击「申请退款」。' },
  { events: ['click HOURS'], reply: '我们每天 9:00–21:00 营业。' },
];

/** The texts of the conversation the model was given, without the system prompt. */
const conversationOf = (body: { messages?: { role: string; content: unknown }[] }) => (body.messages ?? []).filter((m) => m.role !== 'system').map((m) => `${m.role}: ${String(m.content)}`);

describe('keyword replies', () => {
  it('answers a whole message or a phrase at once without the model, and the model later knows what was said', async () => {
    const llm = opened(await startFakeLlm());
    const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', stream: false, keyword_replies: RULES };
    const t = opened(await startTestGateway({ agents: { shop: { profile, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('shop.web_api')?.state === 'running');
    const say = async (content: string) => (await t.chat('shop.web_api', { userId: 'ann', content }, { wait: true })).json.reply.text as string;

    expect(await say('  Opening HOURS ')).toBe('我们每天 9:00–21:00 营业。');
    expect(await say('我想退款，怎么弄？')).toBe('退款请在订单页点击「申请退款」。');
    expect(llm.requests).toHaveLength(0);
    // Not the whole message: the model answers, knowing the fixed answers given before.
    expect(await say('are your opening hours the same on Sunday?')).toBe('reply to: are your opening hours the same on Sunday?');
    expect(conversationOf(llm.requests[0]!.body)).toEqual([
      'user: Opening HOURS',
      'assistant: 我们每天 9:00–21:00 营业。',
      'user: 我想退款，怎么弄？',
      'assistant: 退款请在订单页点击「申请退款」。',
      'user: are your opening hours the same on Sunday?',
    ]);

    const [refund] = (await t.gateway.store.listMessages({ limit: 10 })).filter((m) => m.content.startsWith('我想退款'));
    expect((await t.gateway.store.getMessage(refund!.id))!.timeline.find((e) => e.stage === 'replied')?.detail).toBe('answered by keyword reply #2, without the agent');
    expect((await t.gateway.metrics.keywordReplies.get()).values).toEqual([{ value: 2, labels: { channel: 'web_api' } }]);
  });

  it('answers a WeChat menu click within the request that carries it (passive reply), without the agent', async () => {
    const llm = opened(await startFakeLlm());
    const app = { appId: 'wx0123456789abcdef', appSecret: 'app-secret-0123456789', token: 'tok3n', encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR' };
    const fake = opened(await startFakeWechatMp({ ...app, mode: 'safe', retryWaitMs: 1_000, permissions: { customerService: false } }));
    const config = {
      app_id: app.appId,
      app_secret: app.appSecret,
      token: app.token,
      encoding_aes_key: app.encodingAesKey,
      mode: 'safe',
      api_base_url: fake.url,
      reply_mode: 'passive',
      forward_events: true,
    };
    const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', keyword_replies: RULES };
    const t = opened(await startTestGateway({ agents: { shop: { profile, entries: [{ type: 'channel', channel: 'wechat_mp', config }] } } }));
    await t.until(() => t.gateway.keeper.statusOf('shop.wechat_mp')?.state === 'running');
    fake.gatewayUrl = `${await t.app.listen({ port: 0, host: '127.0.0.1' })}/webhooks/wechat_mp/shop.wechat_mp`;

    const createTime = Math.floor(Date.now() / 1000);
    const click = await fake.push('oMenu', { type: 'event', event: 'CLICK', eventKey: 'HOURS' }, { createTime });
    expect(click.attempts).toHaveLength(1);
    expect(click.reply).toMatchObject({ encrypted: true, xml: { MsgType: 'text', Content: '我们每天 9:00–21:00 营业。', ToUserName: 'oMenu' } });
    // Another menu key is the agent's (a second later: WeChat tells events apart by user and second).
    const other = await fake.push('oMenu', { type: 'event', event: 'CLICK', eventKey: 'DEALS' }, { createTime: createTime + 1 });
    expect(other.reply?.xml).toMatchObject({ Content: 'reply to: [event click DEALS]' });
    expect(llm.requests).toHaveLength(1);
  });

  it('refuses a rule that says what to answer but not when, naming the rule', async () => {
    const t = opened(await startTestGateway({ agents: { shop: { profile: { provider: 'echo' }, entries: [webApiEntry()] } } }));
    const res = await t.admin('PUT', '/agents/shop', { provider: 'echo', keyword_replies: [{ match: ['hi'], reply: 'hello' }, { reply: 'when?' }] });
    expect(res.status).toBe(400);
    expect(res.json.error.field).toBe('keyword_replies.1');
    expect(res.json.error.message).toMatch(/needs match, contains, patterns or events/);

    // A pattern that could stall the gateway is refused before it is written; a safe one answers.
    const slow = await t.admin('PUT', '/agents/shop', { provider: 'echo', keyword_replies: [{ patterns: ['^(a+)+$'], reply: 'never' }] });
    expect(slow.status).toBe(400);
    expect(slow.json.error.field).toBe('keyword_replies.0.patterns.0');
    const safe = await t.admin('PUT', '/agents/shop', { provider: 'echo', keyword_replies: [{ patterns: ['^(退款|退货)'], reply: '退款请点击菜单「售后」。' }] });
    expect(safe.status).toBe(200);
    expect((await t.chat('shop.web_api', { userId: 'u', content: '退货怎么弄' }, { wait: true })).json.reply.text).toBe('退款请点击菜单「售后」。');
  });
});
