// (l) Personal WeChat through iLink. The gateway (child process) has one wechat_ilink entry on the fake iLink
// bot API (bench/servers/fake-ilink.ts, its own child process), answering with the echo agent.
//
//   user message added to the fake → getupdates long poll delivers it (up to 100 per answer) → durable enqueue
//   (the cursor is saved after each batch) → echo → sendmessage with the message's context_token. Figure:
//   replies the fake accepted per second, with up to `inflight` messages unanswered at any time, spread over
//   `users` users. Then lost and duplicate replies after a drain.
import type { BenchOptions } from './lib/common.js';
import { pushPhase, withFakePlatform } from './lib/fake-platform.js';

interface FakeInfo {
  url: string;
  control: string;
  botToken: string;
}

export interface WechatIlinkFigures {
  seconds: number;
  users: number;
  inflight: number;
  messagesPerSec: number;
  minSecond: number;
  maxSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  pushed: number;
  lost: number;
  duplicates: number;
  unexpected: number;
}

const USERS = 2_000;
const INFLIGHT = 500;

export function wechatIlink(opts: BenchOptions): Promise<WechatIlinkFigures> {
  return withFakePlatform<FakeInfo, WechatIlinkFigures>(
    opts,
    'fake-ilink.ts',
    (fake) => [{ id: 'wechat', type: 'channel', channel: 'wechat_ilink', config: { base_url: fake.url, bot_token: fake.botToken } }],
    (fake) => pushPhase(fake, '/run', opts, { users: USERS, inflight: INFLIGHT }, 'fake iLink'),
  );
}
