import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/logger.js';
import { tablesIn } from '../fakes/feishu/cards.js';
import { FakeFeishu, textOf, type FakeCard, type ReceiveMessageEvent, type SentMessage } from '../fakes/feishu/index.js';
import { startFakeLlm, type FakeLlmOptions } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { feishuEntryConfig } from '../helpers/feishu.js';
import { startTestGateway } from '../helpers/gateway.js';
import { captureLogger } from '../helpers/logs.js';

/**
 * Feishu shows a streaming agent's reply in a card that fills in while the agent writes (card entity in
 * streaming mode), then finishes that same card with the answer: one message in the chat, never a
 * preview and the answer again.
 */

const ENTRY = 'bot.feishu';
/** About 3 s at 100 ms a word: the card gets the text so far about once a second, so two or more updates show. */
const ANSWER = 'Streaming cards show the reply while the model writes it, a few words at a time, and the finished answer replaces the preview in the very same card at the end.';
const MARKDOWN = 'A **bold** claim, then a list:\n\n- one point that matters\n- another point that matters\n- and a last point to make it long enough to stream';
const SECOND = 'A second answer, written again from its first word after the first attempt broke off in the middle of its sentence.';

const opened = closeAfterEach();

async function setup(opts: { llm?: FakeLlmOptions; config?: Record<string, unknown>; log?: Logger } = {}) {
  const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000, webhookRetrySchedule: [] }));
  const llm = opened(await startFakeLlm({ pieceDelayMs: 100, reply: () => ANSWER, ...opts.llm }));
  const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' };
  // No typing reaction: the chat's calls are then only the reply's.
  const config = feishuEntryConfig(fake, undefined, { show_typing: false, ...opts.config });
  const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [{ type: 'channel', channel: 'feishu', config }] } } }, opts.log ? { log: opts.log } : {}));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  await fake.waitForConnections(1);
  const userSends = async (event: ReceiveMessageEvent) => {
    await fake.pushEvent(event).done;
    return event.event.message;
  };
  return { t, fake, llm, userSends };
}

/**
 * The one message in the chat is a card entity, finished (streaming off) with `text`; every call on the card was
 * accepted but `refused` scripted ones. Returns the message and the card.
 */
async function expectOneFinishedCard(t: Awaited<ReturnType<typeof setup>>['t'], fake: FakeFeishu, chatId: string, text: string, refused = 0): Promise<{ message: SentMessage; card: FakeCard }> {
  await t.until(() => fake.messagesIn(chatId).length >= 1 && fake.cardOf(fake.messagesIn(chatId)[0]!.messageId)?.streaming === false, 20_000);
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.messagesOut === 1);
  await new Promise((r) => setTimeout(r, 1_500)); // more than a preview interval: a late update or message would show here
  const messages = fake.messagesIn(chatId);
  expect(messages).toHaveLength(1);
  const message = messages[0]!;
  expect(message.msgType).toBe('interactive');
  expect(message.content).toEqual({ type: 'card', data: { card_id: message.cardId } });
  const card = fake.cardOf(message.messageId)!;
  expect(card.streaming).toBe(false);
  expect(textOf(card.card)).toBe(text);
  expect(card.history.at(-1)).toMatchObject({ kind: 'update', streaming: false, text });
  // Every call on the card was accepted (but the scripted refusals), each with a larger sequence than the one before.
  const calls = fake.cardCalls.filter((c) => c.cardId === card.cardId);
  expect(calls.filter((c) => c.code === 0)).toHaveLength(card.history.length);
  expect(calls.filter((c) => c.code !== 0)).toHaveLength(refused);
  const sequences = card.history.flatMap((h) => (h.sequence === undefined ? [] : [h.sequence]));
  for (let i = 1; i < sequences.length; i++) expect(sequences[i]!).toBeGreaterThan(sequences[i - 1]!);
  return { message, card };
}

/** The texts the user saw while the card was streaming: the created card's and each content update's. */
const streamedTexts = (card: FakeCard) => card.history.filter((h) => h.streaming).map((h) => h.text);

