import { describe, expect, it } from 'vitest';
import { FakeWecom, wecomMessage } from '../fakes/wecom/index.js';
import { crashRig } from '../helpers/crash-rig.js';

const ENTRY = 'bot.wecom';
const MEMBERS = 10;

describe('wecom crash recovery', () => {
  const rig = crashRig();

  it('delivers each acknowledged message once after a SIGKILL between the ack and message/send', async () => {
    const fake = rig.own(await FakeWecom.start({ retryWaitMs: 1_000 }));
    let gateway = await rig.start({
      type: 'channel',
      channel: 'wecom',
      config: { corp_id: fake.corpId, agent_id: fake.agentId, secret: fake.corpSecret, token: fake.token, encoding_aes_key: fake.encodingAesKey, api_base_url: fake.url },
    });
    fake.gatewayUrl = `${gateway.baseUrl}/webhooks/wecom/${ENTRY}`;
    // The URL check passes once the entry is running (503 while it starts).
    for (let i = 0; !(await fake.verifyUrl()).ok; i++) {
      if (i > 100) throw new Error('the wecom entry did not start');
      await new Promise((r) => setTimeout(r, 50));
    }

    // Every push is acknowledged (empty 200) at once; the agent is still thinking when the process dies.
    const pushes = await Promise.all(Array.from({ length: MEMBERS }, (_, u) => fake.push(`member${u}`, wecomMessage.text(`question ${u}`))));
    expect(pushes.every((p) => p.attempts.length === 1 && p.attempts[0]!.status === 200 && p.attempts[0]!.body === '')).toBe(true);
    await rig.kill();
    expect(fake.sends.filter((s) => s.errcode === 0)).toHaveLength(0);

    gateway = await rig.restart();
    fake.gatewayUrl = `${gateway.baseUrl}/webhooks/wecom/${ENTRY}`;
    const deadline = Date.now() + 20_000;
    while (Array.from({ length: MEMBERS }, (_, u) => fake.delivered(`member${u}`).length).some((n) => n === 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would show up here
    for (let u = 0; u < MEMBERS; u++) expect(fake.delivered(`member${u}`).map((d) => d.content)).toEqual([`reply to: question ${u}`]);
  }, 60_000);
});
