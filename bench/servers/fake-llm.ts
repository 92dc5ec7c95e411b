// The fake OpenAI-compatible server in its own process (so it does not share the load
// generator's event loop). Prints {"url": ...} once listening; stops on SIGTERM.
import { startFakeLlm } from '../../test/fakes/llm/server.js';

const llm = await startFakeLlm({ delayMs: 0 });
const stop = () => {
  void llm.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The fake keeps every request for inspection; drop them now and then so a long run stays small.
setInterval(() => llm.reset(), 1_000).unref();
console.log(JSON.stringify({ url: llm.url }));
