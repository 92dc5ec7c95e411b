// The fake iLink bot API (personal WeChat) in its own process (so it does not share the gateway's event loop).
// Prints {"url", "control", "botToken"} once listening, then serves one control route:
//
//   POST <control>/run {"seconds", "warmupSeconds", "users", "inflight"}
//
// adds user messages to the fake's inbound log (the gateway's getupdates long poll picks them up), keeping
// `inflight` messages not yet answered, and answers with the figures: replies sendmessage accepted per second
// in the measured window, message added → reply accepted latency, and after a drain, lost and duplicate replies.
import { serveControl } from './control.js';
import { PushLoop, type PushLoopSpec } from './push-loop.js';
import { FakeIlink, type SentMessage } from '../../test/fakes/ilink/index.js';

// A held poll answers as soon as a message arrives; the hold only matters when nothing comes, so keep it short
// rather than iLink's 35 s (the gateway adopts the figure the fake names).
const fake = await FakeIlink.start({ longPollMs: 1_000 });
// The call log and the sent records would grow for the whole run; the figures are counted as replies arrive.
setInterval(() => fake.forgetHistory(), 1_000).unref();

async function run(spec: PushLoopSpec) {
  const loop = new PushLoop();
  let unexpected = 0;
  // Each message brings its own context token and gets one reply: the token names the message answered.
  const stop = fake.onSent((m: SentMessage) => {
    if (!loop.answer(m.contextToken, m.at)) unexpected++;
  });
  const figures = await loop.run(spec, (n) => fake.userSends(`bench${n % spec.users}`, `bench ${n}`).context_token);
  stop();
  const { perSec, ...rest } = figures;
  return { ...rest, messagesPerSec: perSec, unexpected };
}

const control = await serveControl<PushLoopSpec>('/run', run, () => fake.close());
console.log(JSON.stringify({ url: fake.url, control, botToken: fake.botToken }));
