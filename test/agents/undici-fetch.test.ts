import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { undiciFetch } from '../../src/agents/undici-fetch.js';

/** A small server with one route per behaviour the agents rely on. */
let server: Server;
let base = '';
const seen: { method?: string; headers: IncomingMessage['headers']; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      seen.push({ method: req.method, headers: req.headers, body });
      if (req.url === '/json') {
        res.writeHead(201, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'], 'retry-after': '7' });
        res.end(JSON.stringify({ echo: body }));
      } else if (req.url === '/empty') {
        res.writeHead(204).end();
      } else if (req.url === '/moved') {
        res.writeHead(307, { location: '/json' }).end();
      } else if (req.url === '/slow') {
        setTimeout(() => res.writeHead(200).end('late'), 2_000).unref();
      } else {
        res.writeHead(404).end('no such route');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('undiciFetch', () => {
  it('sends method, headers and body, and answers status, every header and the body as fetch would', async () => {
    const res = await undiciFetch(`${base}/json`, {
      method: 'post',
      headers: new Headers({ 'content-type': 'application/json', 'x-trace': 't1' }),
      body: '{"q":1}',
    });
    expect(seen.at(-1)).toMatchObject({ method: 'POST', body: '{"q":1}', headers: { 'content-type': 'application/json', 'x-trace': 't1' } });
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await res.json()).toEqual({ echo: '{"q":1}' });
  });

  it('answers a 204 without a body, and passes a redirect and a 404 through as they are', async () => {
    const empty = await undiciFetch(`${base}/empty`);
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe('');
    const moved = await undiciFetch(`${base}/moved`, { method: 'POST', body: 'x' });
    expect([moved.status, moved.headers.get('location')]).toEqual([307, '/json']);
    const missing = await undiciFetch(new URL(`${base}/nowhere`));
    expect([missing.status, await missing.text()]).toEqual([404, 'no such route']);
  });

  it('rejects with an AbortError when its signal aborts, and with the network error when nothing listens', async () => {
    const controller = new AbortController();
    const pending = undiciFetch(`${base}/slow`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await expect(undiciFetch('http://127.0.0.1:1/')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
