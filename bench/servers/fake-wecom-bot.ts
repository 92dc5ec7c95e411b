// The fake WeCom robot long connection in its own process (so it does not share the gateway's event loop).
// Prints {"wsUrl", "control", "botId", "botSecret"} once listening, then serves one control route:
//
//   POST <control>/run {"seconds", "warmupSeconds", "users", "inflight"}
//
// pushes text callbacks over the long connection, keeping `inflight` callbacks not yet answered, and
// answers with the figures: finished stream replies per second in the measured window, callback → finish
// latency, and after a drain, lost and duplicate answers.
import { serveControl } from './control.js';
import { FakeWecom, type BotDelivery, type BotReplyRecord } from '../../test/fakes/wecom/index.js';

const fake = await FakeWecom.start();

interface RunSpec {
  seconds: number;
  warmupSeconds: number;
  users: number;
  inflight: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function run(spec: RunSpec) {
  await fake.waitForBotConnection(20_000);
  const pushedAt = new Map<string, number>();
  const answered = new Set<string>();
  let duplicates = 0;
  let refused = 0;
  let measuring = false;
  let measured = 0;
  const latencies: number[] = [];
  let wake: (() => void) | undefined;
  let n = 0;
  let windowStart = 0;
  const stop = fake.onBotReply((d: BotDelivery, r: BotReplyRecord) => {
    if (r.errcode !== 0) {
      refused++;
      return;
    }
    if ((r.body.stream as { finish?: unknown } | undefined)?.finish !== true) return;
    const sentAt = pushedAt.get(d.reqId);
    if (sentAt === undefined) return;
    if (answered.has(d.reqId)) {
      duplicates++;
      return;
    }
    answered.add(d.reqId);
    if (measuring) {
      measured++;
      latencies.push(Date.now() - sentAt);
    }
    wake?.();
  });

  const until = Date.now() + (spec.warmupSeconds + spec.seconds) * 1000;
  const measureFrom = Date.now() + spec.warmupSeconds * 1000;
  while (Date.now() < until) {
    if (!measuring && Date.now() >= measureFrom) {
      measuring = true;
      windowStart = Date.now();
    }
    if (pushedAt.size - answered.size >= spec.inflight) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
      continue;
    }
    n++;
    const d = fake.sendBotText(`bench ${n}`, { from: `bench${n % spec.users}` });
    pushedAt.set(d.reqId, Date.now());
    // Yield now and then so pings and reply acks get served.
    if (n % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  const windowSeconds = (Date.now() - windowStart) / 1000;
  measuring = false;
  const drainUntil = Date.now() + 30_000;
  while (answered.size < pushedAt.size && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 50));
  stop();
  latencies.sort((a, b) => a - b);
  return {
    seconds: Math.round(windowSeconds * 10) / 10,
    users: spec.users,
    inflight: spec.inflight,
    messagesPerSec: Math.round(measured / windowSeconds),
    latencyP50Ms: percentile(latencies, 50),
    latencyP99Ms: percentile(latencies, 99),
    pushed: pushedAt.size,
    lost: pushedAt.size - answered.size,
    duplicates,
    refused,
  };
}

const control = await serveControl<RunSpec>('/run', run, () => fake.close());
console.log(JSON.stringify({ wsUrl: fake.wsUrl, control, botId: fake.botId, botSecret: fake.botSecret }));
