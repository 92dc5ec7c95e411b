// (c) Baseline: a bare node:http hello-world in a child process, loaded with exactly the same
// autocannon settings as (a), so (a)/(c) says how much of this machine's plain-HTTP capacity the
// gateway keeps while doing real work (auth, validation, a durable SQLite insert per request).
import { phaseSeconds, warmupSeconds, type BenchOptions } from './lib/common.js';
import { spawnUntilReady } from './lib/child.js';
import { runLoad, type LoadFigures } from './lib/load.js';

const HELLO = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: 'http://127.0.0.1:' + server.address().port })));
process.on('SIGTERM', () => process.exit(0));
`;

export async function baseline(opts: BenchOptions): Promise<LoadFigures> {
  const child = await spawnUntilReady(['-e', HELLO], {}, (line) => {
    const m = /"url":"([^"]+)"/.exec(line);
    return m ? m[1]! : undefined;
  });
  try {
    // Same method, headers and body shape as the ingress phase.
    return await runLoad({
      url: `${child.ready}/api/v1/chat/hello`,
      method: 'POST',
      headers: { authorization: 'Bearer x', 'content-type': 'application/json' },
      body: '{"userId":"u-[<id>]","content":"hello from autocannon","msgId":"m-[<id>]"}',
      seconds: phaseSeconds(opts),
      warmupSeconds: warmupSeconds(opts),
      okStatus: 200,
    });
  } finally {
    await child.stop();
  }
}
