import type { ChannelDefinition } from '../../src/channels/define.js';
import { wecomChannel } from '../../src/channels/wecom/index.js';
import { FakeWecom, wecomMessage } from '../fakes/wecom/index.js';
import { runChannelContract } from './channel.contract.js';

runChannelContract('wecom (self-built app, against the fake WeCom)', {
  definition: wecomChannel as unknown as ChannelDefinition,
  // message/send has no idempotency key (and its duplicate check would swallow rightful repeats).
  idempotentSend: false,
  async setup({ baseUrl, entryKey }) {
    const fake = await FakeWecom.start({ gatewayUrl: `${baseUrl}/webhooks/wecom/${entryKey}`, retryWaitMs: 1_000 });
    return {
      config: { corp_id: fake.corpId, agent_id: fake.agentId, secret: fake.corpSecret, token: fake.token, encoding_aes_key: fake.encodingAesKey, api_base_url: fake.url },
      driver: {
        async deliver({ userId, text, msgId }) {
          // WeCom's MsgId is numeric: derive a stable one from the contract's id.
          const numeric = String(1_000_000 + ([...msgId].reduce((n, c) => n * 31 + c.charCodeAt(0), 7) % 1_000_000_000));
          const result = await fake.push(userId, wecomMessage.text(text), { msgId: numeric });
          const last = result.attempts.at(-1);
          return { acked: last?.status === 200 && !last.timedOut && last.body === '' && result.attempts.length === 1 };
        },
        received: async (userId) => fake.delivered(userId).map((d) => d.content),
      },
      teardown: () => fake.close(),
    };
  },
});
