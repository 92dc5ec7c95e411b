// (a) Ingress: how many durable enqueues per second the web_api POST sustains.
// The gateway runs in a child process (echo agent, heartbeat and outbox running as in
// production); autocannon runs here. Every 202 is a message committed to the SQLite mailbox.
import { phaseSeconds, warmupSeconds, type BenchOptions } from './lib/common.js';
import { startGateway } from './lib/child.js';
import { runLoad, type LoadFigures } from './lib/load.js';
import { authHeaders, benchWorkspace, ENTRY, removeWorkspace } from './lib/workspace.js';

export interface IngressFigures extends LoadFigures {
  peakRssMb: number | undefined;
}

export async function ingress(opts: BenchOptions): Promise<IngressFigures> {
  const root = benchWorkspace();
  const gw = await startGateway(root, { source: opts.source }).catch((err: unknown) => {
    removeWorkspace(root);
    throw err;
  });
  try {
    const load = await runLoad({
      url: `${gw.ready.baseUrl}/api/v1/chat/${ENTRY}`,
      method: 'POST',
      headers: authHeaders,
      // A unique msgId per request, so none is dropped as a duplicate, and a new user each (500 users
      // sending in turn measured the same, within noise).
      body: '{"userId":"u-[<id>]","content":"hello from autocannon","msgId":"m-[<id>]"}',
      seconds: phaseSeconds(opts),
      warmupSeconds: warmupSeconds(opts),
      okStatus: 202,
    });
    return { ...load, peakRssMb: gw.peakRssMb() };
  } finally {
    await gw.stop();
    removeWorkspace(root);
  }
}
