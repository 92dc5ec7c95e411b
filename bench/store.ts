// (k) Store work per message, without HTTP: the CPU time the SQLite store spends on one message,
// measured in this process (no load generator sharing the cores, so these figures move far less
// between runs than the HTTP ones). Two phases per id pattern:
//   enqueue  - groups of 50 concurrent enqueues (one group commit each), as webhooks arrive;
//   answer   - 16 workers loop claim → complete (the reply appended to the feed and stored as
//              sent in that transaction): the store side of the heartbeat for a web_api reply.
// Then the message log searched by text (`text` of listMessages) for words no message holds: a scan
// of every message, the slowest search there is; and the dashboard's 7 days counted (countMessages),
// every message on the last day (each passes all the day bounds).
// Sequential ids are what the HTTP benchmarks send; random ids are like real platform user ids
// (WeChat openids, Feishu open_ids), which scatter index inserts across the B-trees.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../src/store/store.js';
import type { BenchOptions } from './lib/common.js';
import { round } from './lib/common.js';
import { ENTRY } from './lib/workspace.js';

const WORKERS = 16;
const GROUP = 50;
const DAY_MS = 86_400_000;

export interface StorePhase {
  messages: number;
  /** Process CPU time (user + system, all threads: with the WAL checkpoint worker) per message. */
  cpuUsPerMsg: number;
  /** CPU time of the main thread alone per message: what competes with HTTP for the event loop. */
  mainThreadUsPerMsg: number;
  msgPerSec: number;
}

export interface StoreFigures {
  sequential: StoreRun;
  random: StoreRun;
}

interface StoreRun {
  enqueue: StorePhase;
  answer: StorePhase;
  /** Median of 5 searches for words no message holds (every message read), in ms. */
  searchAllMs: number;
  /** Median of 5 counts of 7 days holding every message, in ms. */
  daysAllMs: number;
}

type Open = (opts: { path: string }) => Store;

export async function storeWork(opts: BenchOptions): Promise<StoreFigures> {
  // The same build the HTTP scenarios run: dist/ unless --source.
  const mod = (opts.source
    ? await import('../src/store/sqlite/index.js')
    : await import(new URL('../dist/src/store/sqlite/index.js', import.meta.url).href)) as { openSqliteStore: Open };
  const messages = opts.quick ? 10_000 : 50_000;
  return {
    sequential: await measure(mod.openSqliteStore, messages, (i) => `u-${i}`),
    // A multiplicative hash of i: distinct, evenly spread, reproducible.
    random: await measure(mod.openSqliteStore, messages, (i) => `o${((i * 2_654_435_761) >>> 0).toString(36)}`),
  };
}

async function measure(open: Open, messages: number, userOf: (i: number) => string): Promise<StoreRun> {
  const dir = mkdtempSync(join(tmpdir(), 'cococat-bench-store-'));
  const store = open({ path: join(dir, 'cococat.db') });
  const now = Date.now();
  try {
    const enqueue = await phase(messages, async () => {
      for (let i = 0; i < messages; i += GROUP) {
        await Promise.all(
          Array.from({ length: Math.min(GROUP, messages - i) }, (_, k) => {
            const n = i + k;
            const user = userOf(n);
            return store.enqueue(
              {
                entryKey: ENTRY, channelType: 'web_api', targetKind: 'agent', targetId: 'bench', dedupKey: `m-${n}`,
                conversationKey: `${ENTRY}/${user}`,
                message: {
                  channelType: 'web_api', sceneId: 'bench', userId: user, conversationId: user, content: `hello ${n}`, msgType: 'text',
                  msgId: `m-${n}`, timestamp: now, isGroup: false, mentionsBot: true,
                },
              },
              now,
            );
          }),
        );
      }
    });
    let answered = 0;
    const worker = async () => {
      for (;;) {
        const [item] = await store.claimInbound({ now, leaseMs: 60_000, limit: 1, owner: 'bench' });
        if (!item) return;
        const { conversationId, userId, msgId } = item.message;
        const chunks = await store.completeInbound(item.id, item.leaseToken, {
          now, status: 'done', detail: '1 attempt(s)', history: { key: { agentId: 'bench', entryKey: ENTRY, conversationId }, turns: [] },
          replies: [{
            entryKey: ENTRY, channelType: 'web_api', conversationId, userId, idempotencyKey: `${item.id}:0`, text: `echo: ${item.message.content}`,
            format: 'text', chunkIndex: 0, chunkCount: 1, replyTo: item.id, inReplyTo: msgId, isGroup: false, availableAt: now, expiresAt: now + DAY_MS,
          }],
          claim: { leaseMs: 60_000, owner: 'bench' },
          feed: [{ messageId: item.id, userId, text: `echo: ${item.message.content}`, format: 'text', chunk: { index: 0, count: 1 } }],
        });
        if (!chunks || chunks[0]?.status !== 'sent') throw new Error(`message ${item.id}: its reply was not appended to the feed on completion`);
        answered++;
      }
    };
    const answer = await phase(messages, () => Promise.all(Array.from({ length: WORKERS }, worker)).then(() => undefined));
    if (answered !== messages) throw new Error(`answered ${answered} of ${messages} messages`);
    const searches: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      if ((await store.listMessages({ text: 'no such words', limit: 50 })).length > 0) throw new Error('a search found words no message holds');
      searches.push(performance.now() - t0);
    }
    const counts: number[] = [];
    const bounds = Array.from({ length: 8 }, (_, i) => now - 6 * DAY_MS + i * DAY_MS - DAY_MS / 2);
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const counted = (await store.countMessages(bounds)).reduce((sum, c) => sum + c.count, 0);
      if (counted !== messages) throw new Error(`the days counted ${counted} of ${messages} messages`);
      counts.push(performance.now() - t0);
    }
    return { enqueue, answer, searchAllMs: round(searches.sort((a, b) => a - b)[2]!), daysAllMs: round(counts.sort((a, b) => a - b)[2]!) };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function phase(messages: number, work: () => Promise<void>): Promise<StorePhase> {
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuNs();
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    messages,
    cpuUsPerMsg: round((cpu.user + cpu.system) / messages),
    mainThreadUsPerMsg: round((mainThreadCpuNs() - main0) / 1000 / messages),
    msgPerSec: Math.round(messages / seconds),
  };
}

/** Nanoseconds this thread has run on a CPU (Linux: the first field of /proc/thread-self/schedstat). */
function mainThreadCpuNs(): number {
  return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
}
