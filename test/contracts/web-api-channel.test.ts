import { webApiChannel } from '../../src/channels/web-api/index.js';
import type { ChannelDefinition } from '../../src/channels/define.js';
import { SseClient } from '../helpers/sse.js';
import { runChannelContract } from './channel.contract.js';

const KEY = 'contract-key-0123456789';

runChannelContract('web_api', {
  definition: webApiChannel as unknown as ChannelDefinition,
  idempotentSend: true,
  feedDelivery: true,
  async setup({ baseUrl, entryKey }) {
    return {
      config: { api_key: KEY },
      driver: {
        async deliver({ userId, text, msgId }) {
          const res = await fetch(`${baseUrl}/api/v1/chat/${entryKey}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
            body: JSON.stringify({ userId, content: text, msgId }),
          });
          await res.arrayBuffer();
          return { acked: res.status === 202 };
        },
        async received(userId) {
          // The client's view: the SSE stream from the beginning.
          const sse = new SseClient(`${baseUrl}/api/v1/chat/${entryKey}/events?userId=${encodeURIComponent(userId)}`, KEY);
          sse.lastEventId = 0;
          await sse.connect();
          await new Promise((r) => setTimeout(r, 150));
          await sse.close();
          return sse.events.map((e) => e.data.text as string);
        },
      },
    };
  },
});
