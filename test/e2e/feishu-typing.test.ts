import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/logger.js';
import { FakeFeishu, type FakeFeishuOptions, type ReceiveMessageEvent, type SentMessage } from '../fakes/feishu/index.js';
import { startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { feishuEntryConfig } from '../helpers/feishu.js';
import { startTestGateway } from '../helpers/gateway.js';
import { captureLogger } from '../helpers/logs.js';

/**
 * Feishu's "typing": a "Typing" reaction on the user's message while the agent works (over 0.5 s), taken back once
 * the answer is sent. Best effort: a refused reaction call costs nothing but the reaction.
 */

const ENTRY = 'bot.feishu';

const opened = closeAfterEach();

interface Setup {
  /** An `openai` agent on the fake LLM answering after this many ms; undefined: the instant echo agent. */
  delayMs?: number;
  config?: Record<string, unknown>;
  profile?: Record<string, unknown>;
  fake?: FakeFeishuOptions;
  webhook?: boolean;
  log?: Logger;
}

const ENCRYPT_KEY = 'typing-encrypt-key-01';

async function setup(opts: Setup = {}) {
  const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000, webhookRetrySchedule: [], ...(opts.webhook ? { encryptKey: ENCRYPT_KEY } : {}), ...opts.fake }));
  let profile: Record<string, unknown> = { provider: 'echo' };
  let llm: FakeLlm | undefined;
  if (opts.delayMs !== undefined) {
    llm = opened(await startFakeLlm({ delayMs: opts.delayMs }));
    profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' };
  }
  const config = feishuEntryConfig(fake, opts.webhook ? ENCRYPT_KEY : undefined, opts.config);
  const t = opened(await startTestGateway(
    { agents: { bot: { profile: { ...profile, ...opts.profile }, entries: [{ type: 'channel', channel: 'feishu', config }] } } },
    opts.log ? { log: opts.log } : {},
  ));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  let url: string | undefined;
  if (opts.webhook) url = `${await t.app.listen({ port: 0, host: '127.0.0.1' })}/webhooks/feishu/${ENTRY}`;
  /** The user writes: over the long connection, or pushed to the webhook. */
  const userSends = async (event: ReceiveMessageEvent) => {
    if (url) expect((await fake.pushWebhook(url, event)).delivered).toBe(true);
    else await fake.pushEvent(event).done;
    return event.event.message;
  };
  return { t, fake, llm, userSends };
}

