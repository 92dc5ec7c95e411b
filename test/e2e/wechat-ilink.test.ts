import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TransportStatus } from '../../src/core/entry-status.js';
import { FakeIlink, ilinkItem, type FakeIlinkOptions } from '../fakes/ilink/index.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { removeWorkspace } from '../helpers/workspace.js';

const ENTRY = 'bot.wechat_ilink';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const opened = closeAfterEach();

/** A fake iLink and a gateway with one wechat_ilink entry (echo agent) on it; running when it has a token. */
async function setup(config: Record<string, unknown> = {}, fakeOptions: FakeIlinkOptions = {}) {
  const fake = opened(await FakeIlink.start({ longPollMs: 300, qrPollMs: 300, ...fakeOptions }));
  const entry = { type: 'channel', channel: 'wechat_ilink', config: { base_url: fake.url, bot_token: fake.botToken, ...config } };
  const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'echo' }, entries: [entry] } } }));
  if (entry.config.bot_token) await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  return { t, fake };
}

const transport = (gateway: TestGateway) => gateway.gateway.keeper.statusOf(ENTRY)?.transport as TransportStatus | undefined;
const polls = (f: FakeIlink) => f.calls.filter((c) => c.endpoint === 'getupdates');

describe('wechat_ilink over the getupdates long poll', () => {
  it('answers a message with its own context token, and counts it on the entry', async () => {
    const { t, fake } = await setup();
    const m = fake.userSends('alice', '你好，机器人');
    const [reply] = await fake.waitForSent(1, { user: 'alice' });
    expect(reply).toMatchObject({ to: 'alice@im.wechat', text: '你好，机器人', contextToken: m.context_token });
    const [stored] = await t.gateway.store.listMessages({});
    expect(stored).toMatchObject({ channelType: 'wechat_ilink', conversationId: 'alice@im.wechat', userId: 'alice@im.wechat', content: '你好，机器人' });
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.messagesOut === 1);
    expect(transport(t)).toMatchObject({ kind: 'long-poll', state: 'connected', eventsReceived: 1 });
    // The echo agent answers at once: no "typing…" for it.
    expect(fake.calls.filter((c) => c.endpoint === 'getconfig' || c.endpoint === 'sendtyping')).toHaveLength(0);
    // Every call carried the iLink headers and the token, which never shows in what the admin API serves.
    const send = fake.calls.find((c) => c.endpoint === 'sendmessage')!;
    expect(send.headers).toMatchObject({ authorizationtype: 'ilink_bot_token', authorization: `Bearer ${fake.botToken}` });
    expect(Buffer.from(send.headers['x-wechat-uin']!, 'base64').toString()).toMatch(/^\d{1,10}$/);
    for (const url of [`/entries/${ENTRY}/status`, '/agents/bot/entries']) {
      const res = await t.admin('GET', url);
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.json)).not.toContain(fake.botToken);
    }
  });

  it('shows "typing…" while the agent thinks, and ends it when the answer is there', async () => {
    const llm = opened(await startFakeLlm({ delayMs: 1_500 }));
    const fake = opened(await FakeIlink.start({ longPollMs: 300 }));
    const entry = { type: 'channel', channel: 'wechat_ilink', config: { base_url: fake.url, bot_token: fake.botToken } };
    const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' }, entries: [entry] } } }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const f = fake;
    f.userSends('tom', 'think about it');
    await t.until(() => f.typing('tom').length >= 1);
    expect(f.typing('tom')[0]).toMatchObject({ status: 1 });
    expect(f.sent('tom')).toHaveLength(0); // still thinking
    await f.waitForSent(1, { user: 'tom' });
    await t.until(() => f.typing('tom').length === 2);
    const [on, off] = f.typing('tom');
    expect([on!.status, off!.status]).toEqual([1, 2]);
    expect(off!.ticket).toBe(on!.ticket);
    // The ticket was asked for with the message's own context token.
    const config = f.calls.find((c) => c.endpoint === 'getconfig')!;
    expect(config.body).toMatchObject({ ilink_user_id: 'tom@im.wechat', context_token: f.sent('tom')[0]!.contextToken });
  });

  it('shows no typing when show_typing is off', async () => {
    const llm = opened(await startFakeLlm({ delayMs: 300 }));
    const fake = opened(await FakeIlink.start({ longPollMs: 300 }));
    const entry = { type: 'channel', channel: 'wechat_ilink', config: { base_url: fake.url, bot_token: fake.botToken, show_typing: false } };
    const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' }, entries: [entry] } } }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    fake.userSends('ann', 'quiet please');
    await fake.waitForSent(1, { user: 'ann' });
    expect(fake.calls.filter((c) => c.endpoint === 'getconfig' || c.endpoint === 'sendtyping')).toHaveLength(0);
  });

  it('splits a long reply at 4 000 characters, every part with the message\'s token, in order', async () => {
    const { fake } = await setup();
    const text = Array.from({ length: 600 }, (_, i) => `第${i}句话，说得很长很长很长。`).join('');
    expect([...text].length).toBeGreaterThan(8_000);
    const m = fake.userSends('bob', text);
    const parts = await fake.waitForSent(3, { user: 'bob' });
    await sleep(200);
    expect(fake.sent('bob')).toHaveLength(3);
    expect(parts.every((p) => [...p.text].length <= 4_000 && p.contextToken === m.context_token)).toBe(true);
    expect(parts.map((p) => p.text).join('')).toBe(text);
  });

  it('reads voice transcripts and describes media for the agent', async () => {
    const { t, fake } = await setup();
    fake.userSends('carol', [ilinkItem.voice('明天几点开会')]);
    fake.userSends('carol', [ilinkItem.file('报告.pdf')]);
    await fake.waitForSent(2, { user: 'carol' });
    const stored = (await t.gateway.store.listMessages({})).reverse();
    expect(stored.map((s) => s.content)).toEqual(['明天几点开会', '[file: 报告.pdf]']);
    const detail = await t.gateway.store.getMessage(stored[0]!.id);
    expect(detail?.message).toMatchObject({ msgType: 'voice', media: [{ kind: 'voice' }] });
  });

  it('answers a message iLink hands out twice once', async () => {
    const { fake } = await setup();
    const m = fake.userSends('dave', 'only once');
    await fake.waitForSent(1, { user: 'dave' });
    fake.redeliver(m);
    fake.userSends('dave', 'next');
    await fake.waitForSent(2, { user: 'dave' });
    await sleep(300);
    expect(fake.sent('dave').map((s) => s.text)).toEqual(['only once', 'next']);
  });

  it('resumes from the saved cursor after a restart: messages sent while it was down are answered once', async () => {
    const first = await setup();
    const fake = first.fake;
    fake.userSends('erin', 'before');
    await fake.waitForSent(1, { user: 'erin' });
    await first.t.until(() => polls(fake).at(-1)?.body?.get_updates_buf !== '');
    const root = first.t.root;
    await first.t.close({ keepWorkspace: true });
    const cursorAtStop = polls(fake).at(-1)?.body?.get_updates_buf;
    fake.userSends('erin', 'while down');
    const before = polls(fake).length;

    const restarted = await startTestGateway({ root });
    opened({ ...restarted, close: async () => { await restarted.close(); removeWorkspace(root); } });
    await fake.waitForSent(2, { user: 'erin' });
    await sleep(300);
    expect(fake.sent('erin').map((s) => s.text)).toEqual(['before', 'while down']);
    // The first poll of the new process starts where the old one stopped, not from the beginning.
    expect(polls(fake)[before]?.body?.get_updates_buf).toBe(cursorAtStop);
    expect(cursorAtStop).not.toBe('');
  });

  it('retries a poll iLink answers with HTTP 502, and a reply iLink refuses with 500', async () => {
    const { t, fake } = await setup();
    fake.failNext('getupdates', { http: 502 });
    fake.failNext('sendmessage', { http: 500 });
    fake.userSends('frank', 'despite errors');
    await fake.waitForSent(1, { user: 'frank', timeoutMs: 15_000 });
    expect(fake.sent('frank').map((s) => s.text)).toEqual(['despite errors']);
    expect(fake.calls.filter((c) => c.endpoint === 'sendmessage').map((c) => c.status)).toEqual([500, 200]);
    expect(transport(t)).toMatchObject({ state: 'connected', reconnects: 1 });
  }, 20_000);

  it('dead-letters a part whose context token iLink refuses, with the reason', async () => {
    const { t, fake } = await setup({}, { repliesPerToken: 1 });
    fake.userSends('gina', 'x'.repeat(5_000));
    await fake.waitForSent(1, { user: 'gina' });
    const dead = await t.until(async () => (await t.admin('GET', '/dead-letters')).json.deadLetters[0]);
    expect(dead).toMatchObject({ kind: 'outbound', entryKey: ENTRY, attempts: 1 });
    expect(dead.error).toMatch(/ret -2.*the user must write again/);
    expect(fake.sent('gina')).toHaveLength(1);
  });

  it('pauses for an hour when iLink ends the session (-14), and a QR login gets it going again', async () => {
    const { t, fake } = await setup();
    fake.expireSession();
    const pausedAt = Date.now();
    const status = await t.until(() => {
      const s = transport(t);
      return s?.lastError?.message.includes('session expired') ? s : undefined;
    });
    expect(status.state).toBe('reconnecting');
    expect(status.nextAttemptAt! - pausedAt).toBeGreaterThan(3_500_000);
    const pollsWhilePaused = polls(fake).length;
    await sleep(800);
    expect(polls(fake).length).toBe(pollsWhilePaused);

    const started = await t.admin('POST', '/agents/bot/entries/wechat_ilink/login');
    expect(started.status).toBe(200);
    expect(started.json).toMatchObject({ key: ENTRY, channel: 'wechat_ilink', state: 'waiting' });
    expect(started.json.qrContent).toBe(fake.qrSessions.at(-1)!.imgContent);
    fake.scan();
    await t.until(async () => (await t.admin('GET', '/agents/bot/entries/wechat_ilink/login')).json.state === 'scanned');
    const token = fake.confirm();
    const done = await t.until(async () => {
      const res = await t.admin('GET', '/agents/bot/entries/wechat_ilink/login');
      return res.json.state === 'confirmed' ? res.json : undefined;
    });
    expect(done).toMatchObject({ account: fake.botId });
    expect(JSON.stringify(done)).not.toContain(token);
    // The token went to the vault; entries.json holds only a reference to it.
    const entries = readFileSync(join(t.root, 'agents', 'bot', 'entries.json'), 'utf8');
    expect(entries).not.toContain(token);
    expect(JSON.parse(entries).entries[0].config).toMatchObject({ bot_token: '${secret:bot.wechat_ilink.bot_token}', bot_id: fake.botId, base_url: fake.url });
    expect(readFileSync(join(t.root, 'data', 'secrets.json'), 'utf8')).toContain(token);
    // The entry restarted with the new token: polls resume at once.
    fake.userSends('hank', 'back again');
    const [reply] = await fake.waitForSent(1, { user: 'hank' });
    expect(reply?.text).toBe('back again');
    expect(fake.calls.filter((c) => c.endpoint === 'sendmessage').at(-1)!.headers.authorization).toBe(`Bearer ${token}`);
  });
});

