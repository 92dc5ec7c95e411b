import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { captureLogger } from '../helpers/logs.js';
import { SseClient } from '../helpers/sse.js';
import { TEST_API_KEY, webApiEntry, type WorkspaceSpec } from '../helpers/workspace.js';

/** The server side of the panel: sessions, the dashboard and its stream, chat, webhook URLs, static files. */

const APP_SECRET = 'wx-app-secret-0123456789abcdef';

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const spec = (extra: Partial<WorkspaceSpec> = {}): WorkspaceSpec => ({
  agents: { helper: { profile: { provider: 'echo', prefix: 'echo: ' }, entries: [webApiEntry()] } },
  ...extra,
});

async function open(s: WorkspaceSpec = spec()): Promise<TestGateway> {
  t = await startTestGateway(s, { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN } });
  await t.until(() => t!.gateway.keeper.statusOf('helper.web_api')?.state === 'running');
  return t;
}

type Injected = { status: number; headers: Record<string, unknown>; json: any; body: string };

async function request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, opts: { cookie?: string; csrf?: string; body?: unknown; ip?: string } = {}): Promise<Injected> {
  const headers: Record<string, string> = {};
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await t!.app.inject({
    method,
    url,
    headers,
    payload: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    remoteAddress: opts.ip ?? '127.0.0.1',
  });
  let json: any;
  try {
    json = res.body ? JSON.parse(res.body) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, json, body: res.body };
}

async function login(): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await request('POST', '/api/session', { body: { token: ADMIN_TOKEN } });
  expect(res.status).toBe(200);
  const setCookie = String(res.headers['set-cookie']);
  const cookie = setCookie.split(';')[0]!;
  return { cookie, csrf: res.json.csrfToken, setCookie };
}

describe('panel sessions', () => {
  it('logs in with the admin token into an HttpOnly, SameSite=Strict cookie; a wrong token gets 401 and no cookie', async () => {
    await open();
    const wrong = await request('POST', '/api/session', { body: { token: 'not-the-token' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();

    const { cookie, csrf, setCookie } = await login();
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\//);
    expect(setCookie).not.toContain(ADMIN_TOKEN);
    expect(csrf).toMatch(/^[\w-]{20,}$/);

    const me = await request('GET', '/api/session', { cookie });
    expect(me.status).toBe(200);
    expect(me.json.csrfToken).toBe(csrf);
    expect((await request('GET', '/api/admin/agents', { cookie })).status).toBe(200);
    expect((await request('GET', '/api/admin/agents')).status).toBe(401);
  });

  it('refuses a cookie-only write (403, nothing written) and accepts it with the CSRF token', async () => {
    await open();
    const { cookie, csrf } = await login();
    const body = { provider: 'echo' };
    const forged = await request('PUT', '/api/admin/agents/second', { cookie, body });
    expect(forged.status).toBe(403);
    expect(forged.json.error.code).toBe('COCO_ERR_FORBIDDEN');
    const wrongToken = await request('PUT', '/api/admin/agents/second', { cookie, csrf: `${csrf}x`, body });
    expect(wrongToken.status).toBe(403);
    expect((await request('GET', '/api/admin/agents/second', { cookie })).status).toBe(404);

    const ok = await request('PUT', '/api/admin/agents/second', { cookie, csrf, body });
    expect(ok.status).toBe(201);
    expect((await request('GET', '/api/admin/agents/second', { cookie })).status).toBe(200);
  });

  it('ends the session on logout, and a tampered cookie is not a session', async () => {
    await open();
    const { cookie, csrf } = await login();
    const [name, value] = cookie.split('=') as [string, string];
    const [payload, signature] = value.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const stretched = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 86_400_000 })).toString('base64url');
    expect((await request('GET', '/api/session', { cookie: `${name}=${stretched}.${signature}` })).status).toBe(401);

    expect((await request('DELETE', '/api/session', { cookie })).status).toBe(403);
    const out = await request('DELETE', '/api/session', { cookie, csrf });
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/cococat_session=;/);
    expect((await request('GET', '/api/session', { cookie })).status).toBe(401);
    expect((await request('GET', '/api/admin/agents', { cookie })).status).toBe(401);
  });

  it('answers 429 after 10 failed logins from one address, while another address can still log in', async () => {
    await open();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await request('POST', '/api/session', { body: { token: `guess-${i}` }, ip: '10.0.0.9' })).status);
    expect(statuses.slice(0, 10)).toEqual(new Array(10).fill(401));
    expect(statuses.slice(10)).toEqual([429, 429]);
    const locked = await request('POST', '/api/session', { body: { token: ADMIN_TOKEN }, ip: '10.0.0.9' });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await request('POST', '/api/session', { body: { token: ADMIN_TOKEN }, ip: '10.0.0.10' })).status).toBe(200);
  });
});

