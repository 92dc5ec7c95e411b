import { describe, expect, it } from 'vitest';
import { FakeFeishu, type ReceiveMessageEvent } from '../fakes/feishu/index.js';
import { startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { feishuEntryConfig } from '../helpers/feishu.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { captureLogger } from '../helpers/logs.js';

/**
 * A Feishu reply names only the message it answers (parent_id). The agent gets that message's words
 * under the user's own, as a quote, so "translate this" has a "this".
 */

const ENTRY = 'bot.feishu';
const opened = closeAfterEach();

async function setup(reply: (n: number) => string = () => 'ok', more: Record<string, unknown> = {}) {
  const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000 }));
  let n = 0;
  const llm = opened(await startFakeLlm({ reply: () => reply(++n) }));
  const log = captureLogger();
  const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', ...more };
  const config = feishuEntryConfig(fake, undefined, { show_typing: false });
  const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [{ type: 'channel', channel: 'feishu', config }] } } }, { log: log.log }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const ask = async (event: ReceiveMessageEvent, answers: number) => {
    await fake.pushEvent(event).done;
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.messagesOut === answers, 20_000);
  };
  return { fake, llm, log, t, ask };
}

/** What the model was asked last: the user turn of its latest request. */
const lastQuestion = (llm: FakeLlm) => llm.requests.at(-1)!.body.messages!.at(-1)!.content;

describe('feishu quotes', () => {
  it('gives the agent a colleague\'s message the user replied to, which the bot never received', async () => {
    const { fake, llm, ask } = await setup();
    // Built, never pushed: a group message without a mention, which the bot does not receive.
    const original = fake.textEvent('会议改到周四下午三点，\n5 号会议室。', { chatType: 'group', from: 'ou_colleague00000000000000000000000' });
    await ask(fake.textEvent('translate this', { chatType: 'group', mentionBot: true, parentId: original.event.message.message_id }), 1);
    expect(lastQuestion(llm)).toBe('translate this\n\n> 会议改到周四下午三点，\n> 5 号会议室。');
    expect(fake.messageReads).toMatchObject([{ messageId: original.event.message.message_id, cardContentType: 'user_card_content', code: 0 }]);
  });

  it('reads the bot\'s own card answer as its markdown, and keeps the quote in the history', async () => {
    const answer = '## Plan\n\n1. **Draft** the memo\n2. Review it with legal';
    const { fake, llm, ask } = await setup((n) => (n === 1 ? answer : 'Legal checks the wording.'));
    const first = fake.textEvent('what is the plan?');
    await ask(first, 1);
    const [card] = fake.messagesIn(first.event.message.chat_id);
    expect(card?.msgType).toBe('interactive');
    await ask(fake.textEvent('explain step 2', { parentId: card!.messageId }), 2);
    const quoted = 'explain step 2\n\n> ## Plan\n>\n> 1. **Draft** the memo\n> 2. Review it with legal';
    expect(lastQuestion(llm)).toBe(quoted);
    // The turn is remembered as the agent read it: the next question's history has the quote.
    await ask(fake.textEvent('and then?'), 3);
    const history = llm.requests.at(-1)!.body.messages!.map((m) => m.content);
    expect(history).toContain(quoted);
  });

  it('quotes a thread\'s parent once: later messages naming it find it in the history', async () => {
    const { fake, llm, ask } = await setup();
    const root = fake.textEvent('Q3 numbers: revenue 1.2M, costs 0.9M', { chatType: 'topic_group', chatId: 'oc_topics0000000000000000000000000' });
    const inThread = { chatType: 'topic_group' as const, chatId: 'oc_topics0000000000000000000000000', mentionBot: true, rootId: root.event.message.message_id, parentId: root.event.message.message_id, threadId: 'omt_q3' };
    await ask(fake.textEvent('what is the margin?', inThread), 1);
    expect(lastQuestion(llm)).toBe('what is the margin?\n\n> Q3 numbers: revenue 1.2M, costs 0.9M');
    await ask(fake.textEvent('and as a percentage?', inThread), 2);
    expect(lastQuestion(llm)).toBe('and as a percentage?');
    expect(llm.requests.at(-1)!.body.messages!.map((m) => m.content)).toContain('what is the margin?\n\n> Q3 numbers: revenue 1.2M, costs 0.9M');
    expect(fake.messageReads).toHaveLength(2);
  });

  it('passes the image of a quoted message to an agent that reads images, downloaded by that message\'s id', async () => {
    const { fake, llm, ask } = await setup(undefined, { images: true });
    const screenshot = solidPng(3, 3, [0, 128, 255]);
    const original = fake.imageEvent({ chatType: 'group', data: screenshot, from: 'ou_colleague00000000000000000000000' });
    const question = fake.textEvent('what does this error say?', { chatType: 'group', mentionBot: true, parentId: original.event.message.message_id });
    await ask(question, 1);
    const parts = lastQuestion(llm) as { type: string; text?: string; image_url?: { url: string } }[];
    expect(parts.find((p) => p.type === 'text')?.text).toBe('what does this error say?\n\n> [image]');
    expect(parts.filter((p) => p.type === 'image_url').map((p) => p.image_url!.url)).toEqual([`data:image/png;base64,${screenshot.toString('base64')}`]);
    expect(fake.resourceCalls.map((c) => [c.messageId, c.type, c.code])).toEqual([[original.event.message.message_id, 'image', 0]]);
  });

  it('answers without the quote when Feishu will not serve it, saying why in the log and the timeline', async () => {
    const { fake, llm, log, t, ask } = await setup();
    fake.failNextMessageReads(1, { code: 99991672, msg: 'Access denied. One of the following scopes is required: [im:message, im:message:readonly]' });
    const original = fake.textEvent('the numbers for Q3', { chatType: 'group' });
    await ask(fake.textEvent('summarise', { chatType: 'group', mentionBot: true, parentId: original.event.message.message_id }), 1);
    expect(lastQuestion(llm)).toBe('summarise');
    const warning = log.lines.find((l) => l.level === 40 && /quoted message not read/.test(String(l.msg)));
    expect(JSON.stringify(warning)).toMatch(/99991672.*im:message or im:message:readonly/);
    const [stored] = (await t.admin('GET', '/messages?entry=bot.feishu')).json.messages as { id: string }[];
    const detail = await t.admin('GET', `/messages/${stored!.id}`);
    expect(detail.json.timeline.find((e: { stage: string }) => e.stage === 'quote_error')?.detail).toMatch(/99991672/);
  });

  it('asks Feishu nothing for a message that quotes nothing', async () => {
    const { fake, llm, ask } = await setup();
    await ask(fake.textEvent('hello'), 1);
    expect(lastQuestion(llm)).toBe('hello');
    expect(fake.messageReads).toEqual([]);
  });
});
