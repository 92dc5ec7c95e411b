// (h) Feishu/Lark. The gateway (child process) has two feishu entries on the fake open platform
// (bench/servers/fake-feishu.ts, its own child process): one on the long connection, one on the webhook
// with an Encrypt Key. Both answer with the echo agent through the fake's send API.
//
//   long connection: events pushed over the WebSocket (pbbp2 frames) → acked after the durable enqueue →
//     echo → im/v1/messages at the fake. Figure: replies accepted by the fake per second, with up to
//     `inflight` events unanswered at any time, spread over `users` direct chats (each chat is paced at
//     5 messages per second, as Feishu requires). Then lost and duplicate replies after a drain.
//   webhook ingress: autocannon POSTs pushes built like Feishu's: a fresh event and message id per request,
//     AES-encrypted with the Encrypt Key, X-Lark-Signature over the body. Every 200 is a verified,
//     decrypted, parsed and durably stored message.
import { encrypt, messageEvent, sign } from '../test/fakes/feishu/index.js';
import { phaseSeconds, warmupSeconds, type BenchOptions } from './lib/common.js';
import { pushPhase, withFakePlatform } from './lib/fake-platform.js';
import { runLoad, type LoadFigures } from './lib/load.js';

interface FakeInfo {
  url: string;
  control: string;
  appId: string;
  appSecret: string;
  verificationToken: string;
  encryptKey: string;
  tenantKey: string;
  botOpenId: string;
  botName: string;
}

export interface LongConnectionFigures {
  seconds: number;
  users: number;
  inflight: number;
  eventsPerSec: number;
  minSecond: number;
  maxSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  pushed: number;
  lost: number;
  duplicates: number;
  unexpected: number;
  rateLimited: number;
}

export interface FeishuFigures {
  longConnection: LongConnectionFigures;
  webhook: LoadFigures;
}

/** Direct chats the events are spread over: each gets well under its 5 per second. */
const USERS = 2_000;
const INFLIGHT = 500;

export function feishu(opts: BenchOptions): Promise<FeishuFigures> {
  return withFakePlatform<FakeInfo, FeishuFigures>(
    opts,
    'fake-feishu.ts',
    (fake) => {
      const base = { app_id: fake.appId, app_secret: fake.appSecret, domain: fake.url };
      return [
        { id: 'ws', type: 'channel', channel: 'feishu', config: base },
        { id: 'hook', type: 'channel', channel: 'feishu', config: { ...base, connection: 'webhook', encrypt_key: fake.encryptKey, verification_token: fake.verificationToken } },
      ];
    },
    async (fake, gw) => {
      const longConnection = await pushPhase<LongConnectionFigures>(fake, '/run-ws', opts, { users: USERS, inflight: INFLIGHT }, 'fake Feishu');
      const ctx = { appId: fake.appId, tenantKey: fake.tenantKey, verificationToken: fake.verificationToken, botOpenId: fake.botOpenId, botName: fake.botName };
      const webhook = await runLoad({
        url: `${gw.ready.baseUrl}/webhooks/feishu/bench.hook`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        seconds: phaseSeconds(opts),
        warmupSeconds: warmupSeconds(opts),
        okStatus: 200,
        generate: (n) => {
          const event = messageEvent(ctx, { type: 'text', text: `hello from the benchmark ${n}` }, { from: `ou_hook${String(n % USERS).padStart(24, '0')}` });
          const body = JSON.stringify({ encrypt: encrypt(fake.encryptKey, JSON.stringify(event)) });
          const timestamp = String(Math.floor(Date.now() / 1000));
          const nonce = String(n);
          return {
            path: '/webhooks/feishu/bench.hook',
            body,
            headers: { 'content-type': 'application/json', 'x-lark-request-timestamp': timestamp, 'x-lark-request-nonce': nonce, 'x-lark-signature': sign(timestamp, nonce, fake.encryptKey, body) },
          };
        },
      });
      return { longConnection, webhook };
    },
  );
}
