import type { ChannelDefinition } from '../../src/channels/define.js';
import { wecomBotChannel } from '../../src/channels/wecom-bot/index.js';
import { FakeWecom, type BotDelivery } from '../fakes/wecom/index.js';
import { runChannelContract, type PlatformDriver } from './channel.contract.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

runChannelContract('wecom_bot (long connection, against the fake WeCom)', {
  definition: wecomBotChannel as unknown as ChannelDefinition,
  // The stream id comes from the idempotency key and finished sends are remembered, so a retry shows once.
  idempotentSend: true,
  async setup() {
    const fake = await FakeWecom.start();
    const byMsgid = new Map<string, BotDelivery>();
    const driver: PlatformDriver = {
      async deliver({ userId, text, msgId }) {
        if (!byMsgid.has(msgId)) await fake.waitForBotConnection();
        const earlier = byMsgid.get(msgId);
        // A redelivery is the same frame again (same req_id and msgid), as the fake's repush sends it.
        const d = earlier && fake.repush(earlier) ? earlier : fake.sendBotText(text, { from: userId, msgid: msgId });
        byMsgid.set(msgId, d);
        // The long connection has no ack for callbacks: a message not stored is answered with a notice at once.
        // Without a notice within 400 ms the channel took it.
        const before = d.replies.length;
        const end = Date.now() + 400;
        while (Date.now() < end && d.replies.length === before) await sleep(10);
        return { acked: d.replies.length === before };
      },
      async received(userId) {
        const streamed = fake.botDeliveries.filter((d) => d.body.from && (d.body.from as { userid?: string }).userid === userId && d.finished).map((d) => d.text ?? '');
        const sent = fake.botSent.filter((s) => s.chatid === userId).map((s) => s.content);
        return [...streamed, ...sent];
      },
    };
    return {
      config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl, heartbeat_interval_seconds: 5, liveness_timeout_seconds: 10 },
      driver,
      teardown: () => fake.close(),
    };
  },
});
