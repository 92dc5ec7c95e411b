// The fake WeCom robot long connection in its own process (so it does not share the gateway's event loop).
// Prints {"wsUrl", "control", "botId", "botSecret"} once listening, then serves one control route:
//
//   POST <control>/run {"seconds", "warmupSeconds", "users", "inflight"}
//
// pushes text callbacks over the long connection, keeping `inflight` callbacks not yet answered, and
// answers with the figures: finished stream replies per second in the measured window, callback → finish
// latency, and after a drain, lost and duplicate answers.
import { serveControl } from './control.js';
import { PushLoop, type PushLoopSpec } from './push-loop.js';
import { FakeWecom, type BotDelivery, type BotReplyRecord } from '../../test/fakes/wecom/index.js';

const fake = await FakeWecom.start();

async function run(spec: PushLoopSpec) {
  await fake.waitForBotConnection(20_000);
  const loop = new PushLoop();
  let refused = 0;
  const stop = fake.onBotReply((d: BotDelivery, r: BotReplyRecord) => {
    if (r.errcode !== 0) {
      refused++;
      return;
    }
    if ((r.body.stream as { finish?: unknown } | undefined)?.finish === true) loop.answer(d.reqId);
  });
  const figures = await loop.run(spec, (n) => fake.sendBotText(`bench ${n}`, { from: `bench${n % spec.users}` }).reqId);
  stop();
  const { perSec, ...rest } = figures;
  return { ...rest, messagesPerSec: perSec, refused };
}

const control = await serveControl<PushLoopSpec>('/run', run, () => fake.close());
console.log(JSON.stringify({ wsUrl: fake.wsUrl, control, botId: fake.botId, botSecret: fake.botSecret }));
