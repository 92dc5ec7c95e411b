// The fake Feishu open platform in its own process (so it does not share the load generator's or the
// gateway's event loop). Prints {"url", "appId", ...} once listening, then serves one control route:
//
//   POST <control>/run-ws {"seconds", "warmupSeconds", "users", "inflight"}
//
// pushes im.message.receive_v1 events over the long connection, keeping `inflight` events pushed but
// not yet answered, and answers with the figures: replies the fake's send API accepted per second in
// the measured window, push → reply latency, and after a drain, lost and duplicate replies.
import { serveControl } from './control.js';
import { PushLoop, type PushLoopSpec } from './push-loop.js';
import { FakeFeishu, type SentMessage } from '../../test/fakes/feishu/index.js';

const ENCRYPT_KEY = 'bench-feishu-encrypt-key';
const fake = await FakeFeishu.start({ encryptKey: ENCRYPT_KEY });
// Records of accepted replies would grow for the whole run; the figures are counted as they arrive.
setInterval(() => fake.forgetHistory(), 1_000).unref();

async function runLongConnection(spec: PushLoopSpec) {
  await fake.waitForConnections(1, 20_000);
  const loop = new PushLoop();
  let unexpected = 0;
  const stop = fake.onMessage((m: SentMessage) => {
    const text = (m.content as { text?: unknown }).text;
    if (typeof text !== 'string' || !loop.answer(text, m.at)) unexpected++;
  });
  const figures = await loop.run(spec, (n) => {
    const text = `bench ${n}`;
    fake.pushEvent(fake.textEvent(text, { from: `ou_bench${String(n % spec.users).padStart(24, '0')}` }));
    return text;
  });
  stop();
  const { perSec, ...rest } = figures;
  return { ...rest, eventsPerSec: perSec, unexpected, rateLimited: fake.counters.rateLimited };
}

const control = await serveControl<PushLoopSpec>('/run-ws', runLongConnection, () => fake.close());
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
