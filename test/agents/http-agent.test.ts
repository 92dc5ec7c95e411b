import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpAgent, runAgent } from '../../src/agents/index.js';
import { httpProfileSchema } from '../../src/config/schema.js';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import { CocoError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { solidPng } from '../helpers/images.js';
import { makeDeps, makeMessage, makeRequest, withSignal } from './helpers.js';

interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
}
/** A whole body, or a text/event-stream written piece by piece (`cut`: the connection then drops). */
type Answer = { status: number; type?: string; body: string } | { events: string[]; gapMs?: number; cut?: boolean };

const SECRET = 'a-shared-secret-of-32-characters';
const received: Received[] = [];
const answers: Answer[] = [];
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') });
      const a = answers.shift() ?? { status: 200, type: 'application/json', body: JSON.stringify({ reply: 'ok' }) };
      if ('events' in a) return void writeEvents(res, a);
      res.writeHead(a.status, a.type ? { 'content-type': a.type } : {});
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/agent`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
afterEach(() => {
  received.length = 0;
  answers.length = 0;
});

async function writeEvents(res: ServerResponse, a: { events: string[]; gapMs?: number; cut?: boolean }): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const e of a.events) {
    res.write(e);
    await new Promise((r) => setTimeout(r, a.gapMs ?? 0));
  }
  if (a.cut) res.socket?.end();
  else res.end();
}

const delta = (text: string) => `event: delta\ndata: ${JSON.stringify({ text })}\n\n`;

const profile = (extra: Record<string, unknown> = {}) =>
  httpProfileSchema.parse({ provider: 'http', url, secret: SECRET, fallback_reply: 'fallback', ...extra });

async function runError(agent: HttpAgent): Promise<CocoError> {
  const err = await agent.run(withSignal(makeRequest())).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CocoError);
  return err as CocoError;
}

describe('http agent', () => {
  it('POSTs the documented payload with a signature the receiver can verify', async () => {
    answers.push({ status: 200, type: 'application/json', body: JSON.stringify({ reply: '**hi**', format: 'markdown' }) });
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 0, 900));
    const agent = new HttpAgent(profile(), makeDeps(clock));
    const reply = await agent.run(
      withSignal(
        makeRequest({
          message: makeMessage({ content: 'order status?', isGroup: true, conversationId: 'g-9' }),
          history: [{ role: 'assistant', content: 'welcome' }],
          scene: { id: 'shop', name: 'Shop', context: 'An online shop.' },
        }),
      ),
    );
    expect(reply).toEqual({ text: '**hi**', format: 'markdown' });

    const { headers, raw } = received[0]!;
    expect(headers['content-type']).toBe('application/json');
    const timestamp = headers['x-cococat-timestamp'] as string;
    expect(timestamp).toBe(String(Date.UTC(2026, 0, 1) / 1000));
    const expected = 'sha256=' + createHmac('sha256', SECRET).update(`${timestamp}.${raw}`).digest('hex');
    expect(headers['x-cococat-signature']).toBe(expected);

    expect(JSON.parse(raw)).toEqual({
      agent_id: 'support',
      message: {
        id: 'm-1',
        user_id: 'u-1',
        conversation_id: 'g-9',
        content: 'order status?',
        msg_type: 'text',
        channel_type: 'web_api',
        is_group: true,
        timestamp: 1_767_225_600_000,
      },
      history: [{ role: 'assistant', content: 'welcome' }],
      scene: { id: 'shop', name: 'Shop', context: 'An online shop.' },
    });
  });

  it('carries the images of the message as base64 with their type, under the same signature', async () => {
    answers.push({ status: 200, type: 'application/json', body: JSON.stringify({ reply: 'a red square' }) });
    const agent = new HttpAgent(profile({ images: true }), makeDeps(systemClock));
    const png = solidPng();
    await agent.run(withSignal(makeRequest({ message: makeMessage({ content: '[image]', msgType: 'image' }), images: [{ data: png, mimeType: 'image/png' }] })));
    const { headers, raw } = received[0]!;
    const payload = JSON.parse(raw);
    expect(payload.message.images).toEqual([{ mime_type: 'image/png', data_base64: png.toString('base64') }]);
    expect(Buffer.from(payload.message.images[0].data_base64, 'base64').equals(png)).toBe(true);
    const expected = 'sha256=' + createHmac('sha256', SECRET).update(`${headers['x-cococat-timestamp'] as string}.${raw}`).digest('hex');
    expect(headers['x-cococat-signature']).toBe(expected);
  });

  it('carries the files, voice messages and videos of the message as base64 with kind, name and type', async () => {
    answers.push({ status: 200, type: 'application/json', body: JSON.stringify({ reply: 'read it' }) });
    const agent = new HttpAgent(profile({ files: true }), makeDeps(systemClock));
    const pdf = Buffer.from('%PDF-1.7\n1 0 obj');
    const amr = Buffer.from('#!AMR\n');
    await agent.run(withSignal(makeRequest({
      message: makeMessage({ content: '[file: q3.pdf]', msgType: 'file' }),
      files: [{ kind: 'file', name: 'q3.pdf', data: pdf, mimeType: 'application/pdf' }, { kind: 'voice', data: amr, mimeType: 'audio/amr' }],
    })));
    const payload = JSON.parse(received[0]!.raw);
    expect(payload.message.files).toEqual([
      { kind: 'file', name: 'q3.pdf', mime_type: 'application/pdf', data_base64: pdf.toString('base64') },
      { kind: 'voice', mime_type: 'audio/amr', data_base64: amr.toString('base64') },
    ]);
    expect(payload.message).not.toHaveProperty('images');
  });

  it('passes on the tokens a service reports with its answer, and ignores a malformed count', async () => {
    const agent = new HttpAgent(profile(), makeDeps(systemClock));
    answers.push({ status: 200, type: 'application/json', body: JSON.stringify({ reply: 'a', usage: { prompt_tokens: 30, completion_tokens: 7 } }) });
    expect(await agent.run(withSignal(makeRequest()))).toEqual({ text: 'a', format: 'text', usage: { promptTokens: 30, completionTokens: 7 } });
    answers.push({ status: 200, type: 'application/json', body: JSON.stringify({ reply: 'b', usage: { prompt_tokens: -1, completion_tokens: '7' } }) });
    expect(await agent.run(withSignal(makeRequest()))).toEqual({ text: 'b', format: 'text' });
  });

  it('passes on a hand-over to a person with the answer, and refuses a malformed one', async () => {
    const agent = new HttpAgent(profile(), makeDeps(systemClock));
    const json = (body: unknown) => answers.push({ status: 200, type: 'application/json', body: JSON.stringify(body) });
    json({ reply: 'a', handoff: true });
    expect(await agent.run(withSignal(makeRequest()))).toEqual({ text: 'a', format: 'text', handoff: {} });
    json({ reply: 'b', handoff: { minutes: 90 } });
    expect(await agent.run(withSignal(makeRequest()))).toEqual({ text: 'b', format: 'text', handoff: { minutes: 90 } });
    json({ reply: 'c', handoff: false });
    expect(await agent.run(withSignal(makeRequest()))).toEqual({ text: 'c', format: 'text' });
    for (const handoff of [{ minutes: 0 }, { minutes: 10_081 }, { minutes: 1.5 }, 'yes', [5]]) {
      json({ reply: 'd', handoff });
      const err = await runError(agent);
      expect(err.message).toContain('"handoff" must be true or {"minutes": an integer from 1 to 10080}');
      expect(err.retryable).toBe(false);
    }
  });

  it('takes "later": an answer with text now and more later, or nothing now; refuses a malformed one', async () => {
    const agent = new HttpAgent(profile(), makeDeps(systemClock));
    const json = (body: unknown) => answers.push({ status: 200, type: 'application/json', body: JSON.stringify(body) });
    json({ reply: 'On it.', later: true });
    expect(await agent.run(withSignal(makeRequest()))).toEqual({ text: 'On it.', format: 'text', later: true });
    json({ later: true });
    expect(await agent.run(withSignal(makeRequest()))).toEqual({ text: '', format: 'text', later: true });
    json({ reply: 'now only', later: false });
    expect(await agent.run(withSignal(makeRequest()))).toEqual({ text: 'now only', format: 'text' });
    json({ later: 'yes' });
    expect((await runError(agent)).message).toContain('"later" must be true or false');
    json({ reply: '' });
    expect((await runError(agent)).message).toContain('(or "later": true)');
  });

  it('takes images in the answer, by URL or as base64, with or without text', async () => {
    const agent = new HttpAgent(profile(), makeDeps(systemClock));
    const png = solidPng(3, 2);
    const images = [{ url: 'https://cdn.example.com/chart.png?sig=abc', alt: 'the chart' }, { data_base64: png.toString('base64'), mime_type: 'image/PNG' }];
    answers.push({ status: 200, type: 'application/json', body: JSON.stringify({ reply: 'here', images }) });
    expect(await agent.run(withSignal(makeRequest()))).toEqual({
      text: 'here',
      format: 'text',
      images: [{ url: 'https://cdn.example.com/chart.png?sig=abc', alt: 'the chart' }, { data: png.toString('base64'), mimeType: 'image/png' }],
    });
    answers.push({ status: 200, type: 'application/json', body: JSON.stringify({ images: [images[1]] }) });
    expect(await agent.run(withSignal(makeRequest()))).toMatchObject({ text: '', images: [{ mimeType: 'image/png' }] });
  });

  it('refuses malformed images naming the field, without a retry', async () => {
    const cases: [unknown, RegExp][] = [
      ['a.png', /"images" must be an array/],
      [Array.from({ length: 5 }, () => ({ url: 'https://x.example/a.png' })), /"images" holds 5 images; at most 4/],
      [[{ url: 'ftp://x.example/a.png' }], /"images\.0\.url" is invalid/],
      [[{ url: 'https://x.example/a.png' }, { data_base64: 'not base64!', mime_type: 'image/png' }], /"images\.1\.data_base64" is invalid: not base64/],
      [[{ data_base64: 'AAAA', mime_type: 'text/html' }], /"images\.0\.mime_type" is invalid: not an image type/],
      [[{ data_base64: 'AAAA' }], /"images\.0\.mime_type" is invalid/],
      [[{ url: 'https://x.example/a.png', width: 3 }], /"images\.0" is invalid/],
    ];
    for (const [images, message] of cases) {
      answers.push({ status: 200, type: 'application/json', body: JSON.stringify({ reply: 'x', images }) });
      const err = await runError(new HttpAgent(profile(), makeDeps(systemClock)));
      expect(err, JSON.stringify(images).slice(0, 60)).toMatchObject({ code: 'COCO_ERR_AGENT_FAILED', retryable: false });
      expect(err.message).toMatch(message);
    }
    expect(received).toHaveLength(cases.length);
    answers.push({ status: 200, type: 'application/json', body: JSON.stringify({ reply: ' ', images: [] }) });
    expect((await runError(new HttpAgent(profile(), makeDeps(systemClock)))).message).toMatch(/neither a non-empty string "reply" nor "images"/);
  });

  it('sends no signature without a secret, and takes a text/plain body as the reply', async () => {
    answers.push({ status: 200, type: 'text/plain; charset=utf-8', body: 'plain answer' });
    const agent = new HttpAgent(profile({ secret: undefined }), makeDeps(systemClock));
    expect(await agent.run(withSignal(makeRequest()))).toEqual({ text: 'plain answer', format: 'text' });
    expect(received[0]!.headers).not.toHaveProperty('x-cococat-signature');
    expect(JSON.parse(received[0]!.raw)).not.toHaveProperty('scene');
  });

  it('retries a 503 through runAgent', async () => {
    answers.push({ status: 503, type: 'text/plain', body: 'overloaded' });
    const p = profile({ retries: 2 });
    const deps = { ...makeDeps(systemClock), backoff: { baseMs: 5, capMs: 20 } };
    const outcome = await runAgent(new HttpAgent(p, deps), p, makeRequest(), deps);
    expect(outcome).toMatchObject({ ok: true, attempts: 2, reply: { text: 'ok', format: 'text' } });
    expect(received).toHaveLength(2);
  });

  it('does not retry a 400 and answers with the fallback', async () => {
    answers.push({ status: 400, type: 'application/json', body: '{"error":"bad"}' });
    const p = profile({ retries: 2 });
    const deps = { clock: systemClock, log: silentLogger(), env: {}, backoff: { baseMs: 5, capMs: 20 } };
    const outcome = await runAgent(new HttpAgent(p, deps), p, makeRequest(), deps);
    expect(outcome).toMatchObject({ ok: false, attempts: 1, reply: { text: 'fallback' } });
    expect(received).toHaveLength(1);
  });

  it('asks again with less history when the service refuses the length (413, OpenAI\'s code, or an error event with it)', async () => {
    const p = profile({ retries: 0, stream: true });
    const deps = { clock: systemClock, log: silentLogger(), env: {}, backoff: { baseMs: 5, capMs: 20 } };
    const history = Array.from({ length: 8 }, (_, i) => ({ role: (i % 2 ? 'assistant' : 'user') as 'user' | 'assistant', content: `turn ${i}` }));
    answers.push({ status: 413, type: 'text/plain', body: 'request entity too large' });
    answers.push({ status: 400, type: 'application/json', body: JSON.stringify({ error: { code: 'context_length_exceeded', message: 'too long' } }) });
    answers.push({ events: ['event: error\ndata: {"message":"prompt too long","code":"context_length_exceeded"}\n\n'] });
    // Someone watches (onText), so the service is asked for a stream: its error event is the third refusal.
    const outcome = await runAgent(new HttpAgent(p, deps), p, makeRequest({ history, onText: () => undefined }), deps);
    expect(outcome).toMatchObject({ ok: true, attempts: 4, reply: { text: 'ok' }, historyCut: { kept: 0, of: 8 } });
    expect(received.map((r) => (JSON.parse(r.raw) as { history: unknown[] }).history.length)).toEqual([8, 4, 2, 0]);
    // A plain 400 is no such refusal: not asked again.
    answers.push({ status: 400, type: 'application/json', body: '{"error":{"code":"invalid_request"}}' });
    expect((await runError(new HttpAgent(p, deps))).code).toBe('COCO_ERR_AGENT_FAILED');
  });

  it('rejects invalid JSON and a missing reply as not retryable, with a clear message', async () => {
    const agent = new HttpAgent(profile(), makeDeps(systemClock));
    answers.push({ status: 200, type: 'application/json', body: '{not json' });
    const bad = await runError(agent);
    expect(bad.message).toMatch(/not valid JSON/);
    expect(bad.retryable).toBe(false);

    answers.push({ status: 200, type: 'application/json', body: '{"answer":"x"}' });
    const missing = await runError(agent);
    expect(missing.message).toMatch(/neither a non-empty string "reply" nor "images"/);
    expect(missing.retryable).toBe(false);
  });

  it('passes retry-after from a 429', async () => {
    answers.push({ status: 429, type: 'text/plain', body: 'slow down' });
    server.once('request', (_req, res) => res.setHeader('retry-after', '2'));
    const err = await runError(new HttpAgent(profile(), makeDeps(systemClock)));
    expect(err).toMatchObject({ statusCode: 429, retryable: true, retryAfterMs: 2000 });
  });
});

describe('http agent streaming (stream: true)', () => {
  const watched = (seen: string[]) => makeRequest({ onText: (t) => seen.push(t) });

  it('asks for a stream when someone watches, and reports the text so far after each delta', async () => {
    answers.push({
      events: [delta('Hello'), ': keepalive\n\n', delta(', '), delta('**world**'), 'event: done\ndata: {"format":"markdown","usage":{"prompt_tokens":12,"completion_tokens":4}}\n\n'],
      gapMs: 20,
    });
    const agent = new HttpAgent(profile({ stream: true }), makeDeps(systemClock));
    expect(agent.streams).toBe(true);
    const seen: string[] = [];
    expect(await agent.run(withSignal(watched(seen)))).toEqual({ text: 'Hello, **world**', format: 'markdown', usage: { promptTokens: 12, completionTokens: 4 } });
    expect(seen).toEqual(['Hello', 'Hello, ', 'Hello, **world**']);
    const sent = received[0]!;
    expect(JSON.parse(sent.raw).stream).toBe(true);
    expect(sent.headers.accept).toMatch(/^text\/event-stream/);
    // The signature covers the body with its stream flag.
    const ts = sent.headers['x-cococat-timestamp'] as string;
    expect(sent.headers['x-cococat-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${sent.raw}`).digest('hex')}`);
  });

  it('takes the images of a streamed answer from its done event', async () => {
    const png = solidPng();
    const done = { images: [{ data_base64: png.toString('base64'), mime_type: 'image/png', alt: 'red' }] };
    answers.push({ events: [delta('see'), `event: done\ndata: ${JSON.stringify(done)}\n\n`] });
    const agent = new HttpAgent(profile({ stream: true }), makeDeps(systemClock));
    expect(await agent.run(withSignal(watched([])))).toEqual({ text: 'see', format: 'text', images: [{ data: png.toString('base64'), mimeType: 'image/png', alt: 'red' }] });
  });

  it('takes a service that answers in one piece anyway, and asks for no stream when nobody watches or stream is off', async () => {
    answers.push({ status: 200, type: 'application/json', body: JSON.stringify({ reply: 'whole' }) });
    const seen: string[] = [];
    expect((await new HttpAgent(profile({ stream: true }), makeDeps(systemClock)).run(withSignal(watched(seen)))).text).toBe('whole');
    expect(seen).toEqual([]);
    await new HttpAgent(profile({ stream: true }), makeDeps(systemClock)).run(withSignal(makeRequest()));
    const off = new HttpAgent(profile(), makeDeps(systemClock));
    expect(off.streams).toBe(false);
    await off.run(withSignal(watched([])));
    expect(received.map((r) => [JSON.parse(r.raw).stream, r.headers.accept])).toEqual([
      [true, expect.stringMatching(/event-stream/)],
      [undefined, undefined],
      [undefined, undefined],
    ]);
  });

  it('retries a stream that breaks off or reports a retryable error; not a malformed one', async () => {
    const p = profile({ stream: true, retries: 2 });
    const deps = { clock: systemClock, log: silentLogger(), env: {}, backoff: { baseMs: 5, capMs: 20 } };
    answers.push({ events: [delta('partial')], cut: true });
    answers.push({ events: [delta('x'), 'event: error\ndata: {"message":"model overloaded"}\n\n'] });
    answers.push({ events: [delta('third '), delta('time'), 'event: done\ndata: {}\n\n'] });
    const seen: string[] = [];
    const outcome = await runAgent(new HttpAgent(p, deps), p, watched(seen), deps);
    expect(outcome).toMatchObject({ ok: true, attempts: 3, reply: { text: 'third time', format: 'text' } });
    expect(seen).toEqual(['partial', 'x', 'third ', 'third time']);

    const agent = new HttpAgent(p, makeDeps(systemClock));
    const cases: [string[], RegExp, boolean][] = [
      [[delta('a')], /ended its stream before the "done" event/, true],
      [['event: delta\ndata: {"txt":"a"}\n\n'], /"delta" event has no string "text"/, false],
      [['event: delta\ndata: nope\n\n'], /"delta" event's data is not a JSON object/, false],
      [['event: done\ndata: {}\n\n'], /finished without any text or images/, false],
      [[delta('a'), 'event: done\ndata: {"format":"html"}\n\n'], /"format" must be "text" or "markdown"/, false],
      [['event: error\ndata: {"message":"bad input","retryable":false}\n\n'], /reported an error: bad input/, false],
    ];
    for (const [events, message, retryable] of cases) {
      answers.push({ events });
      const err = await agent.run(withSignal(watched([]))).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, String(message)).toBeInstanceOf(CocoError);
      expect((err as CocoError).message).toMatch(message);
      expect((err as CocoError).retryable).toBe(retryable);
    }
  });
});
