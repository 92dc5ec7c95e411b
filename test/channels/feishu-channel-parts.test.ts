import { afterEach, describe, expect, it } from 'vitest';
import { FeishuApiError, FeishuHttp, FeishuTokens, sendError } from '../../src/channels/feishu/api.js';
import { decodeFrame, encodePing, METHOD_CONTROL } from '../../src/channels/feishu/frame.js';
import { sdkLogger } from '../../src/channels/feishu/long-connection.js';
import { ManualClock } from '../../src/core/clock.js';
import { CocoError } from '../../src/core/errors.js';
import { decodeFrame as fakeDecode, encodeFrame as fakeEncode, FakeFeishu, headerOf } from '../fakes/feishu/index.js';
import { captureLogger } from '../helpers/logs.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startFake(opts: Parameters<typeof FakeFeishu.start>[0] = {}) {
  const fake = await FakeFeishu.start(opts);
  cleanups.push(() => fake.close());
  return fake;
}

describe('feishu frame codec', () => {
  it('writes a ping the platform reads: control frame, type ping, on the service id, required fields present', () => {
    const frame = fakeDecode(encodePing(123_456));
    expect(frame).toMatchObject({ SeqID: 0, LogID: 0, service: 123_456, method: 0 });
    expect(headerOf(frame, 'type')).toBe('ping');
  });

  it('reads method, headers and payload of a pong, skipping 64-bit ids', () => {
    const bytes = fakeEncode({
      SeqID: 2 ** 40 + 7,
      LogID: 9_007_199_254_740_000,
      service: 42,
      method: METHOD_CONTROL,
      headers: [{ key: 'type', value: 'pong' }, { key: 'trace_id', value: '追踪' }],
      payload: Buffer.from('{"PingInterval":90}'),
    });
    const frame = decodeFrame(bytes);
    expect(frame.method).toBe(0);
    expect(frame.headers).toEqual({ type: 'pong', trace_id: '追踪' });
    expect(frame.payload?.toString()).toBe('{"PingInterval":90}');
  });

  it('throws on a truncated frame instead of reading past its end', () => {
    const bytes = encodePing(7);
    expect(() => decodeFrame(bytes.subarray(0, bytes.length - 3))).toThrow(/truncated/);
  });
});

describe('feishu tenant token owner', () => {
  it('renews 3 minutes before expiry, once for all concurrent callers, and again for a refused token', async () => {
    const fake = await startFake({ tokenTtlSeconds: 7200 });
    const clock = new ManualClock(Date.now());
    const tokens = new FeishuTokens(new FeishuHttp(5_000), fake.url, fake.appId, fake.appSecret, clock);
    const [a, b, c] = await Promise.all([tokens.token(), tokens.token(), tokens.token()]);
    expect(new Set([a, b, c]).size).toBe(1);
    expect(fake.counters.tokenRequests).toBe(1);

    // 3 min 1 s before expiry: still the cached one, no request.
    await clock.advance((7200 - 181) * 1000);
    expect(await tokens.token()).toBe(a);
    expect(fake.counters.tokenRequests).toBe(1);
    // Inside the 3 minutes: a new request (the platform, 2 h on, issues a new token).
    await clock.advance(2_000);
    fake.advanceTime(7200 - 179);
    const renewed = await tokens.token();
    expect(fake.counters.tokenRequests).toBe(2);
    expect(renewed).not.toBe(a);

    // A token the platform refused (99991663) is replaced even though it has not expired here.
    fake.invalidateTokens();
    const replaced = await tokens.token(renewed);
    expect(replaced).not.toBe(renewed);
    expect(fake.counters.tokenRequests).toBe(3);
  });

  it('names wrong credentials as a start error that retrying does not fix', async () => {
    const fake = await startFake();
    const tokens = new FeishuTokens(new FeishuHttp(5_000), fake.url, fake.appId, 'not-the-secret-0000', new ManualClock());
    const err = (await tokens.token().catch((e: unknown) => e)) as CocoError;
    expect(err).toBeInstanceOf(CocoError);
    expect(err.code).toBe('COCO_ERR_CHANNEL_START');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/10014.*check app_id and app_secret/);
    expect(err.message).not.toContain('not-the-secret-0000');
  });
});

describe('feishu HTTP and send errors', () => {
  it('turns a 429 into an error carrying the reset header, without the bearer token', async () => {
    const fake = await startFake();
    const http = new FeishuHttp(5_000);
    const token = await new FeishuTokens(http, fake.url, fake.appId, fake.appSecret, new ManualClock()).token();
    fake.rateLimitStorm(1, 4);
    const err = (await http
      .post(`${fake.url}/open-apis/im/v1/messages?receive_id_type=chat_id`, { receive_id: 'oc_x', msg_type: 'text', content: '{"text":"x"}' }, { headers: { Authorization: `Bearer ${token}` } })
      .catch((e: unknown) => e)) as FeishuApiError;
    expect(err).toBeInstanceOf(FeishuApiError);
    expect(err).toMatchObject({ status: 429, code: 99991400, resetSeconds: 4 });
    expect(err.message).not.toContain(token);
    expect(JSON.stringify(err)).not.toContain(token);
  });

  it('maps platform answers to retryable or permanent send errors', () => {
    const permanent = sendError(new FeishuApiError('/open-apis/im/v1/messages', 400, 230002, 'bot not in chat'));
    expect(permanent).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: false });
    expect(permanent.message).toMatch(/230002.*not in this chat/);
    expect(sendError(new FeishuApiError('/open-apis/im/v1/messages', 429, 99991400, 'limit', 30), 30_000)).toMatchObject({ retryable: true, retryAfterMs: 30_000 });
    expect(sendError(new FeishuApiError('/open-apis/im/v1/messages', 500, 1, 'busy'))).toMatchObject({ retryable: true });
    expect(sendError(new FeishuApiError('/open-apis/im/v1/messages', 0, undefined, 'ECONNREFUSED'))).toMatchObject({ retryable: true });
  });
});

describe('the SDK log adapter', () => {
  it('keeps connection tickets, access keys and bearer tokens out of the log', () => {
    const capture = captureLogger('trace');
    const log = sdkLogger(capture.log);
    log.debug('[ws]', 'get connect config success, ws url: wss://msg-frontier.feishu.cn/ws/v2?fpid=493&device_id=1&access_key=abcdef0123&service_id=7&ticket=5ecret-ticket');
    log.error({ config: { headers: { Authorization: 'Bearer t-g1234secret' } } }, new Error('Request failed: Bearer t-g1234secret'));
    log.warn('[ws]', 'app_secret=very-secret&x=1');
    const out = capture.raw();
    expect(out).toContain('get connect config success, ws url: wss://msg-frontier.feishu.cn/ws/v2?…');
    for (const secret of ['abcdef0123', '5ecret-ticket', 't-g1234secret', 'very-secret']) expect(out).not.toContain(secret);
    expect(capture.lines).toHaveLength(3);
  });
});