describe('operators', () => {
  const OPS_TOKEN = 'operator-token-for-tests-0123456789';
  const ALICE_TOKEN = 'alice-operator-token-0123456789';
  let capture: ReturnType<typeof captureLogger>;
  beforeEach(() => {
    capture = captureLogger();
  });

  async function openWithOperators(): Promise<TestGateway> {
    const settings = { operator_tokens: ['${OPS_TOKEN}', { name: 'alice', token: '${ALICE_TOKEN}' }] };
    t = await startTestGateway(spec({ settings }), { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, OPS_TOKEN, ALICE_TOKEN }, log: capture.log });
    await t.until(() => t!.gateway.keeper.statusOf('helper.web_api')?.state === 'running');
    return t;
  }

  const bearer = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) =>
    t!.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${OPS_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });

  it('read everything and answer people with their token, but change nothing of the setup (403, nothing written)', async () => {
    await openWithOperators();
    const sent = await t!.chat('helper.web_api', { userId: 'ann', content: 'hi' }, { wait: true });
    const id = sent.json.messageId;
    expect((await bearer('GET', '/api/admin/agents')).statusCode).toBe(200);
    expect((await bearer('GET', `/api/admin/messages/${id}`)).json().id).toBe(id);
    expect((await bearer('POST', `/api/admin/messages/${id}/reply`, { text: 'A person here.' })).statusCode).toBe(202);
    // The message log says who answered: a named operator by name, another by its token's fingerprint, the admin as admin.
    const alice = await t!.app.inject({
      method: 'POST', url: `/api/admin/messages/${id}/reply`, payload: { text: 'Alice here.' },
      headers: { authorization: `Bearer ${ALICE_TOKEN}`, 'content-type': 'application/json' },
    });
    expect(alice.statusCode).toBe(202);
    expect((await t!.admin('POST', `/messages/${id}/reply`, { text: 'The admin.' })).status).toBe(202);
    const replied = (await t!.gateway.store.getMessage(id))!.timeline.filter((e) => e.stage === 'operator_reply').map((e) => e.detail);
    expect(replied).toEqual([expect.stringMatching(/^1 chunk\(s\) by operator [0-9a-f]{16}$/), '1 chunk(s) by operator alice', '1 chunk(s) by admin']);
    expect((await bearer('PUT', '/api/admin/entries/helper.web_api/handoffs/ann', { minutes: 5 })).statusCode).toBe(200);
    // The hand-over says who took it, so a second operator leaves the user to them.
    const taken = await t!.app.inject({
      method: 'PUT', url: '/api/admin/entries/helper.web_api/handoffs/bo', payload: { minutes: 5 },
      headers: { authorization: `Bearer ${ALICE_TOKEN}`, 'content-type': 'application/json' },
    });
    expect(taken.statusCode).toBe(200);
    const handoffs = (await t!.admin('GET', '/handoffs')).json.handoffs;
    expect(handoffs.map((h: { conversationId: string; by: string; actor?: string }) => [h.conversationId, h.by, h.actor])).toEqual([
      ['ann', 'operator', expect.stringMatching(/^operator [0-9a-f]{16}$/)],
      ['bo', 'operator', 'operator alice'],
    ]);
    expect((await bearer('DELETE', '/api/admin/entries/helper.web_api/handoffs/ann')).statusCode).toBe(200);
    // Notices to the team are theirs to push on (none wait here).
    expect((await bearer('POST', '/api/admin/notices/retry')).json()).toEqual({ retried: 0 });

    const before = (await t!.admin('GET', '/agents/helper')).json;
    const refused = [
      await bearer('PUT', '/api/admin/agents/helper', { provider: 'echo', prefix: 'hacked: ' }),
      await bearer('PUT', '/api/admin/agents/other', { provider: 'echo' }),
      await bearer('DELETE', '/api/admin/agents/helper/entries/web_api'),
      await bearer('POST', '/api/admin/entries/helper.web_api/restart'),
      await bearer('DELETE', '/api/admin/entries/helper.web_api/users/ann'),
    ];
    for (const res of refused) {
      expect([res.statusCode, res.json().error.code]).toEqual([403, 'COCO_ERR_FORBIDDEN']);
      expect(res.json().error.message).toMatch(/needs the admin token/);
    }
    expect((await t!.admin('GET', '/agents/helper')).json).toEqual(before);
    // Every change asked for is in the log with who asked and how it ended; no body, so no secret.
    const audit = capture.lines.filter((l) => l.msg === 'admin API change');
    expect(audit).toContainEqual(expect.objectContaining({ actor: 'operator alice', method: 'POST', route: '/api/admin/messages/:id/reply', status: 202 }));
    expect(audit).toContainEqual(expect.objectContaining({ actor: 'admin', method: 'POST', route: '/api/admin/messages/:id/reply', status: 202 }));
    expect(audit).toContainEqual(expect.objectContaining({ method: 'PUT', route: '/api/admin/agents/:id', params: { id: 'helper' }, status: 403 }));
    expect(audit.every((l) => !JSON.stringify(l).includes('hacked') && !JSON.stringify(l).includes(OPS_TOKEN))).toBe(true);
    expect((await t!.admin('GET', '/agents/other')).status).toBe(404);
    expect((await t!.gateway.store.getMessage(id))?.status).toBe('done');
    expect((await bearer('GET', '/api/admin/agents')).statusCode).toBe(200);
    expect((await t!.app.inject({ method: 'GET', url: '/api/admin/agents', headers: { authorization: 'Bearer operator-token-for-tests-x' } })).statusCode).toBe(401);
  });

  it('log in to the panel as operators; a session ends when its token leaves operator_tokens', async () => {
    await openWithOperators();
    const res = await request('POST', '/api/session', { body: { token: OPS_TOKEN } });
    expect([res.status, res.json.role]).toEqual([200, 'operator']);
    const cookie = String(res.headers['set-cookie']).split(';')[0]!;
    const csrf = res.json.csrfToken;
    expect((await request('GET', '/api/session', { cookie })).json.role).toBe('operator');
    expect((await request('GET', '/api/admin/messages', { cookie })).status).toBe(200);
    const chat = await request('POST', '/api/admin/chat/helper.web_api', { cookie, csrf, body: { userId: 'panel', content: 'hello' } });
    expect(chat.status).toBeLessThan(300);
    const edit = await request('PUT', '/api/admin/agents/helper', { cookie, csrf, body: { provider: 'echo' } });
    expect([edit.status, edit.json.error.code]).toEqual([403, 'COCO_ERR_FORBIDDEN']);
    expect((await login()).csrf).not.toBe(csrf);
    expect((await request('POST', '/api/session', { body: { token: ADMIN_TOKEN } })).json.role).toBe('admin');

    writeFileSync(join(t!.root, 'cococat.yaml'), 'operator_tokens: []\n');
    t!.gateway.reload();
    expect((await request('GET', '/api/admin/messages', { cookie })).status).toBe(401);
    expect((await request('POST', '/api/session', { body: { token: OPS_TOKEN } })).status).toBe(401);
  });

  it('do only what their `can` lists: a reader reads, an answerer answers but hands nothing over', async () => {
    const READER = 'reader-operator-token-0123456789';
    const ANSWERER = 'answerer-operator-token-012345678';
    const settings = { operator_tokens: [{ name: 'rita', token: '${READER}', can: [] }, { name: 'ann', token: '${ANSWERER}', can: ['reply'] }] };
    t = await startTestGateway(spec({ settings }), { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, READER, ANSWERER }, log: capture.log });
    await t.until(() => t!.gateway.keeper.statusOf('helper.web_api')?.state === 'running');
    const id = (await t.chat('helper.web_api', { userId: 'bo', content: 'hi' }, { wait: true })).json.messageId;
    const as = (token: string, method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) =>
      t!.app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, payload: body === undefined ? undefined : JSON.stringify(body) });

    expect((await as(READER, 'GET', `/api/admin/messages/${id}`)).statusCode).toBe(200);
    const read = await as(READER, 'POST', `/api/admin/messages/${id}/reply`, { text: 'no' });
    expect([read.statusCode, read.json().error.message]).toEqual([403, 'operator rita may not reply to messages by hand (their can: nothing but reading)']);
    expect((await as(ANSWERER, 'POST', `/api/admin/messages/${id}/reply`, { text: 'A person here.' })).statusCode).toBe(202);
    const handOver = await as(ANSWERER, 'PUT', '/api/admin/entries/helper.web_api/handoffs/bo', { minutes: 5 });
    expect([handOver.statusCode, handOver.json().error.message]).toEqual([403, 'operator ann may not hand conversations over or back (their can: reply)']);
    expect((await t.admin('GET', '/entries/helper.web_api/handoffs/bo')).json.until).toBeNull();
    // The setup stays the admin's whatever `can` says.
    expect((await as(ANSWERER, 'PUT', '/api/admin/agents/helper', { provider: 'echo' })).json().error.message).toMatch(/needs the admin token/);

    // The panel learns what the session may do, and offers only that.
    const session = await request('POST', '/api/session', { body: { token: ANSWERER } });
    expect(session.json).toMatchObject({ role: 'operator', can: ['reply'] });
    expect((await request('POST', '/api/session', { body: { token: ADMIN_TOKEN } })).json.can).toBeUndefined();
    expect((await request('POST', '/api/session', { body: { token: OPS_TOKEN } })).status).toBe(401);
  });
});

