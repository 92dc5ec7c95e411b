import { afterAll, describe, expect, it } from 'vitest';
import { FakeFeishu, textOf } from '../fakes/feishu/index.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.js';
import { makeWorkspace, removeWorkspace } from '../helpers/workspace.js';

/**
 * A gateway killed while a streaming card fills in: after the restart the agent runs again and its answer
 * finishes the same card (noted in the channel state), so the user still sees one message, never a
 * half-written card and the answer again.
 */

const ANSWER =
  'This answer is written slowly enough that the gateway dies in the middle of it, and the one after the restart finishes the very card the user has been watching fill in.';

describe('feishu streaming card across a crash', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('finishes the card the killed gateway opened, once, with every call on it accepted', async () => {
    const fake = await FakeFeishu.start({ ackTimeoutMs: 3_000 });
    cleanup.push(() => fake.close());
    const llm = await startFakeLlm({ pieceDelayMs: 150, reply: () => ANSWER });
    cleanup.push(() => llm.close());
    const root = makeWorkspace({
      settings: { limits: { lease_ms: 1_000 } },
      agents: {
        bot: {
          profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' },
          entries: [{ type: 'channel', channel: 'feishu', config: { app_id: fake.appId, app_secret: fake.appSecret, domain: fake.url, show_typing: false } }],
        },
      },
    });
    cleanup.push(() => removeWorkspace(root));
    let gateway: ChildGateway = await startChildGateway(root);
    cleanup.push(() => gateway.kill('SIGKILL'));
    await fake.waitForConnections(1, 20_000);

    const event = fake.textEvent('write it slowly');
    const chat = event.event.message.chat_id;
    await fake.pushEvent(event).done;
    // The card is showing and has been filled in at least once: then the process dies.
    await fake.waitFor(() => [...fake.cards.values()].some((c) => c.messageId !== undefined && c.history.length >= 2), 20_000, 'a card filling in');
    await gateway.kill('SIGKILL');
    const [card] = [...fake.cards.values()];
    const shownBeforeCrash = textOf(card!.card);
    expect(card!.streaming).toBe(true);
    expect(ANSWER.startsWith(shownBeforeCrash) && shownBeforeCrash.length < ANSWER.length).toBe(true);

    llm.pieceDelayMs = 20;
    gateway = await startChildGateway(root);
    await fake.waitFor(() => card!.streaming === false, 30_000, 'the card finished');
    await new Promise((r) => setTimeout(r, 1_500)); // a second message would show here

    expect(fake.messagesIn(chat).map((m) => m.cardId)).toEqual([card!.cardId]);
    expect(fake.cards.size).toBe(1);
    expect(textOf(card!.card)).toBe(ANSWER);
    // The restarted process went on past every sequence the killed one used: nothing refused.
    expect(fake.cardCalls.map((c) => c.code)).toEqual(fake.cardCalls.map(() => 0));
    expect(llm.requests).toHaveLength(2);
  }, 60_000);
});
