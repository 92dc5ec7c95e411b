import type { ChannelDefinition } from '../../src/channels/define.js';
import { feishuChannel } from '../../src/channels/feishu/index.js';
import { FakeFeishu } from '../fakes/feishu/index.js';
import { runChannelContract, type PlatformDriver } from './channel.contract.js';

/** The texts a user received in their p2p chat with the bot. */
function receivedBy(fake: FakeFeishu, userId: string): string[] {
  return fake.messagesIn(fake.p2pChatId(userId)).map((m) => (m.content as { text?: string }).text ?? JSON.stringify(m.content));
}

runChannelContract('feishu (long connection, against the fake Feishu open platform)', {
  definition: feishuChannel as unknown as ChannelDefinition,
  // Every request carries a uuid derived from the idempotency key; Feishu drops repeats within an hour.
  idempotentSend: true,
  async setup() {
    // Feishu's 3 s ack timeout. The driver reads the first ack (200, or 500 from a failed handler), so no case waits for it.
    const fake = await FakeFeishu.start({ ackTimeoutMs: 3_000, maxRetries: 1 });
    const driver: PlatformDriver = {
      async deliver({ userId, text, msgId }) {
        const delivery = fake.pushEvent(fake.textEvent(text, { from: userId, messageId: msgId }));
        // The first ack tells: 200 once stored, 500 when the handler failed.
        await fake.waitFor(() => delivery.acks.length > 0 || delivery.status !== 'pending', 10_000, 'an ack');
        return { acked: delivery.acks[0]?.code === 200 };
      },
      received: async (userId) => receivedBy(fake, userId),
    };
    return {
      config: { app_id: fake.appId, app_secret: fake.appSecret, domain: fake.url, ping_timeout_seconds: 3 },
      driver,
      teardown: () => fake.close(),
    };
  },
});

runChannelContract('feishu (webhook with Encrypt Key, against the fake Feishu open platform)', {
  definition: feishuChannel as unknown as ChannelDefinition,
  idempotentSend: true,
  async setup({ baseUrl, entryKey }) {
    const fake = await FakeFeishu.start({ encryptKey: 'contract-encrypt-key' });
    const url = `${baseUrl}/webhooks/feishu/${entryKey}`;
    const driver: PlatformDriver = {
      async deliver({ userId, text, msgId }) {
        const result = await fake.pushWebhook(url, fake.textEvent(text, { from: userId, messageId: msgId }), { retrySchedule: [] });
        return { acked: result.delivered && result.attempts.length === 1 && result.attempts[0]?.status === 200 };
      },
      received: async (userId) => receivedBy(fake, userId),
    };
    return {
      config: {
        app_id: fake.appId,
        app_secret: fake.appSecret,
        domain: fake.url,
        connection: 'webhook',
        encrypt_key: 'contract-encrypt-key',
        verification_token: fake.verificationToken,
      },
      driver,
      teardown: () => fake.close(),
    };
  },
});
