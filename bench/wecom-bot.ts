// (i) WeCom intelligent robot. The gateway (child process) has one wecom_bot entry on the fake robot long
// connection (bench/servers/fake-wecom-bot.ts, its own child process), answering with the echo agent.
//
//   text callbacks pushed over the WebSocket → durable enqueue (dedup by msgid) → echo → one stream frame
//   with finish: true on the callback's req_id. Figure: finished replies accepted by the fake per second,
//   with up to `inflight` callbacks unanswered at any time, spread over `users` direct chats. Then lost and
//   duplicate answers after a drain.
import type { BenchOptions } from './lib/common.js';
import { pushPhase, withFakePlatform } from './lib/fake-platform.js';

interface FakeInfo {
  wsUrl: string;
  control: string;
  botId: string;
  botSecret: string;
}

export interface WecomBotFigures {
  seconds: number;
  users: number;
  inflight: number;
  messagesPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  pushed: number;
  lost: number;
  duplicates: number;
  refused: number;
}

const USERS = 2_000;
const INFLIGHT = 500;

export function wecomBot(opts: BenchOptions): Promise<WecomBotFigures> {
  return withFakePlatform<FakeInfo, WecomBotFigures>(
    opts,
    'fake-wecom-bot.ts',
    (fake) => [{ id: 'robot', type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl } }],
    (fake) => pushPhase(fake, '/run', opts, { users: USERS, inflight: INFLIGHT }, 'fake WeCom robot'),
  );
}
