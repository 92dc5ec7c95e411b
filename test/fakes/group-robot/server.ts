import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody, sendJson } from '../http.js';

/**
 * The two group-chat webhooks teams post alerts to, on one local server:
 * - a WeCom group robot (群机器人): `POST /cgi-bin/webhook/send?key=KEY` with `{msgtype: "text", text: {content}}`;
 *   answers `{errcode, errmsg}`: 0 "ok", 93000 for a wrong key, 40008 for a message it does not take,
 *   45009 past 20 messages a minute;
 * - a Feishu custom bot (自定义机器人): `POST /open-apis/bot/v2/hook/TOKEN` with `{msg_type: "text", content: {text}}`
 *   and, with a secret (签名校验), `timestamp` (seconds) and `sign` = base64 HMAC-SHA256 keyed by
 *   `timestamp + "\n" + secret` over nothing; answers `{code, msg}`: 0 "success", 19001 for a wrong token,
 *   19021 for a bad sign or a timestamp more than an hour off, 9499 past 5 a second.
 * Both answer HTTP 200 with their own codes, as the real ones do.
 */
export interface GroupRobotOptions {
  wecomKey?: string;
  feishuToken?: string;
  /** The Feishu bot's signing secret; without it no sign is checked. */
  feishuSecret?: string;
  /** The robots' clock, for their rate limits and the sign's age (the gateway's manual clock, in tests). */
  now?: () => number;
}

export interface RobotMessage {
  via: 'wecom' | 'feishu';
  text: string;
  /** Whether it @mentions everyone: WeCom `mentioned_list: ["@all"]`, Feishu `<at user_id="all">`. */
  mentionsAll?: boolean;
}

export interface FakeGroupRobot {
  readonly url: string;
  readonly wecomUrl: string;
  readonly feishuUrl: string;
  /** Messages the robots took, in order. */
  readonly received: RobotMessage[];
  /** Every POST with what it was answered. */
  readonly posts: { path: string; code: number }[];
  /** The next `n` POSTs get HTTP 500. */
  failNext(n: number): void;
  close(): Promise<void>;
}

export async function startFakeGroupRobot(opts: GroupRobotOptions = {}): Promise<FakeGroupRobot> {
  const wecomKey = opts.wecomKey ?? 'robot-key-0001';
  const feishuToken = opts.feishuToken ?? 'hook-token-0001';
  const received: RobotMessage[] = [];
  const posts: { path: string; code: number }[] = [];
  const wecomSent: number[] = [];
  const feishuSent: number[] = [];
  let failures = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    let body: Record<string, any>;
    try {
      body = JSON.parse(await readBody(req)) as Record<string, any>;
    } catch {
      body = {};
    }
    if (failures > 0) {
      failures--;
      posts.push({ path: url.pathname, code: 500 });
      return sendJson(res, 500, { error: 'scripted failure' });
    }
    const now = (opts.now ?? Date.now)();
    if (req.method === 'POST' && url.pathname === '/cgi-bin/webhook/send') {
      const answer = (errcode: number, errmsg: string) => (posts.push({ path: url.pathname, code: errcode }), sendJson(res, 200, { errcode, errmsg }));
      if (url.searchParams.get('key') !== wecomKey) return answer(93000, 'invalid webhook url');
      if (body.msgtype !== 'text' || typeof body.text?.content !== 'string' || Buffer.byteLength(body.text.content) > 2048) return answer(40008, 'invalid message type');
      if (wecomSent.filter((t) => t > now - 60_000).length >= 20) return answer(45009, 'api freq out of limit');
      wecomSent.push(now);
      const all = Array.isArray(body.text.mentioned_list) && body.text.mentioned_list.includes('@all');
      received.push({ via: 'wecom', text: body.text.content, ...(all ? { mentionsAll: true } : {}) });
      return answer(0, 'ok');
    }
    const hook = /^\/open-apis\/bot\/v2\/hook\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && hook) {
      const answer = (code: number, msg: string) => (posts.push({ path: url.pathname, code }), sendJson(res, 200, { code, msg, data: {} }));
      if (hook[1] !== feishuToken) return answer(19001, 'param invalid: incoming webhook access token invalid');
      if (opts.feishuSecret !== undefined) {
        const ts = Number(body.timestamp);
        const expected = createHmac('sha256', `${body.timestamp}\n${opts.feishuSecret}`).update('').digest('base64');
        if (!Number.isFinite(ts) || Math.abs(now / 1000 - ts) > 3600 || body.sign !== expected) {
          return answer(19021, 'sign match fail or timestamp is not within one hour from current time');
        }
      }
      if (body.msg_type !== 'text' || typeof body.content?.text !== 'string') return answer(9499, 'Bad Request');
      if (feishuSent.filter((t) => t > now - 1_000).length >= 5) return answer(9499, 'too many request');
      feishuSent.push(now);
      const at = /^<at user_id="all">[^<]*<\/at> ?/.exec(body.content.text);
      received.push({ via: 'feishu', text: at ? body.content.text.slice(at[0].length) : body.content.text, ...(at ? { mentionsAll: true } : {}) });
      return answer(0, 'success');
    }
    posts.push({ path: url.pathname, code: 404 });
    sendJson(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  }

  const server = createServer((req, res) => void handle(req, res).catch(() => sendJson(res, 500, { error: 'fake failed' })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    wecomUrl: `${url}/cgi-bin/webhook/send?key=${wecomKey}`,
    feishuUrl: `${url}/open-apis/bot/v2/hook/${feishuToken}`,
    received,
    posts,
    failNext(n) {
      failures += n;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
