import { afterAll, describe, expect, it } from 'vitest';
import { FakeFeishu, type ReceiveMessageEvent } from '../fakes/feishu/index.js';
import { startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.js';
import { makeWorkspace, removeWorkspace } from '../helpers/workspace.js';

const USERS = 10;

describe('feishu crash recovery', () => {
  let fake: FakeFeishu | undefined;
  let llm: FakeLlm | undefined;
  let gateway: ChildGateway | undefined;
  let root: string | undefined;
  afterAll(async () => {
    await gateway?.kill('SIGKILL');
    await fake?.close();
    await llm?.close();
    if (root) removeWorkspace(root);
  });

  it('answers each acked event once after a SIGKILL between the ack and the send, redeliveries included', async () => {
    llm = await startFakeLlm({ delayMs: 3_000 });
    fake = await FakeFeishu.start({ ackTimeoutMs: 3_000 });
    root = makeWorkspace({
      settings: { limits: { lease_ms: 1_000 } },
      agents: {
        bot: {
          profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', retries: 0 },
          entries: [{ type: 'channel', channel: 'feishu', config: { app_id: fake.appId, app_secret: fake.appSecret, domain: fake.url } }],
        },
      },
    });
    gateway = await startChildGateway(root);
    await fake.waitForConnections(1, 20_000);

    // Every event is acked once stored; the agent is still thinking when the process dies.
    const events: ReceiveMessageEvent[] = Array.from({ length: USERS }, (_, u) => fake!.textEvent(`question ${u}`, { from: `ou_crash${String(u).padStart(26, '0')}` }));
    const deliveries = events.map((e) => fake!.pushEvent(e));
    await Promise.all(deliveries.map((d) => d.done));
    expect(deliveries.map((d) => [d.status, d.attempts.length])).toEqual(Array(USERS).fill(['acked', 1]));
    await gateway.kill('SIGKILL');
    expect(fake.messages).toHaveLength(0);

    llm.delayMs = 0;
    gateway = await startChildGateway(root);
    await fake.waitForConnections(1, 20_000);
    // Feishu pushes some of them again (it does, for hours): still one answer each.
    const again = events.slice(0, 3).map((e) => fake!.pushEvent(e));
    await Promise.all(again.map((d) => d.done));
    expect(again.every((d) => d.status === 'acked')).toBe(true);

    const deadline = Date.now() + 20_000;
    while (fake.messages.length < USERS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would show up here
    for (const [u, e] of events.entries()) {
      expect(fake.messagesIn(e.event.message.chat_id).map((m) => (m.content as { text: string }).text)).toEqual([`reply to: question ${u}`]);
    }
    expect(fake.messages).toHaveLength(USERS);
  }, 60_000);
});