describe('feishu shows the reply in a card while the agent writes it', () => {
  it('creates a streaming card with the first words, fills it in, then finishes that card with the whole answer', async () => {
    const { t, fake, llm, userSends } = await setup();
    const m = await userSends(fake.textEvent('tell me about streaming'));
    const { card } = await expectOneFinishedCard(t, fake, m.chat_id, ANSWER);
    const shown = streamedTexts(card);
    expect(shown.length).toBeGreaterThanOrEqual(2);
    expect(card.history[0]).toMatchObject({ kind: 'create', streaming: true });
    // Each text shown is the start of the next, and of the answer.
    for (const [i, text] of shown.entries()) {
      const next = shown[i + 1] ?? ANSWER;
      expect(next.startsWith(text), `${JSON.stringify(text)} then ${JSON.stringify(next)}`).toBe(true);
      if (i + 1 < shown.length) expect(next.length).toBeGreaterThan(text.length);
    }
    // The plain answer is finished as plain text, with a summary for the chat list.
    const config = card.card.config as { summary?: { content?: string } };
    expect(ANSWER.startsWith((config.summary?.content ?? '').replace(/…$/, ''))).toBe(true);
    expect((card.card.body as { elements: { tag: string }[] }).elements.map((e) => e.tag)).toEqual(['div']);
    expect(llm.requests).toHaveLength(1);
    expect(llm.requests[0]!.body).toMatchObject({ stream: true });
  }, 30_000);

  it('finishes a markdown answer in a markdown element, and in a group replies under the question', async () => {
    const { t, fake, userSends } = await setup({ llm: { reply: () => MARKDOWN } });
    const m = await userSends(fake.textEvent('list it', { chatType: 'group', mentionBot: true }));
    const { message, card } = await expectOneFinishedCard(t, fake, m.chat_id, MARKDOWN);
    expect(message.replyTo).toBe(m.message_id);
    expect((card.card.body as { elements: { tag: string }[] }).elements.map((e) => e.tag)).toEqual(['markdown']);
  }, 30_000);

  it('sends no card with show_preview: false: the answer is one message, and the model is not asked to stream', async () => {
    const { t, fake, llm, userSends } = await setup({ config: { show_preview: false } });
    const m = await userSends(fake.textEvent('no preview'));
    await t.until(() => fake.messagesIn(m.chat_id).length === 1, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.messagesIn(m.chat_id).map((x) => [x.msgType, (x.content as { text?: string }).text])).toEqual([['text', ANSWER]]);
    expect(fake.cardCalls).toEqual([]);
    expect(llm.requests[0]!.body.stream).toBeFalsy();
  }, 30_000);

  it('sends a reply the agent writes within a second as a plain message, without a card', async () => {
    const { t, fake, llm, userSends } = await setup({ llm: { pieceDelayMs: 10 } });
    const m = await userSends(fake.textEvent('quick one'));
    await t.until(() => fake.messagesIn(m.chat_id).length === 1, 20_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(fake.messagesIn(m.chat_id).map((x) => [x.msgType, (x.content as { text?: string }).text])).toEqual([['text', ANSWER]]);
    expect(fake.cardCalls).toEqual([]);
    // Streamed all the same: the card would have opened had it taken longer.
    expect(llm.requests[0]!.body).toMatchObject({ stream: true });
  }, 30_000);

  it('finishes a long answer\'s card with its first part and sends the rest as messages after it, nothing lost', async () => {
    const code = Array.from({ length: 700 }, (_, i) => `const line${i} = "${'x'.repeat(24)}";`).join('\n');
    const long = `## Result\n\n\`\`\`ts\n${code}\n\`\`\`\n\nDone.`;
    const { t, fake, userSends } = await setup({ llm: { reply: () => long, pieceDelayMs: 1 } });
    const m = await userSends(fake.textEvent('the whole file please'));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.messagesOut === 1, 30_000);
    const [first, ...rest] = fake.messagesIn(m.chat_id);
    const card = fake.cardOf(first!.messageId)!;
    expect(card.streaming).toBe(false);
    expect(rest.length).toBeGreaterThanOrEqual(1);
    for (const r of rest) expect(r).toMatchObject({ msgType: 'interactive' });
    const parts = [textOf(card.card), ...rest.map((r) => (r.content as { body: { elements: { content: string }[] } }).body.elements[0]!.content)];
    const lines = parts.join('\n').split('\n').filter((l) => l.startsWith('const line'));
    expect(lines).toEqual(code.split('\n'));
    expect(parts.at(-1)!.endsWith('Done.')).toBe(true);
    // The card was finished before the rest went out.
    expect(card.history.at(-1)!.seq).toBeLessThan(rest[0]!.seq);
  }, 45_000);

  it('keeps a streaming card of a report with eight tables to five, and sends the other three in a message after it', async () => {
    const section = (i: number) => `## Region ${i}\n\n| Month | Sales |\n|---|---:|\n| Jan | ${i}00 |\n| Feb | ${i}10 |`;
    const report = Array.from({ length: 8 }, (_, i) => section(i + 1)).join('\n\n');
    const { t, fake, userSends } = await setup({ llm: { reply: () => report, pieceDelayMs: 25 } });
    const m = await userSends(fake.textEvent('sales by region'));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.messagesOut === 1, 30_000);
    const [first, ...rest] = fake.messagesIn(m.chat_id);
    const card = fake.cardOf(first!.messageId)!;
    expect(card.streaming).toBe(false);
    expect(tablesIn(card.card)).toBe(5);
    // The card filled in while the agent wrote, and no call on it was refused for a sixth table.
    expect(card.history.filter((h) => h.streaming).length).toBeGreaterThanOrEqual(2);
    expect(fake.cardCalls.filter((c) => c.code !== 0)).toEqual([]);
    expect(rest.map((r) => [r.msgType, tablesIn(r.content as Record<string, unknown>)])).toEqual([['interactive', 3]]);
    const restText = (rest[0]!.content as { body: { elements: { content: string }[] } }).body.elements[0]!.content;
    expect(`${textOf(card.card)}\n\n${restText}`).toBe(report);
  }, 45_000);

  it('retries a model stream that breaks off and finishes the same card once with the second answer', async () => {
    let calls = 0;
    const { t, fake, llm, userSends } = await setup({ llm: { reply: () => (++calls === 1 ? ANSWER : SECOND) } });
    llm.failNext(1, { breakStream: true, afterPieces: 12 });
    const m = await userSends(fake.textEvent('try twice'));
    const { card } = await expectOneFinishedCard(t, fake, m.chat_id, SECOND);
    expect(llm.requests).toHaveLength(2);
    expect(fake.cards.size).toBe(1);
    for (const text of streamedTexts(card)) expect(ANSWER.startsWith(text) || SECOND.startsWith(text), JSON.stringify(text)).toBe(true);
  }, 30_000);

  it('finishes the card on the outbox retry when the finishing call fails with a 5xx', async () => {
    const { t, fake, userSends } = await setup();
    fake.failNextCardCalls(1, { code: 1, status: 502 }, 'update');
    const m = await userSends(fake.textEvent('flaky finish'));
    const { card } = await expectOneFinishedCard(t, fake, m.chat_id, ANSWER, 1);
    expect(fake.cardCalls.filter((c) => c.kind === 'update').map((c) => c.status)).toEqual([502, 200]);
    expect(card.history.filter((h) => h.kind === 'update')).toHaveLength(1);
  }, 30_000);

  it('without the card permission, answers with a message, warns once, and tries no card for the next message', async () => {
    const capture = captureLogger('debug');
    const { t, fake, llm, userSends } = await setup({ log: capture.log });
    fake.failNextCardCalls(1, { code: 99991672, msg: 'Access denied. One of the following scopes is required: [cardkit:card:write]' }, 'create');
    const first = await userSends(fake.textEvent('first'));
    await t.until(() => fake.messagesIn(first.chat_id).length === 1, 20_000);
    llm.pieceDelayMs = 0;
    const second = await userSends(fake.textEvent('second'));
    await t.until(() => fake.messagesIn(second.chat_id).length === 2, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.messagesIn(first.chat_id).map((x) => [x.msgType, (x.content as { text?: string }).text])).toEqual([
      ['text', ANSWER],
      ['text', ANSWER],
    ]);
    expect(fake.cardCalls.map((c) => [c.kind, c.code])).toEqual([['create', 99991672]]);
    const warnings = capture.lines.filter((l) => l.level === 40 && /cardkit:card:write/.test(String(l.msg)));
    expect(warnings).toHaveLength(1);
  }, 30_000);
});
