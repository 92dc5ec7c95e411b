import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OpenAIAgent } from '../../src/agents/index.js';
import { openaiProfileSchema } from '../../src/config/schema.js';
import { systemClock } from '../../src/core/clock.js';
import { CocoError } from '../../src/core/errors.js';
import { imagesOf, startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { solidPng } from '../helpers/images.js';
import { makeDeps, makeMessage, makeRequest, withSignal } from './helpers.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm({ apiKey: 'sk-test' });
});
afterAll(() => fake.close());
afterEach(() => {
  fake.reset();
  fake.apiKey = 'sk-test';
});

function profile(extra: Record<string, unknown> = {}) {
  return openaiProfileSchema.parse({ provider: 'openai', model: 'fake-model', base_url: fake.url, api_key: 'sk-test', ...extra });
}

async function runError(agent: OpenAIAgent): Promise<CocoError> {
  const err = await agent.run(withSignal(makeRequest())).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CocoError);
  return err as CocoError;
}

describe('openai agent through the real SDK', () => {
  it('sends the images the model links as images of their own with markdown_images, streamed or not; leaves them in the text without', async () => {
    const answer = 'The chart:\n\n![sales](https://cdn.example.com/sales.png)\n\nUp 4 %.';
    const linking = await startFakeLlm({ reply: () => answer });
    try {
      const images = [{ url: 'https://cdn.example.com/sales.png', alt: 'sales' }];
      const on = new OpenAIAgent(profile({ base_url: linking.url, markdown_images: true }), makeDeps(systemClock));
      expect(await on.run(withSignal(makeRequest()))).toMatchObject({ text: 'The chart:\n\nUp 4 %.', format: 'markdown', images });
      expect(await on.run(withSignal(makeRequest({ onText: () => {} })))).toMatchObject({ text: 'The chart:\n\nUp 4 %.', images });
      const off = await new OpenAIAgent(profile({ base_url: linking.url }), makeDeps(systemClock)).run(withSignal(makeRequest()));
      expect(off.text).toBe(answer);
      expect(off).not.toHaveProperty('images');
    } finally {
      await linking.close();
    }
  });

  it('sends the images of the message as data-URL parts after its text; history stays text', async () => {
    const agent = new OpenAIAgent(profile({ images: true }), makeDeps(systemClock));
    const png = solidPng(4, 4, [1, 2, 3]);
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xdb, 1, 2, 3]);
    const reply = await agent.run(
      withSignal(
        makeRequest({
          message: makeMessage({ content: 'compare these' }),
          history: [{ role: 'user', content: '[image]' }],
          images: [
            { data: png, mimeType: 'image/png' },
            { data: jpeg, mimeType: 'image/jpeg' },
          ],
        }),
      ),
    );
    expect(reply.text).toBe('reply to: compare these (+2 images)');
    const req = fake.requests[0]!;
    expect(req.body.messages![0]).toEqual({ role: 'user', content: '[image]' });
    const last = req.body.messages!.at(-1)!.content as { type: string }[];
    expect(last.map((p) => p.type)).toEqual(['text', 'image_url', 'image_url']);
    expect(imagesOf(req)).toEqual([
      { mimeType: 'image/png', data: png },
      { mimeType: 'image/jpeg', data: jpeg },
    ]);
  });

  it('sends system prompt, history and the message in order and returns the reply as markdown', async () => {
    const agent = new OpenAIAgent(profile({ system_prompt: 'Be brief.', temperature: 0.2, max_tokens: 64 }), makeDeps(systemClock));
    const reply = await agent.run(
      withSignal(
        makeRequest({
          message: makeMessage({ content: 'what time is it?' }),
          history: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: 'hello!' },
          ],
        }),
      ),
    );
    expect(reply).toEqual({ text: 'reply to: what time is it?', format: 'markdown', usage: { promptTokens: 10, completionTokens: 'reply to: what time is it?'.length } });
    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0]!;
    expect(req.hasAuth).toBe(true);
    expect(req.keyValid).toBe(true);
    expect(req.body.model).toBe('fake-model');
    expect(req.body.temperature).toBe(0.2);
    expect(req.body.max_tokens).toBe(64);
    expect(req.body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello!' },
      { role: 'user', content: 'what time is it?' },
    ]);
  });

  it('adds the scene to the system prompt and omits unset sampling options', async () => {
    const agent = new OpenAIAgent(profile({ system_prompt: 'Be brief.' }), makeDeps(systemClock));
    await agent.run(withSignal(makeRequest({ scene: { id: 'helpdesk', name: 'Helpdesk', context: 'Users ask about invoices.' } })));
    const body = fake.requests[0]!.body;
    expect(body.messages?.[0]).toEqual({ role: 'system', content: 'Be brief.\n\nScene: Helpdesk\nUsers ask about invoices.' });
    expect(body).not.toHaveProperty('temperature');
    expect(body).not.toHaveProperty('max_tokens');
  });

  it('sends no system message when there is neither prompt nor scene', async () => {
    const agent = new OpenAIAgent(profile(), makeDeps(systemClock));
    await agent.run(withSignal(makeRequest()));
    expect(fake.requests[0]!.body.messages).toEqual([{ role: 'user', content: 'hello there' }]);
  });

  it('falls back to OPENAI_API_KEY from the environment', async () => {
    fake.apiKey = 'sk-from-env';
    const agent = new OpenAIAgent(profile({ api_key: undefined }), makeDeps(systemClock, { OPENAI_API_KEY: 'sk-from-env' }));
    const reply = await agent.run(withSignal(makeRequest()));
    expect(reply.text).toBe('reply to: hello there');
    expect(fake.requests[0]!.keyValid).toBe(true);
  });

  it('throws a clear error naming api_key and OPENAI_API_KEY when no key is configured', () => {
    expect(() => new OpenAIAgent(profile({ api_key: undefined }), makeDeps(systemClock, {}))).toThrow(
      /"api_key".*OPENAI_API_KEY/,
    );
  });

  it('marks 401 and 400 as not retryable', async () => {
    const badKey = new OpenAIAgent(profile({ api_key: 'sk-wrong' }), makeDeps(systemClock));
    const e401 = await runError(badKey);
    expect(e401).toMatchObject({ code: 'COCO_ERR_AGENT_FAILED', statusCode: 401, retryable: false });
    expect(e401.message).not.toContain('sk-wrong');

    fake.failNext(1, { status: 400 });
    const e400 = await runError(new OpenAIAgent(profile(), makeDeps(systemClock)));
    expect(e400).toMatchObject({ statusCode: 400, retryable: false });
  });

  it('marks 500 and 429 as retryable and reads retry-after', async () => {
    const agent = new OpenAIAgent(profile(), makeDeps(systemClock));
    fake.failNext(1, { status: 500 });
    expect(await runError(agent)).toMatchObject({ statusCode: 500, retryable: true, retryAfterMs: undefined });
    fake.failNext(1, { status: 429, retryAfter: 1 });
    expect(await runError(agent)).toMatchObject({ statusCode: 429, retryable: true, retryAfterMs: 1000 });
  });

  it('treats empty completion content as an error', async () => {
    fake.failNext(1, { emptyContent: true });
    const err = await runError(new OpenAIAgent(profile(), makeDeps(systemClock)));
    expect(err.message).toMatch(/no content/);
    expect(err.retryable).toBe(true);
  });

  it('reports an unreachable endpoint as a retryable connection failure', async () => {
    const agent = new OpenAIAgent(profile({ base_url: 'http://127.0.0.1:1/v1' }), makeDeps(systemClock));
    const err = await runError(agent);
    expect(err.message).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1\/v1/);
    expect(err.retryable).toBe(true);
  });

  it('runs requests in parallel: the fake counts concurrent in-flight requests', async () => {
    fake.delayMs = 150;
    try {
      const agent = new OpenAIAgent(profile(), makeDeps(systemClock));
      const replies = await Promise.all(
        ['a', 'b', 'c'].map((c) => agent.run(withSignal(makeRequest({ message: makeMessage({ content: c }) })))),
      );
      expect(replies.map((r) => r.text)).toEqual(['reply to: a', 'reply to: b', 'reply to: c']);
      expect(fake.maxConcurrent).toBe(3);
      await expect.poll(() => fake.inFlight).toBe(0);
    } finally {
      fake.delayMs = 0;
    }
  });

  it('stops the request when the signal aborts', async () => {
    fake.failNext(1, { hang: true });
    const agent = new OpenAIAgent(profile(), makeDeps(systemClock));
    const controller = new AbortController();
    const pending = agent.run(withSignal(makeRequest(), controller.signal));
    await expect.poll(() => fake.inFlight).toBe(1);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toMatchObject({ message: 'chat completion aborted', retryable: false });
    await expect.poll(() => fake.inFlight).toBe(0);
  });
});

