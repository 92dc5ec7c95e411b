// (b) End to end: messages per second from POST to the reply arriving on the user's SSE stream,
// sustained over the measured window, with every reply checked to arrive exactly once.
// (m) The same with two gateway processes sharing one PostgreSQL store: each user's stream is on
// one process, its messages go to either (alternating per round of users), so replies cross
// processes through the store's notifications. Needs COCOCAT_BENCH_PG_URL or COCOCAT_TEST_PG_URL.
//
// A child gateway (echo agent). 200 users each hold an SSE stream. A sender keeps at most
// POST_CONCURRENCY POSTs in flight (each answered 202 after the durable enqueue) and at most
// MAX_OUTSTANDING messages sent but not yet answered, so the system runs at its own pace instead
// of building an ever-growing queue. After the window, sending stops and every accepted message
// must be answered (drain), once.
import { Agent } from 'node:http';
import { dropSchemas } from '../test/helpers/postgres.js';
import { percentile, phaseSeconds, round, sleep, waitUntil, warmupSeconds, type BenchOptions } from './lib/common.js';
import { startGateway, type GatewayReady, type Ready } from './lib/child.js';
import { httpRequest, SseStream, type SseReply } from './lib/http.js';
import { API_KEY, authHeaders, benchWorkspace, ENTRY, removeWorkspace } from './lib/workspace.js';

const USERS = 200;
const POST_CONCURRENCY = 32;
const MAX_OUTSTANDING = 2_000;
const DRAIN_TIMEOUT_MS = 30_000;

export interface EndToEndFigures {
  seconds: number;
  users: number;
  /** Replies received in the window / window seconds. */
  msgPerSec: number;
  /** Slowest and fastest whole second of the window. */
  minSecond: number;
  maxSecond: number;
  /** POST (send) to reply arriving on the stream, for messages answered in the window. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  accepted: number;
  postFailures: number;
  postErrors: string[];
  /** Accepted messages still unanswered DRAIN_TIMEOUT_MS after sending stopped. */
  lost: number;
  /** Replies whose messageId had already been delivered. */
  duplicates: number;
  /** Replies for a message this run never sent. */
  unexpected: number;
  streamsDropped: number;
  peakRssMb: number | undefined;
  /** Gateway processes (1, or 2 sharing PostgreSQL). */
  processes: number;
}

export function endToEnd(opts: BenchOptions): Promise<EndToEndFigures> {
  return runEndToEnd(opts, 1);
}