const textOf = (m: SentMessage | undefined) => (m?.content as { text?: string } | undefined)?.text;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('feishu typing reaction', () => {
  it('puts "Typing" on the message while the agent works, and takes it back when the agent is done', async () => {
    const { t, fake, userSends } = await setup({ delayMs: 900 });
    const pushedAt = Date.now();
    const m = await userSends(fake.textEvent('think about it'));
    // While the agent thinks: the reaction is there, no reply yet.
    await t.until(() => fake.reactions(m.message_id).length === 1);
    const [shown] = fake.reactions(m.message_id);
    expect(shown).toMatchObject({ emojiType: 'Typing', operatorType: 'app', operatorId: fake.appId });
    expect(shown!.removedAt).toBeUndefined();
    expect(fake.messagesIn(m.chat_id)).toHaveLength(0);
    // Not at once: only once the agent has worked half a second.
    expect(shown!.addedAt - pushedAt).toBeGreaterThanOrEqual(450);

    await t.until(() => fake.messagesIn(m.chat_id).length === 1);
    expect(textOf(fake.messagesIn(m.chat_id)[0])).toMatch(/think about it/);
    await t.until(() => fake.reactions(m.message_id)[0]?.removedAt !== undefined);
    const reply = fake.messagesIn(m.chat_id)[0]!;
    const [r] = fake.reactions(m.message_id);
    // Added before the reply; one reaction, deleted by the id it was created with.
    expect(r!.addedSeq).toBeLessThan(reply.seq);
    await sleep(300);
    expect(fake.reactions()).toHaveLength(1);
    expect(fake.reactionCalls.map((c) => [c.kind, c.messageId, c.reactionId, c.code])).toEqual([
      ['create', m.message_id, r!.reactionId, 0],
      ['delete', m.message_id, r!.reactionId, 0],
    ]);
  });

  it('in webhook mode, reacts to a group @mention and replies under it', async () => {
    const { t, fake, userSends } = await setup({ delayMs: 900, webhook: true });
    const m = await userSends(fake.textEvent('group question', { chatType: 'group', mentionBot: true }));
    await t.until(() => fake.reactions(m.message_id).length === 1);
    expect(fake.messagesIn(m.chat_id)).toHaveLength(0);
    await t.until(() => fake.reactions(m.message_id)[0]?.removedAt !== undefined);
    const [reply] = fake.messagesIn(m.chat_id);
    expect(reply).toMatchObject({ replyTo: m.message_id });
    const [r] = fake.reactions(m.message_id);
    expect(r!.addedSeq).toBeLessThan(reply!.seq);
  });

  it('makes no reaction call for an agent that answers at once', async () => {
    const { t, fake, userSends } = await setup();
    const m = await userSends(fake.textEvent('quick'));
    await t.until(() => fake.messagesIn(m.chat_id).length === 1);
    await sleep(800);
    expect(fake.reactionCalls).toEqual([]);
    expect(fake.counters.reactionRequests).toBe(0);
  });

  it('makes no reaction call with show_typing: false', async () => {
    const { t, fake, userSends } = await setup({ delayMs: 900, config: { show_typing: false } });
    const m = await userSends(fake.textEvent('no typing please'));
    await t.until(() => fake.messagesIn(m.chat_id).length === 1);
    await sleep(300);
    expect(fake.reactionCalls).toEqual([]);
  });

  it('answers exactly once when Feishu refuses the reaction (99991400), logging the refusal at debug level', async () => {
    const capture = captureLogger('debug');
    const { t, fake, userSends } = await setup({ delayMs: 900, log: capture.log });
    fake.failNextReactions(1, { code: 99991400 });
    const m = await userSends(fake.textEvent('rate limited reaction'));
    await t.until(() => fake.messagesIn(m.chat_id).length === 1);
    await sleep(600);
    expect(fake.messagesIn(m.chat_id).map(textOf)).toEqual([expect.stringMatching(/rate limited reaction/)]);
    // Not created, so nothing to delete; never retried into a second reaction.
    expect(fake.reactionCalls.map((c) => [c.kind, c.status, c.code])).toEqual([['create', 429, 99991400]]);
    expect(fake.reactions()).toEqual([]);
    const [stored] = await t.gateway.store.listMessages({});
    expect(stored?.status).toBe('done');
    const line = capture.lines.find((l) => l.msg === 'feishu typing not shown');
    expect(line).toMatchObject({ level: 20 });
    expect(String(line?.err)).toMatch(/99991400/);
    expect(capture.lines.filter((l) => (l.level as number) >= 40 && /reaction/i.test(String(l.msg)))).toEqual([]);
  });

  it('answers exactly once when deleting the reaction fails with a 5xx', async () => {
    const { t, fake, userSends } = await setup({ delayMs: 900 });
    fake.failNextReactions(1, { code: 1, status: 502 }, 'delete');
    const m = await userSends(fake.textEvent('flaky delete'));
    await t.until(() => fake.reactionCalls.some((c) => c.kind === 'delete'));
    await sleep(600);
    expect(fake.messagesIn(m.chat_id)).toHaveLength(1);
    expect(fake.reactionCalls.map((c) => [c.kind, c.status])).toEqual([
      ['create', 200],
      ['delete', 502],
    ]);
    const [stored] = await t.gateway.store.listMessages({});
    expect(stored?.status).toBe('done');
  });

  it('renews a refused tenant token for the reaction, once, and goes on', async () => {
    const { t, fake, userSends } = await setup({ delayMs: 900 });
    fake.invalidateTokens();
    const m = await userSends(fake.textEvent('after the token was revoked'));
    await t.until(() => fake.reactions(m.message_id)[0]?.removedAt !== undefined);
    expect(fake.reactionCalls.map((c) => [c.kind, c.code])).toEqual([
      ['create', 99991663],
      ['create', 0],
      ['delete', 0],
    ]);
    expect(fake.messagesIn(m.chat_id)).toHaveLength(1);
  });

  it('takes the reaction back for a message that gets no reply (a failure kept out of the group)', async () => {
    const profile = { retries: 0, fallback_in_groups: false };
    const { t: gw, fake: f, llm, userSends } = await setup({ delayMs: 900, profile });
    llm!.failNext(1, { status: 500 });
    const m = await userSends(f.textEvent('nobody answers', { chatType: 'group', mentionBot: true }));
    await gw.until(async () => (await gw.gateway.store.listMessages({}))[0]?.status === 'fallback');
    await f.waitFor(() => f.reactions(m.message_id)[0]?.removedAt !== undefined, 5_000, 'the reaction removed');
    expect(f.messagesIn(m.chat_id)).toEqual([]);
  });
});
