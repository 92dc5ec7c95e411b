import type { ChannelDefinition } from '../../src/channels/define.js';
import { wechatIlinkChannel } from '../../src/channels/wechat-ilink/index.js';
import { FakeIlink, type WeixinMessage } from '../fakes/ilink/index.js';
import { runChannelContract, type PlatformDriver } from './channel.contract.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether a getupdates answer holds this message (a redelivery carries the same message_id). */
function carries(response: unknown, message: WeixinMessage): boolean {
  const msgs = (response as { msgs?: { message_id?: unknown }[] } | undefined)?.msgs ?? [];
  return msgs.some((m) => m.message_id === message.message_id);
}

runChannelContract('wechat_ilink (long poll, against the fake iLink)', {
  definition: wechatIlinkChannel as unknown as ChannelDefinition,
  // iLink is not known to drop repeated client_ids, and the channel keeps no record of sends.
  idempotentSend: false,
  async setup() {
    const fake = await FakeIlink.start({ longPollMs: 300 });
    const byMsgId = new Map<string, WeixinMessage>();
    const driver: PlatformDriver = {
      userIdOf: (userId) => `${userId}@im.wechat`,
      async deliver({ userId, text, msgId }) {
        const earlier = byMsgId.get(msgId);
        const message = earlier ?? fake.userSends(userId, text);
        if (earlier) fake.redeliver(earlier);
        byMsgId.set(msgId, message);
        // iLink's "ack" is the cursor: acked once the channel polls again from past this message.
        const end = Date.now() + 1_000;
        while (Date.now() < end) {
          const polls = fake.calls.filter((c) => c.endpoint === 'getupdates');
          // The last answer that handed the message out (a redelivery is handed out again).
          const at = polls.map((c) => carries(c.response, message)).lastIndexOf(true);
          const next = at >= 0 ? (polls[at]!.response as { get_updates_buf?: string }).get_updates_buf : undefined;
          if (next && polls.slice(at + 1).some((c) => (c.body as { get_updates_buf?: string }).get_updates_buf === next)) return { acked: true };
          await sleep(10);
        }
        return { acked: false };
      },
      async received(userId) {
        return fake.sent(userId).map((s) => s.text);
      },
    };
    return { config: { base_url: fake.url, bot_token: fake.botToken }, driver, teardown: () => fake.close() };
  },
});