/** (m): two processes on one PostgreSQL store, in a schema of their own, dropped afterwards. */
export async function endToEndShared(opts: BenchOptions): Promise<EndToEndFigures> {
  const url = process.env.COCOCAT_BENCH_PG_URL ?? process.env.COCOCAT_TEST_PG_URL;
  if (!url) throw new Error('set COCOCAT_BENCH_PG_URL (or COCOCAT_TEST_PG_URL) to a PostgreSQL database to run (m)');
  const schema = `cc_bench_${process.pid}_${Date.now().toString(36)}`;
  const storeUrl = `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
  try {
    return await runEndToEnd(opts, 2, storeUrl);
  } finally {
    await dropSchemas(url, [schema]);
  }
}

async function runEndToEnd(opts: BenchOptions, processes: number, storeUrl?: string): Promise<EndToEndFigures> {
  const root = benchWorkspace({ provider: 'echo' }, storeUrl ? { store: { url: storeUrl } } : {});
  const gateways: Ready<GatewayReady>[] = [];
  try {
    // One after the other: the first migrates the schema.
    for (let i = 0; i < processes; i++) gateways.push(await startGateway(root, { source: opts.source }));
  } catch (err) {
    for (const gw of gateways) await gw.stop();
    removeWorkspace(root);
    throw err;
  }
  const sseAgent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const postAgent = new Agent({ keepAlive: true, maxSockets: POST_CONCURRENCY });
  const streams: SseStream[] = [];
  try {
    const bases = gateways.map((gw) => `${gw.ready.baseUrl}/api/v1/chat/${ENTRY}`);
    const sentAt = new Map<number, number>(); // message number -> send time
    const accepted = new Set<string>();
    const delivered = new Set<string>();
    let duplicates = 0;
    let unexpected = 0;
    let outstanding = 0;
    let windowStart = Infinity;
    let windowEnd = Infinity;
    const perSecond: number[] = [];
    const latencies: number[] = [];
    const waiters: (() => void)[] = [];

    const onReply = (event: SseReply) => {
      const now = performance.now();
      const { messageId, text } = event.data;
      if (delivered.has(messageId)) {
        duplicates++;
        return;
      }
      delivered.add(messageId);
      const n = /^m(\d+)$/.exec(text)?.[1];
      const t = n === undefined ? undefined : sentAt.get(Number(n));
      if (t === undefined) {
        unexpected++;
        return;
      }
      sentAt.delete(Number(n));
      outstanding--;
      waiters.shift()?.();
      if (now >= windowStart && now < windowEnd) {
        const s = Math.floor((now - windowStart) / 1000);
        perSecond[s] = (perSecond[s] ?? 0) + 1;
        latencies.push(now - t);
      }
    };

    for (let u = 0; u < USERS; u++) streams.push(new SseStream(`${bases[u % processes]}/events?userId=user-${u}`, API_KEY, onReply));
    await Promise.all(streams.map((s) => s.connect(sseAgent, 0)));

    let sending = true;
    let next = 0;
    let postFailures = 0;
    const postErrors = new Set<string>();
    const sender = async () => {
      while (sending) {
        if (outstanding >= MAX_OUTSTANDING) {
          await new Promise<void>((resolve) => {
            waiters.push(resolve);
            setTimeout(resolve, 100); // re-check `sending` now and then
          });
          continue;
        }
        const n = next++;
        outstanding++;
        sentAt.set(n, performance.now());
        try {
          // With two processes a user's messages go to either, half of them to the one its stream is not on.
          const res = await httpRequest(postAgent, bases[(n + Math.floor(n / USERS)) % processes]!, {
            method: 'POST',
            headers: authHeaders,
            body: JSON.stringify({ userId: `user-${n % USERS}`, content: `m${n}`, msgId: `m${n}` }),
          });
          if (res.status === 202) {
            accepted.add((JSON.parse(res.body) as { messageId: string }).messageId);
            continue;
          }
          postErrors.add(`HTTP ${res.status} ${res.body.slice(0, 200)}`);
        } catch (err) {
          postErrors.add((err as Error).message);
        }
        postFailures++;
        if (sentAt.delete(n)) outstanding--;
        if (postFailures > 1_000) sending = false; // something is badly wrong; stop hammering
      }
    };
    const senders = Array.from({ length: POST_CONCURRENCY }, () => sender());

    const seconds = phaseSeconds(opts);
    await sleep(warmupSeconds(opts) * 1000);
    windowStart = performance.now();
    windowEnd = windowStart + seconds * 1000;
    await sleep(seconds * 1000);
    const measured = perSecond.reduce((a, b) => a + (b ?? 0), 0);
    sending = false;
    for (const w of waiters.splice(0)) w();
    await Promise.all(senders);

    // Drain: every accepted message must be answered.
    await waitUntil(() => [...accepted].every((id) => delivered.has(id)), DRAIN_TIMEOUT_MS, 200);
    await sleep(500); // let late duplicates show up
    const lost = [...accepted].filter((id) => !delivered.has(id)).length;
    const full = Array.from({ length: seconds }, (_, i) => perSecond[i] ?? 0);
    latencies.sort((a, b) => a - b);
    return {
      seconds,
      users: USERS,
      msgPerSec: round(measured / seconds, 0),
      minSecond: Math.min(...full),
      maxSecond: Math.max(...full),
      latencyP50Ms: round(percentile(latencies, 50)),
      latencyP99Ms: round(percentile(latencies, 99)),
      accepted: accepted.size,
      postFailures,
      postErrors: [...postErrors].slice(0, 5),
      lost,
      duplicates,
      unexpected,
      streamsDropped: streams.filter((s) => !s.connected).length,
      peakRssMb: Math.max(...gateways.map((gw) => gw.peakRssMb() ?? 0)) || undefined,
      processes,
    };
  } finally {
    for (const s of streams) s.close();
    sseAgent.destroy();
    postAgent.destroy();
    for (const gw of gateways) await gw.stop();
    removeWorkspace(root);
  }
}
