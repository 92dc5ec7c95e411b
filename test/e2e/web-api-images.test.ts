import { describe, expect, it } from 'vitest';
import { imagesOf, startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { webApiEntry } from '../helpers/workspace.js';

const ENTRY = 'looker.web_api';
const opened = closeAfterEach();

async function start(images = true) {
  const llm = opened(await startFakeLlm());
  const profile = { provider: 'openai', model: 'vision-model', base_url: llm.url, api_key: 'k', images };
  const t = opened(await startTestGateway({ agents: { looker: { profile, entries: [webApiEntry({ body_limit_bytes: 1_048_576 })] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  return { t, llm };
}

const b64 = (data: Buffer) => data.toString('base64');
const mediaOf = (t: TestGateway, id: string, index: number | string, auth = true) =>
  t.app.inject({ method: 'GET', url: `/api/admin/messages/${id}/media/${index}`, headers: auth ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {} });

describe('web_api: images sent inline', () => {
  it('hands the images to a model that reads them, after the text, and answers once', async () => {
    const { t, llm } = await start();
    const red = solidPng(2, 2, [255, 0, 0]);
    const blue = solidPng(3, 1, [0, 0, 255]);
    const res = await t.chat(ENTRY, { userId: 'ann', content: 'which is bigger?', images: [{ data_base64: b64(red) }, { data_base64: b64(blue) }] }, { wait: true });
    expect(res.status).toBe(200);
    expect(res.json.reply.text).toBe('reply to: which is bigger? [2 images] (+2 images)');
    expect(llm.requests).toHaveLength(1);
    expect(imagesOf(llm.requests[0]!)).toEqual([
      { mimeType: 'image/png', data: red },
      { mimeType: 'image/png', data: blue },
    ]);
    const detail = await t.gateway.store.getMessage(res.json.messageId);
    expect(detail?.message).toMatchObject({ content: 'which is bigger? [2 images]', msgType: 'text' });
  });

  it('takes images without text; the admin API shows each image by type and size, never its data', async () => {
    const { t, llm } = await start();
    const png = solidPng(5, 5);
    const res = await t.chat(ENTRY, { userId: 'ben', images: [{ data_base64: b64(png) }] }, { wait: true });
    expect(res.json.reply.text).toBe('reply to: [image] (+1 image)');
    expect(imagesOf(llm.requests[0]!)[0]!.data.equals(png)).toBe(true);

    const shown = await t.admin('GET', `/messages/${res.json.messageId}`);
    expect(shown.status).toBe(200);
    expect(shown.json.message).toMatchObject({ msgType: 'image', content: '[image]' });
    expect(shown.json.message.media).toEqual([{ kind: 'image', ref: `data:image/png;base64,… (${png.length} bytes)`, mimeType: 'image/png' }]);
    expect(JSON.stringify(shown.json)).not.toContain(b64(png).slice(0, 24));
  });

  it('gives an agent without images: true the description only', async () => {
    const { t, llm } = await start(false);
    const res = await t.chat(ENTRY, { userId: 'cat', content: 'see', images: [{ data_base64: b64(solidPng()) }] }, { wait: true });
    expect(res.json.reply.text).toBe('reply to: see [image]');
    expect(llm.requests[0]!.body.messages!.at(-1)!.content).toBe('see [image]');
  });

  it('refuses a bad image with 400 naming the field, and stores nothing', async () => {
    const { t, llm } = await start();
    const bmp = Buffer.from([0x42, 0x4d, 0x3a, 0, 0, 0, 0, 0]);
    const cases: [unknown, string, RegExp][] = [
      [{ userId: 'dan', images: [{ data_base64: b64(solidPng()) }, { data_base64: 'not base64!' }] }, 'images.1.data_base64', /is not base64/],
      [{ userId: 'dan', images: [{ data_base64: b64(bmp) }] }, 'images.0.data_base64', /is not a png, jpeg, gif or webp image \(image\/bmp\)/],
      [{ userId: 'dan', images: [{ data_base64: b64(Buffer.from('hello, I am text')) }] }, 'images.0.data_base64', /is not a png, jpeg, gif or webp image$/],
      [{ userId: 'dan', images: Array.from({ length: 5 }, () => ({ data_base64: b64(solidPng()) })) }, 'images', /.+/],
      [{ userId: 'dan', images: [] }, 'images', /.+/],
      [{ userId: 'dan', images: [{ data_base64: b64(solidPng()), url: 'http://x' }] }, 'images.0.url', /unknown field/],
      [{ userId: 'dan' }, 'content', /is required .* unless the message has images/],
      [{ userId: 'dan', content: '' }, 'content', /is required/],
    ];
    for (const [body, field, message] of cases) {
      const res = await t.chat(ENTRY, body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json.error).toMatchObject({ code: 'COCO_ERR_REQUEST_INVALID', field });
      expect(res.json.error.message).toMatch(message);
    }
    expect(await t.gateway.store.listMessages({ limit: 10 })).toEqual([]);
    expect(llm.requests).toHaveLength(0);
  });

  it('keeps the entry body limit: images over it get 413', async () => {
    const llm = opened(await startFakeLlm());
    const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', images: true };
    const t = opened(await startTestGateway({ agents: { looker: { profile, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const big = Buffer.concat([solidPng(), Buffer.alloc(70_000, 1)]);
    const res = await t.chat(ENTRY, { userId: 'eli', images: [{ data_base64: b64(big) }] });
    expect(res.status).toBe(413);
    expect(await t.gateway.store.listMessages({ limit: 10 })).toEqual([]);
  });

  it('serves each image of a message to the admin API, byte for byte, and 404 for what is not there', async () => {
    const { t } = await start(false);
    const red = solidPng(6, 4, [255, 0, 0]);
    const blue = solidPng(3, 3, [0, 0, 255]);
    const res = await t.chat(ENTRY, { userId: 'fay', content: 'two', images: [{ data_base64: b64(red) }, { data_base64: b64(blue) }] }, { wait: true });
    const id: string = res.json.messageId;

    const first = await mediaOf(t, id, 0);
    expect(first.statusCode).toBe(200);
    expect(first.headers).toMatchObject({ 'content-type': 'image/png', 'cache-control': 'private, max-age=300', 'x-content-type-options': 'nosniff' });
    expect(first.rawPayload.equals(red)).toBe(true);
    expect((await mediaOf(t, id, 1)).rawPayload.equals(blue)).toBe(true);

    for (const [message, index] of [[id, 2], [id, 'x'], [id, -1], ['999999', 0], ['nope', 0]] as const) {
      const missing = await mediaOf(t, message, index);
      expect(missing.statusCode, `${message}/${index}`).toBe(404);
      expect(missing.json().error.code).toBe('COCO_ERR_NOT_FOUND');
    }
    const anonymous = await mediaOf(t, id, 0, false);
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.rawPayload.includes(red)).toBe(false);
  });
});
