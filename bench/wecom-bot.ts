// (i) WeCom intelligent robot. The gateway (child process) has one wecom_bot entry on the fake robot long
// connection (bench/servers/fake-wecom-bot.ts, its own child process), answering with the echo agent.
//
//   text callbacks pushed over the WebSocket → durable enqueue (dedup by msgid) → echo → one stream frame
//   with finish: true on the callback's req_id. Figure: finished replies accepted by the fake per second,
//   with up to `inflight` callbacks unanswered at any time, spread over `users` direct chats. Then lost and
//   duplicate answers after a drain.
import { join } from 'node:path';
import { makeWorkspace, removeWorkspace } from '../test/helpers/workspace.js';
import { phaseSeconds, warmupSeconds, type BenchOptions } from './lib/common.js';
import { spawnUntilReady, startGateway, ROOT } from './lib/child.js';

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

export async function wecomBot(opts: BenchOptions): Promise<WecomBotFigures> {
  const helper = await spawnUntilReady(['--import', 'tsx', join(ROOT, 'bench', 'servers', 'fake-wecom-bot.ts')], {}, (line) => {
    if (!line.startsWith('{')) return undefined;
    try {
      const json = JSON.parse(line) as Partial<FakeInfo>;
      return typeof json.wsUrl === 'string' && typeof json.control === 'string' ? (json as FakeInfo) : undefined;
    } catch {
      return undefined;
    }
  });
  const fake = helper.ready;
  const root = makeWorkspace({
    agents: {
      bench: { profile: { provider: 'echo' }, entries: [{ id: 'robot', type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl } }] },
    },
  });
  try {
    const gw = await startGateway(root, { source: opts.source });
    try {
      const res = await fetch(`${fake.control}/run`, {
        method: 'POST',
        body: JSON.stringify({ seconds: phaseSeconds(opts), warmupSeconds: warmupSeconds(opts), users: USERS, inflight: INFLIGHT }),
      });
      if (!res.ok) throw new Error(`fake WeCom robot: run answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as WecomBotFigures;
    } finally {
      await gw.stop();
    }
  } finally {
    await helper.stop();
    removeWorkspace(root);
  }
}
