import { describe, expect, it } from 'vitest';
import { FakeWecom, type BotDelivery } from '../fakes/wecom/index.js';
import { crashRig } from '../helpers/crash-rig.js';

const USERS = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('wecom_bot crash recovery', () => {
  const rig = crashRig();

  it('answers each stored message once after a SIGKILL with replies pending, duplicates included', async () => {
    const fake = rig.own(await FakeWecom.start());
    await rig.start({ type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl } });
    await fake.waitForBotConnection(20_000);
    const connected = fake.connectionCount;

    // Stored while the agent is still thinking; then the process dies.
    const deliveries: BotDelivery[] = Array.from({ length: USERS }, (_, u) => fake.sendBotText(`question ${u}`, { from: `crash${u}` }));
    await fake.waitFor(() => deliveries.every((d) => d.sends.some((s) => s.written === true)), 10_000);
    await sleep(500); // into the mailbox (the LLM holds every answer for 3 s)
    await rig.kill();
    expect(deliveries.every((d) => d.replies.length === 0)).toBe(true);
    expect(fake.botSent).toHaveLength(0);

    await rig.restart();
    await fake.waitFor(() => fake.connectionCount > connected && fake.currentConnection !== undefined, 20_000);
    // Some of the same messages arrive again: still one answer each.
    for (const d of deliveries.slice(0, 3)) expect(fake.repush(d)).toBe(true);

    const deadline = Date.now() + 20_000;
    while (fake.botSent.length < USERS && Date.now() < deadline) await sleep(50);
    await sleep(500); // a duplicate would show up here
    // The old req_ids belong to the dead process's connection: the answers go to the members proactively.
    for (let u = 0; u < USERS; u++) {
      expect(fake.botSent.filter((s) => s.chatid === `crash${u}`).map((s) => s.content)).toEqual([`reply to: question ${u}`]);
    }
    expect(fake.botSent).toHaveLength(USERS);
    expect(deliveries.every((d) => d.replies.length === 0)).toBe(true);
  }, 60_000);
});