describe('openai agent streaming (onText)', () => {
  const ANSWER = 'Tea is best brewed with water just off the boil, for three minutes.';

  function streamingAgent(extra: Record<string, unknown> = {}) {
    return new OpenAIAgent(profile(extra), makeDeps(systemClock));
  }

  it('asks for a stream only when someone watches, and reports the whole text so far as it grows', async () => {
    const agent = streamingAgent();
    expect(agent.streams).toBe(true);
    const seen: string[] = [];
    const longFake = await startFakeLlm({ reply: () => ANSWER });
    try {
      const a = new OpenAIAgent(profile({ base_url: longFake.url }), makeDeps(systemClock));
      const reply = await a.run(withSignal(makeRequest({ onText: (t) => seen.push(t) })));
      // The tokens come with the stream's last chunk, as asked for.
      expect(reply).toEqual({ text: ANSWER, format: 'markdown', usage: { promptTokens: 10, completionTokens: ANSWER.length } });
      expect(longFake.requests[0]!.body.stream).toBe(true);
      expect(longFake.requests[0]!.body.stream_options).toEqual({ include_usage: true });
      // One call per word, each a longer prefix of the answer, the last the whole answer.
      expect(seen.length).toBe(ANSWER.split(' ').length);
      seen.forEach((t, i) => {
        expect(ANSWER.startsWith(t)).toBe(true);
        if (i > 0) expect(t.length).toBeGreaterThan(seen[i - 1]!.length);
      });
      expect(seen.at(-1)).toBe(ANSWER);

      const plain = await a.run(withSignal(makeRequest()));
      expect(plain).toEqual({ text: ANSWER, format: 'markdown', usage: { promptTokens: 10, completionTokens: ANSWER.length } });
      expect(longFake.requests[1]!.body.stream).toBeUndefined();
    } finally {
      await longFake.close();
    }
  });

  it('does not stream with stream: false in the profile', () => {
    expect(streamingAgent({ stream: false }).streams).toBe(false);
  });

  it('throws a retryable error when the stream breaks off, after reporting what came', async () => {
    const agent = streamingAgent();
    fake.failNext(1, { breakStream: true, afterPieces: 2 });
    const seen: string[] = [];
    const err = await agent.run(withSignal(makeRequest({ onText: (t) => seen.push(t) }))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CocoError);
    expect(err).toMatchObject({ code: 'COCO_ERR_AGENT_FAILED', retryable: true });
    expect(seen).toEqual(['reply ', 'reply to: ']);
  });

  it('maps an HTTP error before the stream starts like a plain call (429 with retry-after)', async () => {
    const agent = streamingAgent();
    fake.failNext(1, { status: 429, retryAfter: 2 });
    const err = await agent.run(withSignal(makeRequest({ onText: () => undefined }))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ statusCode: 429, retryable: true, retryAfterMs: 2_000 });
  });

  it('refuses a streamed answer without content as retryable, naming the finish reason', async () => {
    const agent = streamingAgent();
    fake.failNext(1, { emptyContent: true });
    const err = await agent.run(withSignal(makeRequest({ onText: () => undefined }))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'COCO_ERR_AGENT_FAILED', retryable: true });
    expect((err as Error).message).toMatch(/no content \(finish_reason: stop\)/);
  });
});