describe('dashboard', () => {
  it('counts messages in and out of the last hour per entry, with the per-minute series and mailbox depth', async () => {
    await open();
    for (let i = 0; i < 3; i++) expect((await t!.chat('helper.web_api', { userId: `u${i}`, content: `hi ${i}` }, { wait: true })).status).toBe(200);
    const { cookie } = await login();
    const res = await t!.until(async () => {
      const r = await request('GET', '/api/admin/dashboard', { cookie });
      return r.json.entries[0].lastHour.out === 3 ? r : undefined;
    });
    const entry = res.json.entries.find((e: { key: string }) => e.key === 'helper.web_api');
    expect(entry).toMatchObject({ state: 'running', channel: 'web_api', lastHour: { in: 3, out: 3 }, mailbox: 0, dead: 0, webhookUrl: null });
    expect(res.json.totals).toMatchObject({ lastHour: { in: 3, out: 3 }, mailbox: 0, dead: 0, entries: { running: 1, error: 0 } });
    expect(res.json.totals.oldestWaitingAt).toEqual({ inbound: null, outbound: null });
    // Nobody answers from here on: the dashboard tells since when someone waits.
    await t!.gateway.heartbeat.stop();
    const sent = await t!.chat('helper.web_api', { userId: 'late', content: 'anyone?' });
    const waiting = (await request('GET', '/api/admin/dashboard', { cookie })).json.totals;
    expect(waiting.mailbox).toBe(1);
    expect(waiting.oldestWaitingAt.inbound).toBe((await t!.gateway.store.getMessage(sent.json.messageId))!.createdAt);
    expect(res.json.series.in).toHaveLength(60);
    expect(res.json.series.in.reduce((a: number, b: number) => a + b, 0)).toBe(3);
    expect(res.json.series.in.at(-1)).toBe(3);
    expect(res.json.series.start + 59 * res.json.series.bucketMs).toBeLessThanOrEqual(res.json.at);
    expect(res.json.problems).toEqual([]);
  });

  it('shows webhook URLs under server.public_url for webhook channels, and an entry in error with its reason', async () => {
    const wechat = {
      id: 'mp',
      type: 'channel',
      channel: 'wechat_mp',
      enabled: true,
      // Port 9 is closed: the channel's start asks for an access token and fails.
      config: { app_id: 'wx0123456789abcdef', app_secret: APP_SECRET, token: 'tok123', api_base_url: 'http://127.0.0.1:9' },
    };
    await open(
      spec({
        settings: { server: { public_url: 'https://bot.example.com/' } },
        agents: { helper: { profile: { provider: 'echo' }, entries: [webApiEntry(), wechat] }, ghost: { profile: { provider: 'telepathy' } } },
      }),
    );
    const { cookie, csrf } = await login();
    const res = await t!.until(async () => {
      const r = await request('GET', '/api/admin/dashboard', { cookie });
      return r.json.entries.find((e: { key: string; state: string }) => e.key === 'helper.mp' && e.state === 'error') ? r : undefined;
    });
    const mp = res.json.entries.find((e: { key: string }) => e.key === 'helper.mp');
    expect(mp.webhookUrl).toBe('https://bot.example.com/webhooks/wechat_mp/helper.mp');
    expect(mp.lastError.message.length).toBeGreaterThan(0);
    expect(res.json.totals.entries.error).toBe(1);
    // A workspace file that fails validation is listed with its file and field.
    expect(res.json.problems).toEqual([expect.objectContaining({ file: 'agents/ghost/profile.yaml', field: 'provider' })]);
    expect(res.body).not.toContain(APP_SECRET);
    const listed = await request('GET', '/api/admin/agents/helper/entries', { cookie });
    expect(listed.json.entries.find((e: { id: string }) => e.id === 'mp').webhookUrl).toBe('https://bot.example.com/webhooks/wechat_mp/helper.mp');

    // A CSRF token belongs to its own session: another login's token does not pass.
    expect((await request('POST', '/api/admin/entries/helper.mp/restart', { cookie, csrf: (await login()).csrf })).status).toBe(403);
    const restarted = await request('POST', '/api/admin/entries/helper.mp/restart', { cookie, csrf });
    expect(restarted.status).toBe(200);
    expect(t!.gateway.keeper.statusOf('helper.mp')?.restarts).toBe(0);
    expect((await request('POST', '/api/admin/entries/helper.nope/restart', { cookie, csrf })).status).toBe(404);
  });

  it('streams the dashboard over SSE at once and again when it changes', async () => {
    await open();
    const address = await t!.app.listen({ port: 0, host: '127.0.0.1' });
    const { cookie } = await login();
    const controller = new AbortController();
    const res = await fetch(`${address}/api/admin/events`, { headers: { cookie }, signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const nextDashboard = async (predicate: (d: any) => boolean) => {
      for (;;) {
        const blocks = text.split('\n\n');
        for (const block of blocks.slice(0, -1)) {
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (block.includes('event: dashboard') && data) {
            const d = JSON.parse(data.slice(6));
            if (predicate(d)) return d;
          }
        }
        text = blocks.at(-1)!;
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += decoder.decode(value, { stream: true });
      }
    };
    const first = await nextDashboard(() => true);
    expect(first.entries[0].lastHour.in).toBe(0);
    await t!.chat('helper.web_api', { userId: 'live', content: 'ping' }, { wait: true });
    const later = await nextDashboard((d) => d.entries[0].lastHour.out === 1);
    expect(later.entries[0].lastHour.in).toBe(1);
    controller.abort();
  });
});

describe('panel chat', () => {
  it('talks to an agent through its web_api entry with the session, streams the reply, lists the conversation and its transcript', async () => {
    await open();
    const address = await t!.app.listen({ port: 0, host: '127.0.0.1' });
    const { cookie, csrf } = await login();
    const sse = new SseClient(`${address}/api/admin/chat/helper.web_api/events?userId=panel-user`, ADMIN_TOKEN);
    await sse.connect();
    const sent = await request('POST', '/api/admin/chat/helper.web_api', { cookie, csrf, body: { userId: 'panel-user', content: 'hello panel' } });
    expect(sent.status).toBe(202);
    await t!.until(() => sse.events.length >= 1);
    expect(sse.events[0]!.data).toMatchObject({ messageId: sent.json.messageId, text: 'echo: hello panel', chunk: { index: 0, count: 1 } });
    await sse.close();

    const conversations = await request('GET', '/api/admin/chat/helper.web_api/conversations', { cookie });
    expect(conversations.json.conversations).toEqual([
      expect.objectContaining({ userId: 'panel-user', messages: 1, lastText: 'hello panel', lastMessageId: sent.json.messageId }),
    ]);
    const transcript = await request('GET', '/api/admin/chat/helper.web_api/transcript?userId=panel-user', { cookie });
    expect(transcript.json.turns.map((turn: { role: string; text: string }) => [turn.role, turn.text])).toEqual([
      ['user', 'hello panel'],
      ['assistant', 'echo: hello panel'],
    ]);
    expect(transcript.json.lastSeq).toBe(sse.events[0]!.id);
    expect(transcript.json.turns[1].format).toBe('text');

    // A reconnecting EventSource sends Last-Event-ID: the stream resumes after it, not from `after`.
    const resumed = new SseClient(`${address}/api/admin/chat/helper.web_api/events?userId=panel-user&after=0`, ADMIN_TOKEN);
    resumed.lastEventId = sse.events[0]!.id;
    await resumed.connect();
    const again = new SseClient(`${address}/api/admin/chat/helper.web_api/events?userId=panel-user&after=0`, ADMIN_TOKEN);
    await again.connect();
    await t!.until(() => again.events.length === 1);
    expect(resumed.events).toEqual([]);
    await Promise.all([resumed.close(), again.close()]);

    // The entry's API key still works for API clients, and the panel never needed it.
    expect((await t!.chat('helper.web_api', { userId: 'api', content: 'x' }, { key: TEST_API_KEY })).status).toBe(202);
    expect(JSON.stringify([conversations.json, transcript.json])).not.toContain(TEST_API_KEY);
  });

  it('refuses chat to an unknown entry (404), to a non-web_api entry, and an empty message (400 naming the field)', async () => {
    await open();
    const { cookie, csrf } = await login();
    expect((await request('POST', '/api/admin/chat/helper.nope', { cookie, csrf, body: { userId: 'a', content: 'x' } })).status).toBe(404);
    const empty = await request('POST', '/api/admin/chat/helper.web_api', { cookie, csrf, body: { userId: 'a', content: '' } });
    expect(empty.status).toBe(400);
    expect(empty.json.error.field).toBe('content');
    expect((await request('GET', '/api/admin/chat/helper.nope/transcript?userId=a', { cookie })).status).toBe(404);
  });
});

describe('panel files', () => {
  it('serves the built panel at / with a same-origin-only CSP, and the schemas its forms are made from', async () => {
    await open();
    const page = await request('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).toContain('<div id="root">');
    expect(String(page.headers['content-security-policy'])).toContain("default-src 'self'");
    expect(String(page.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    const asset = await request('GET', script!);
    expect(asset.status).toBe(200);
    expect(asset.headers['cache-control']).toContain('immutable');

    const { cookie } = await login();
    const schemas = await request('GET', '/api/admin/schemas', { cookie });
    const providers = schemas.json.agentProfile.oneOf.map((b: { properties: { provider: { const: string } } }) => b.properties.provider.const);
    expect(providers).toEqual(['echo', 'openai', 'http']);
    const openai = schemas.json.agentProfile.oneOf[1];
    expect(openai.properties.api_key.writeOnly).toBe(true);
    expect(schemas.json.scene.required).toContain('roster');
  });
});