describe('wechat_ilink QR login through the admin API', () => {
  it('an entry without a token says it is not logged in; the login fills it in and it runs', async () => {
    const { t, fake } = await setup({ bot_token: undefined });
    const failed = await t.until(() => {
      const s = t.gateway.keeper.statusOf(ENTRY);
      return s?.state === 'error' ? s : undefined;
    });
    expect(failed.lastError).toMatchObject({ code: 'COCO_ERR_LOGIN_REQUIRED', message: expect.stringMatching(/not logged in.*QR code/) });
    // Nothing to retry until the login: no restart is planned.
    expect(failed.nextRestartAt).toBeUndefined();
    await sleep(1_200);
    expect(t.gateway.keeper.statusOf(ENTRY)).toMatchObject({ state: 'error', restarts: 0 });
    expect((await t.admin('GET', '/agents/bot/entries/wechat_ilink/login')).status).toBe(404);

    const started = await t.admin('POST', '/agents/bot/entries/wechat_ilink/login');
    expect(started.json.state).toBe('waiting');
    expect(started.json.expiresAt).toBeGreaterThan(Date.now() + 250_000);
    fake.confirm();
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running', 15_000);
    const listed = await t.admin('GET', '/agents/bot/entries');
    expect(listed.json.entries[0].secrets.bot_token).toEqual({ set: true, source: 'stored' });
    fake.userSends('ivy', 'first message');
    await fake.waitForSent(1, { user: 'ivy' });
  });

  it('gets a new QR code when one expires, and gives up after the third', async () => {
    const { t, fake } = await setup({ bot_token: undefined });
    const first = await t.admin('POST', '/agents/bot/entries/wechat_ilink/login');
    const login = async () => (await t.admin('GET', '/agents/bot/entries/wechat_ilink/login')).json;
    fake.expireQr();
    await t.until(async () => (await login()).qrContent !== first.json.qrContent);
    expect(fake.qrSessions).toHaveLength(2);
    fake.expireQr();
    await t.until(() => fake.qrSessions.length === 3);
    fake.expireQr();
    const ended = await t.until(async () => ((await login()).state === 'expired' ? login() : undefined));
    expect(ended.message).toMatch(/expired 3 times/);
    expect(fake.qrSessions).toHaveLength(3);
  });

  it('cancels a login, and refuses one for a channel without QR login or an unreachable platform', async () => {
    const { t } = await setup({ bot_token: undefined });
    await t.admin('POST', '/agents/bot/entries/wechat_ilink/login');
    expect((await t.admin('DELETE', '/agents/bot/entries/wechat_ilink/login')).status).toBe(204);
    expect((await t.admin('GET', '/agents/bot/entries/wechat_ilink/login')).json.state).toBe('cancelled');
    expect((await t.admin('POST', '/agents/bot/entries/nope/login')).status).toBe(404);

    await t.admin('POST', '/agents/bot/entries', { id: 'api', channel: 'web_api', config: { api_key: 'k-0123456789abcdef' } });
    const noLogin = await t.admin('POST', '/agents/bot/entries/api/login');
    expect(noLogin).toMatchObject({ status: 400, json: { error: { code: 'COCO_ERR_REQUEST_INVALID', field: 'channel' } } });

    await t.admin('POST', '/agents/bot/entries', { id: 'far', channel: 'wechat_ilink', config: { base_url: 'http://127.0.0.1:9/' } });
    const unreachable = await t.admin('POST', '/agents/bot/entries/far/login');
    expect(unreachable).toMatchObject({ status: 502, json: { error: { code: 'COCO_ERR_LOGIN_FAILED' } } });
    expect(unreachable.json.error.message).toMatch(/no QR code/);
  });

  it('keeps one login per entry when two start at once: the other stops polling iLink', async () => {
    const { t, fake } = await setup({ bot_token: undefined });
    fake.failNext('get_bot_qrcode', { hangMs: 200 });
    const both = await Promise.all([0, 1].map(() => t.admin('POST', '/agents/bot/entries/wechat_ilink/login')));
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    expect(fake.qrSessions).toHaveLength(2);
    expect((await t.admin('DELETE', '/agents/bot/entries/wechat_ilink/login')).status).toBe(204);
    await sleep(400); // a status poll in flight ends
    const statusPolls = () => fake.calls.filter((c) => c.endpoint === 'get_qrcode_status').length;
    const before = statusPolls();
    await sleep(1_000);
    expect(statusPolls()).toBe(before);
  });

  it('logs in at the base_url an ${ENV} reference names, and keeps the reference', async () => {
    const fake = opened(await FakeIlink.start({ longPollMs: 300, qrPollMs: 300 }));
    const entry = { type: 'channel', channel: 'wechat_ilink', config: { base_url: '${ILINK_URL}' } };
    const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'echo' }, entries: [entry] } } }, { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, ILINK_URL: fake.url } }));
    const started = await t.admin('POST', '/agents/bot/entries/wechat_ilink/login');
    expect(started).toMatchObject({ status: 200, json: { state: 'waiting' } });
    fake.confirm();
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running', 15_000);
    const config = JSON.parse(readFileSync(join(t.root, 'agents', 'bot', 'entries.json'), 'utf8')).entries[0].config;
    expect(config.base_url).toBe('${ILINK_URL}');
    expect(config.bot_token).toBe('${secret:bot.wechat_ilink.bot_token}');
  });

  it('refuses a login whose config names an unset variable, saying which', async () => {
    const { t } = await setup({ bot_token: undefined, base_url: '${NOT_SET_ANYWHERE}' });
    const res = await t.admin('POST', '/agents/bot/entries/wechat_ilink/login');
    expect(res).toMatchObject({ status: 400, json: { error: { code: 'COCO_ERR_CONFIG_ENV_MISSING' } } });
    expect(res.json.error.message).toMatch(/NOT_SET_ANYWHERE/);
  });
});
