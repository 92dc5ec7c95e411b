import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startCallbackReceiver } from '../fakes/callback-receiver/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { webApiEntry } from '../helpers/workspace.js';

/**
 * The admin API's view of images in an agent's answer: the message detail shows each by its type
 * and size (bytes given) or its URL without the query (a URL given), never the data; and
 * `GET /messages/<id>/replies/<replyId>/image` serves the image's bytes, decoded or downloaded again.
 */

const ENTRY = 'mirror.web_api';
const SIGNATURE = 'sig-secret-4f9a2c';
const opened = closeAfterEach();
const b64 = (data: Buffer) => data.toString('base64');

async function start(profile: Record<string, unknown>, entryConfig: Record<string, unknown> = {}) {
  const entry = webApiEntry({ body_limit_bytes: 1_048_576, ...entryConfig });
  const t = opened(await startTestGateway({ agents: { mirror: { profile, entries: [entry] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  return t;
}

const imageOf = (t: TestGateway, id: string, replyId: string, auth = true) =>
  t.app.inject({ method: 'GET', url: `/api/admin/messages/${id}/replies/${replyId}/image`, headers: auth ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {} });

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A local HTTP server for the test's agent service and the host of its images; `handle` may be swapped. */
async function startService(handle: { current: Handler }) {
  const server = createServer((req, res) => handle.current(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  opened({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An agent service that answers every message with `answer`, and serves `image` at /img/chart.png. */
async function agentWithImages(answer: (base: string) => unknown, image: Buffer) {
  let imageRequests = 0;
  const handle: { current: Handler } = { current: () => {} };
  const base = await startService(handle);
  const serve: Handler = (req, res) => {
    if (req.method === 'GET' && req.url?.startsWith('/img/chart.png')) {
      imageRequests++;
      return res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(image);
    }
    req.resume().on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer(base))));
  };
  handle.current = serve;
  return { base, handle, serve, imageRequests: () => imageRequests };
}

describe('admin API: images in replies', () => {
  it('shows image chunks by type and size, never their base64, and serves each byte for byte', async () => {
    const t = await start({ provider: 'echo', images: true });
    const red = solidPng(4, 3, [255, 0, 0]);
    const blue = solidPng(2, 5, [0, 0, 255]);
    const res = await t.chat(ENTRY, { userId: 'ann', content: 'look', images: [{ data_base64: b64(red) }, { data_base64: b64(blue) }] }, { wait: true });
    expect(res.status).toBe(200);
    const id: string = res.json.messageId;

    const shown = await t.admin('GET', `/messages/${id}`);
    expect(shown.status).toBe(200);
    expect(shown.json.replies.map((r: { text: string; image?: unknown }) => [r.text, r.image])).toEqual([
      ['look [2 images]', undefined],
      ['', { mimeType: 'image/png', data: `… (${red.length} bytes)` }],
      ['', { mimeType: 'image/png', data: `… (${blue.length} bytes)` }],
    ]);
    const body = JSON.stringify(shown.json);
    for (const png of [red, blue]) expect(body).not.toContain(b64(png).slice(8, 40));

    const [text, first, second] = shown.json.replies as { id: string }[];
    for (const [reply, png] of [[first!, red], [second!, blue]] as const) {
      const image = await imageOf(t, id, reply.id);
      expect(image.statusCode).toBe(200);
      expect(image.rawPayload.equals(png)).toBe(true);
      expect(image.headers).toMatchObject({ 'content-type': 'image/png', 'cache-control': 'private, max-age=300', 'x-content-type-options': 'nosniff' });
    }

    // A text chunk, a chunk of another message, ids that name nothing: 404 without a body to show.
    const other = await t.chat(ENTRY, { userId: 'ann', content: 'again', images: [{ data_base64: b64(red) }] }, { wait: true });
    const otherImage = (await t.admin('GET', `/messages/${other.json.messageId}`)).json.replies[1].id as string;
    expect((await imageOf(t, other.json.messageId, otherImage)).statusCode).toBe(200);
    for (const [msg, reply] of [[id, text!.id], [id, otherImage], [id, '999999'], [id, 'x'], ['999999', first!.id], ['abc', first!.id]]) {
      const missing = await imageOf(t, msg!, reply!);
      expect(missing.statusCode, `${msg}/${reply}`).toBe(404);
      expect(missing.json().error.code).toBe('COCO_ERR_NOT_FOUND');
    }
    const anonymous = await imageOf(t, id, first!.id, false);
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.rawPayload.includes(red)).toBe(false);
  });

  it('shows an image URL without its query, downloads it again for the route, and answers 502 without the URL when that fails', async () => {
    const png = solidPng(6, 2, [0, 128, 0]);
    const service = await agentWithImages((base) => ({ reply: 'a chart', images: [{ url: `${base}/img/chart.png?X-Sig=${SIGNATURE}&exp=99#part`, alt: 'the chart' }] }), png);
    const t = await start({ provider: 'http', url: `${service.base}/agent` });
    const res = await t.chat(ENTRY, { userId: 'bo', content: 'draw' }, { wait: true });
    expect(res.json.reply).toMatchObject({ text: 'a chart', images: [{ alt: 'the chart' }] });
    const id: string = res.json.messageId;

    const shown = await t.admin('GET', `/messages/${id}`);
    const chunk = shown.json.replies[1];
    expect(chunk).toMatchObject({ text: 'the chart', image: { url: `${service.base}/img/chart.png?…`, alt: 'the chart' } });
    expect(JSON.stringify(shown.json)).not.toContain(SIGNATURE);

    const before = service.imageRequests();
    const image = await imageOf(t, id, chunk.id);
    expect(image.statusCode).toBe(200);
    expect(image.rawPayload.equals(png)).toBe(true);
    // Typed from the bytes: the host said application/octet-stream.
    expect(image.headers['content-type']).toBe('image/png');
    expect(service.imageRequests()).toBe(before + 1);

    // The host now refuses, echoing the URL it was asked for: the reason keeps the status, not the URL.
    service.handle.current = (req, res) => res.writeHead(403, { 'content-type': 'text/plain' }).end(`denied ${req.url}`);
    const refused = await imageOf(t, id, chunk.id);
    expect(refused.statusCode).toBe(502);
    expect(refused.json().error.code).toBe('COCO_ERR_MEDIA');
    expect(refused.json().error.message).toMatch(/HTTP 403/);
    expect(refused.body).not.toContain(SIGNATURE);
    expect(refused.body).not.toContain('exp=99');

    // Something that is not an image is not served as one.
    service.handle.current = (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end('<html>not a picture</html>');
    const notImage = await imageOf(t, id, chunk.id);
    expect(notImage.statusCode).toBe(502);
    expect(notImage.json().error.code).toBe('COCO_ERR_MEDIA');
    expect(notImage.body).not.toContain('not a picture');
  });

  it('lists dead image chunks as [image] or [image: alt] in the dead letters', async () => {
    const png = solidPng(2, 2);
    const service = await agentWithImages(
      (base) => ({ reply: 'two pictures', images: [{ url: `${base}/img/chart.png?X-Sig=${SIGNATURE}`, alt: 'the chart' }, { data_base64: b64(png), mime_type: 'image/png' }] }),
      png,
    );
    const receiver = opened(await startCallbackReceiver({ secret: 'cb-secret-0123456789abcdef' }));
    // A receiver answering 400 dead-letters each chunk at once.
    receiver.failNext(3, { status: 400, body: 'gone' });
    const t = await start({ provider: 'http', url: `${service.base}/agent` }, { callback_url: receiver.url, callback_secret: 'cb-secret-0123456789abcdef' });
    await t.chat(ENTRY, { userId: 'cy', content: 'pictures please' });
    const dead = await t.until(async () => {
      const res = await t.admin('GET', '/dead-letters?kind=outbound');
      return res.json.deadLetters.length === 3 ? (res.json.deadLetters as { id: string; text: string }[]) : undefined;
    });
    expect(dead.sort((a, b) => Number(a.id) - Number(b.id)).map((d) => d.text)).toEqual(['two pictures', '[image: the chart]', '[image]']);
    expect(JSON.stringify(dead)).not.toContain(b64(png).slice(8, 40));
  });
});
