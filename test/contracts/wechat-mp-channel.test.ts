import type { ChannelDefinition } from '../../src/channels/define.js';
import { wechatMpChannel } from '../../src/channels/wechat-mp/index.js';
import { startFakeWechatMp } from '../fakes/wechat-mp/server.js';
import { runChannelContract } from './channel.contract.js';

const APP = { appId: 'wx0123456789abcdef', appSecret: 'app-secret-0123456789', token: 'tok3n', encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR' };

runChannelContract('wechat_mp (safe mode, against the fake 公众号 platform)', {
  definition: wechatMpChannel as unknown as ChannelDefinition,
  // WeChat's 客服 API has no idempotency key: a retried send can show twice, so the outbox only retries what failed.
  idempotentSend: false,
  async setup({ baseUrl, entryKey }) {
    const fake = await startFakeWechatMp({ ...APP, mode: 'safe', gatewayUrl: `${baseUrl}/webhooks/wechat_mp/${entryKey}`, retryWaitMs: 1_000 });
    return {
      config: { app_id: APP.appId, app_secret: APP.appSecret, token: APP.token, encoding_aes_key: APP.encodingAesKey, mode: 'safe', api_base_url: fake.url, reply_mode: 'customer_service' },
      driver: {
        async deliver({ userId, text, msgId }) {
          // WeChat's MsgId is numeric: derive a stable one from the contract's id.
          const numeric = String(1_000_000 + [...msgId].reduce((n, c) => n * 31 + c.charCodeAt(0), 7) % 1_000_000_000);
          const result = await fake.push(userId, { type: 'text', content: text }, { msgId: numeric });
          const last = result.attempts.at(-1);
          return { acked: last?.status === 200 && !last.timedOut && (last.body === 'success' || last.body === '') && result.attempts.length === 1 };
        },
        received: async (userId) => fake.received(userId),
      },
      teardown: () => fake.close(),
    };
  },
});
