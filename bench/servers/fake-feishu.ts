// The fake Feishu open platform in its own process (so it does not share the load generator's or the
// gateway's event loop). Prints {"url", "appId", ...} once listening, then serves one control route:
//
//   POST <control>/run-ws {"seconds", "warmupSeconds", "users", "inflight"}
//
// pushes im.message.receive_v1 events over the long connection, keeping `inflight` events pushed but
// not yet answered, and answers with the figures: replies the fake's send API accepted per second in
// the measured window, push → reply latency, and after a drain, lost and duplicate replies.
import { serveControl } from './control.js';
import { FakeFeishu, type SentMessage } from '../../test/fakes/feishu/index.js';

const ENCRYPT_KEY = 'bench-feishu-encrypt-key';
const fake = await FakeFeishu.start({ encryptKey: ENCRYPT_KEY });
// Records of accepted replies would grow for the whole run; the figures are counted as they arrive.
setInterval(() => fake.forgetHistory(), 1_000).unref();

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

async function runLongConnection(spec: RunSpec) {
  await fake.waitForConnections(1, 20_000);
  const pushedAt = new Map<string, number>();
  const answered = new Set<string>();
  let duplicates = 0;
  let unexpected = 0;
  let measuring = false;
  let measured = 0;
  const latencies: number[] = [];
  const perSecond = new Map<number, number>();
  let wake: (() => void) | undefined;
  let n = 0;
  let windowStart = 0;
  const stop = fake.onMessage((m: SentMessage) => {
    const text = (m.content as { text?: unknown }).text;
    const sentAt = typeof text === 'string' ? pushedAt.get(text) : undefined;
    if (typeof text !== 'string' || sentAt === undefined) {
      unexpected++;
      return;
    }
    if (answered.has(text)) {
      duplicates++;
      return;
    }
    answered.add(text);
    if (measuring) {
      measured++;
      latencies.push(m.at - sentAt);
      const second = Math.floor((m.at - windowStart) / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
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
    const text = `bench ${++n}`;
    pushedAt.set(text, Date.now());
    fake.pushEvent(fake.textEvent(text, { from: `ou_bench${String(n % spec.users).padStart(24, '0')}` }));
    // Yield now and then so acks, pongs and the send API get served.
    if (n % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  const windowSeconds = (Date.now() - windowStart) / 1000;
  measuring = false;
  const drainUntil = Date.now() + 30_000;
  while (answered.size < pushedAt.size && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 50));
  stop();
  latencies.sort((a, b) => a - b);
  const seconds = [...perSecond.entries()].filter(([s]) => s < Math.floor(windowSeconds)).map(([, c]) => c);
  return {
    seconds: Math.round(windowSeconds * 10) / 10,
    users: spec.users,
    inflight: spec.inflight,
    eventsPerSec: Math.round(measured / windowSeconds),
    minSecond: seconds.length ? Math.min(...seconds) : 0,
    maxSecond: seconds.length ? Math.max(...seconds) : 0,
    latencyP50Ms: percentile(latencies, 50),
    latencyP99Ms: percentile(latencies, 99),
    pushed: pushedAt.size,
    lost: pushedAt.size - answered.size,
    duplicates,
    unexpected,
    rateLimited: fake.counters.rateLimited,
  };
}

const control = await serveControl<RunSpec>('/run-ws', runLongConnection, () => fake.close());
console.log(
  JSON.stringify({
    url: fake.url,
    control,
    appId: fake.appId,
    appSecret: fake.appSecret,
    verificationToken: fake.verificationToken,
    encryptKey: ENCRYPT_KEY,
    tenantKey: fake.tenantKey,
    botOpenId: fake.botOpenId,
    botName: fake.botName,
  }),
);
