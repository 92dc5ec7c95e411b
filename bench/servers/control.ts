// The control side of a fake platform running in its own benchmark process: one POST runs the
// measured push loop with the JSON spec it carries and answers its figures; SIGTERM/SIGINT close
// the fake and end the process.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function serveControl<Spec>(path: string, run: (spec: Spec) => Promise<unknown>, close: () => Promise<void>): Promise<string> {
  const control = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== path) {
        res.writeHead(404).end();
        return;
      }
      run(JSON.parse(body) as Spec).then(
        (figures) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(figures)),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const stop = () => {
    control.close();
    void close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return `http://127.0.0.1:${(control.address() as AddressInfo).port}`;
}
