// (l) Personal WeChat through iLink. The gateway (child process) has one wechat_ilink entry on the fake iLink
// bot API (bench/servers/fake-ilink.ts, its own child process), answering with the echo agent.
//
//   user message added to the fake → getupdates long poll delivers it (up to 100 per answer) → durable enqueue
//   (the cursor is saved after each batch) → echo → sendmessage with the message's context_token. Figure:
//   replies the fake accepted per second, with up to `inflight` messages unanswered at any time, spread over
//   `users` users. Then lost and duplicate replies after a drain.
import { join } from 'node:path';
import { makeWorkspace, removeWorkspace } from '../test/helpers/workspace.js';
import { phaseSeconds, warmupSeconds, type BenchOptions } from './lib/common.js';
import { spawnUntilReady, startGateway, ROOT } from './lib/child.js';

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

export async function wechatIlink(opts: BenchOptions): Promise<WechatIlinkFigures> {
  const helper = await spawnUntilReady(['--import', 'tsx', join(ROOT, 'bench', 'servers', 'fake-ilink.ts')], {}, (line) => {
    if (!line.startsWith('{')) return undefined;
    try {
      const json = JSON.parse(line) as Partial<FakeInfo>;
      return typeof json.url === 'string' && typeof json.control === 'string' ? (json as FakeInfo) : undefined;
    } catch {
      return undefined;
    }
  });
  const fake = helper.ready;
  const root = makeWorkspace({
    agents: {
      bench: { profile: { provider: 'echo' }, entries: [{ id: 'wechat', type: 'channel', channel: 'wechat_ilink', config: { base_url: fake.url, bot_token: fake.botToken } }] },
    },
  });
  try {
    const gw = await startGateway(root, { source: opts.source });
    try {
      const res = await fetch(`${fake.control}/run`, {
        method: 'POST',
        body: JSON.stringify({ seconds: phaseSeconds(opts), warmupSeconds: warmupSeconds(opts), users: USERS, inflight: INFLIGHT }),
      });
      if (!res.ok) throw new Error(`fake iLink: run answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as WechatIlinkFigures;
    } finally {
      await gw.stop();
    }
  } finally {
    await helper.stop();
    removeWorkspace(root);
  }
}
