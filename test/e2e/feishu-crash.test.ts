import { describe, expect, it } from 'vitest';
import { FakeFeishu, type ReceiveMessageEvent } from '../fakes/feishu/index.js';
import { crashRig } from '../helpers/crash-rig.js';

const USERS = 10;

describe('feishu crash recovery', () => {
  const rig = crashRig();

  it('answers each acked event once after a SIGKILL between the ack and the send, redeliveries included', async () => {
    const fake = rig.own(await FakeFeishu.start({ ackTimeoutMs: 3_000 }));
    await rig.start({ type: 'channel', channel: 'feishu', config: { app_id: fake.appId, app_secret: fake.appSecret, domain: fake.url } });
    await fake.waitForConnections(1, 20_000);

    // Every event is acked once stored; the agent is still thinking when the process dies.
    const events: ReceiveMessageEvent[] = Array.from({ length: USERS }, (_, u) => fake.textEvent(`question ${u}`, { from: `ou_crash${String(u).padStart(26, '0')}` }));
    const deliveries = events.map((e) => fake.pushEvent(e));
    await Promise.all(deliveries.map((d) => d.done));
    expect(deliveries.map((d) => [d.status, d.attempts.length])).toEqual(Array(USERS).fill(['acked', 1]));
    await rig.kill();
    expect(fake.messages).toHaveLength(0);

    await rig.restart();
    await fake.waitForConnections(1, 20_000);
    // Feishu pushes some of them again (it does, for hours): still one answer each.
    const again = events.slice(0, 3).map((e) => fake.pushEvent(e));
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
