import { describe, expect, it } from 'vitest';
import { FakeWecom, type BotDelivery } from '../fakes/wecom/index.js';
import { startFakeLlm, type FakeLlmOptions } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';

/**
 * The robot shows the reply while a streaming agent writes it: unfinished frames of the reply's
 * stream with the text so far, then the one finished frame with the whole answer.
 */

const ENTRY = 'bot.wecom_bot';
/** Twelve words, about 1.1 s at 100 ms a word: previews go out at most every 0.5 s, so two or more show. */
const ANSWER = 'Streams show the reply while the model writes it, word by word, then finish.';
const SECOND = 'A second answer, written again from its first word after the first broke off.';

const opened = closeAfterEach();

/** A fake WeCom, a fake LLM and a gateway with one wecom_bot entry served by an openai agent, running. */
async function setup(opts: { llm?: FakeLlmOptions; config?: Record<string, unknown>; profile?: Record<string, unknown> } = {}) {
  const llm = opened(await startFakeLlm({ pieceDelayMs: 100, reply: () => ANSWER, ...opts.llm }));
  const fake = opened(await FakeWecom.start());
  const entry = { type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl, ...opts.config } };
  const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', ...opts.profile };
  const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [entry] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  await fake.waitForBotConnection();
  return { t, fake, llm };
}

interface Frame {
  cmd: string;
  reqId: string;
  errcode: number | undefined;
  id: string;
  content: string;
  finish: boolean;
}

/** Every frame the robot got for the callback, in arrival order, accepted or not. */
function framesOf(d: BotDelivery): Frame[] {
  return d.replies.map((r) => {
    const s = (r.body.stream ?? {}) as { id?: string; content?: string; finish?: boolean };
    return { cmd: r.cmd, reqId: r.reqId, errcode: r.errcode, id: s.id ?? '', content: s.content ?? '', finish: s.finish === true };
  });
}

/** Text frames shown before the answer (the "…" of show_typing left out). */
const partials = (frames: Frame[]) => frames.filter((f) => !f.finish && f.content !== '…');

/**
 * The callback's frames are one accepted stream on its req_id, ending in exactly one finished frame
 * with `text`, after which nothing came (waited for a while after the answer).
 */
async function expectOneFinishedStream(fake: FakeWecom, d: BotDelivery, text: string): Promise<Frame[]> {
  await fake.waitForBotReply(d, 20_000);
  await new Promise((r) => setTimeout(r, 1_200)); // more than two preview intervals: a late frame would show here
  const frames = framesOf(d);
  expect(frames.length).toBeGreaterThan(0);
  for (const f of frames) expect(f).toMatchObject({ cmd: 'aibot_respond_msg', reqId: d.reqId, errcode: 0, id: frames[0]!.id });
  expect(frames.filter((f) => f.finish)).toHaveLength(1);
  expect(frames.at(-1)).toMatchObject({ finish: true, content: text });
  expect(fake.botProtocolErrors).toEqual([]);
  // The user got one answer: that frame, and nothing sent proactively.
  expect(d.text).toBe(text);
  expect(fake.botSent).toHaveLength(0);
  return frames;
}

describe('wecom_bot shows the reply while the agent writes it', () => {
  it('sends growing unfinished frames of the text so far on the reply stream, then one finished frame with the whole answer', async () => {
    const { t, fake, llm } = await setup();
    const d = fake.sendBotText('tell me about streams');
    const frames = await expectOneFinishedStream(fake, d, ANSWER);
    const shown = partials(frames);
    expect(shown.length).toBeGreaterThanOrEqual(2);
    // Each preview is the start of the next, and of the answer.
    for (const [i, f] of shown.entries()) {
      const next = shown[i + 1]?.content ?? ANSWER;
      expect(next.startsWith(f.content), `frame ${i}: ${JSON.stringify(f.content)} then ${JSON.stringify(next)}`).toBe(true);
      if (i + 1 < shown.length) expect(next.length).toBeGreaterThan(f.content.length);
    }
    // The model was asked once, as a stream; the reply was stored and delivered once.
    expect(llm.requests).toHaveLength(1);
    expect(llm.requests[0]!.body).toMatchObject({ stream: true });
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.messagesOut === 1);
    expect(t.gateway.keeper.statusOf(ENTRY)).toMatchObject({ messagesIn: 1, messagesOut: 1 });
  }, 30_000);

  it('sends no partial frames for a profile with stream: false, only "…" while the agent is slow, then the answer', async () => {
    const { fake, llm } = await setup({ llm: { delayMs: 900 }, profile: { stream: false } });
    const d = fake.sendBotText('no streaming please');
    const frames = await expectOneFinishedStream(fake, d, ANSWER);
    expect(frames.map((f) => [f.content, f.finish])).toEqual([
      ['…', false],
      [ANSWER, true],
    ]);
    expect(llm.requests[0]!.body.stream).toBeFalsy();
  }, 30_000);

  it('sends no partial text frames with show_preview: false (and the agent is not asked to stream)', async () => {
    const { fake, llm } = await setup({ llm: { delayMs: 900 }, config: { show_preview: false } });
    const d = fake.sendBotText('just the answer');
    const frames = await expectOneFinishedStream(fake, d, ANSWER);
    expect(partials(frames)).toEqual([]);
    expect(frames.map((f) => [f.content, f.finish])).toEqual([
      ['…', false],
      [ANSWER, true],
    ]);
    expect(llm.requests[0]!.body.stream).toBeFalsy();
  }, 30_000);

  it('retries a model stream that breaks off, and finishes the stream once with the complete second answer', async () => {
    let calls = 0;
    const { fake, llm } = await setup({ llm: { reply: () => (++calls === 1 ? ANSWER : SECOND) } });
    llm.failNext(1, { breakStream: true, afterPieces: 3 });
    const d = fake.sendBotText('try twice');
    const frames = await expectOneFinishedStream(fake, d, SECOND);
    expect(llm.requests).toHaveLength(2);
    // What showed before the answer came from one attempt or the other, never anything else.
    for (const f of partials(frames)) expect(ANSWER.startsWith(f.content) || SECOND.startsWith(f.content), JSON.stringify(f.content)).toBe(true);
    // The broken attempt's words never made it past three pieces.
    for (const f of partials(frames).filter((p) => ANSWER.startsWith(p.content))) expect(f.content.split(' ').filter(Boolean).length).toBeLessThanOrEqual(3);
  }, 30_000);
});
