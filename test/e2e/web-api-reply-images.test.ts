import { describe, expect, it } from 'vitest';
import { startCallbackReceiver } from '../fakes/callback-receiver/server.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { webApiEntry } from '../helpers/workspace.js';

const ENTRY = 'mirror.web_api';
const opened = closeAfterEach();
const b64 = (data: Buffer) => data.toString('base64');

async function start(profile: Record<string, unknown> = { provider: 'echo', images: true }, config: Record<string, unknown> = {}) {
  const t = opened(await startTestGateway({ agents: { mirror: { profile, entries: [webApiEntry({ body_limit_bytes: 1_048_576, ...config })] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  return t;
}

describe('web_api: images in replies', () => {
  it('answers with the text, then each image as a data: URL of the same bytes, once', async () => {
    const t = await start();
    const red = solidPng(4, 3, [255, 0, 0]);
    const blue = solidPng(2, 5, [0, 0, 255]);
    const res = await t.chat(ENTRY, { userId: 'ann', content: 'look', images: [{ data_base64: b64(red) }, { data_base64: b64(blue) }] }, { wait: true });
    expect(res.status).toBe(200);
    expect(res.json.reply).toEqual({
      text: 'look [2 images]',
      format: 'text',
      images: [{ url: `data:image/png;base64,${b64(red)}` }, { url: `data:image/png;base64,${b64(blue)}` }],
    });
    const feed = await t.gateway.store.readFeed(ENTRY, 'ann', 0, 10);
    expect(feed.map((f) => f.payload)).toMatchObject([
      { text: 'look [2 images]', chunk: { index: 0, count: 3 } },
      { text: '', chunk: { index: 1, count: 3 }, image: { url: `data:image/png;base64,${b64(red)}` } },
      { text: '', chunk: { index: 2, count: 3 }, image: { url: `data:image/png;base64,${b64(blue)}` } },
    ]);
    const detail = await t.gateway.store.getMessage(res.json.messageId);
    expect(detail?.timeline.find((e) => e.stage === 'replied')?.detail).toMatch(/, 2 image\(s\)$/);
  });

  it('sends an image-only answer without an empty text before it', async () => {
    const t = await start();
    const png = solidPng(3, 3);
    const res = await t.chat(ENTRY, { userId: 'bo', images: [{ data_base64: b64(png) }] }, { wait: true });
    // The echo repeats the description the channel gave the image-only message, then the image.
    expect(res.json.reply.images).toEqual([{ url: `data:image/png;base64,${b64(png)}` }]);
    const feed = await t.gateway.store.readFeed(ENTRY, 'bo', 0, 10);
    expect(feed.map((f) => (f.payload as { chunk: unknown }).chunk)).toEqual([{ index: 0, count: 2 }, { index: 1, count: 2 }]);
  });

  it("sends the images a model links as reply images with markdown_images, the text without them", async () => {
    const llm = opened(await startFakeLlm({ reply: () => 'Drawn:\n\n![a cat](https://img.example.com/cat.png)' }));
    const t = await start({ provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', markdown_images: true });
    const res = await t.chat(ENTRY, { userId: 'ed', content: 'draw a cat' }, { wait: true });
    expect(res.json.reply).toEqual({ text: 'Drawn:', format: 'markdown', images: [{ url: 'https://img.example.com/cat.png', alt: 'a cat' }] });
    // The model reads its own turn back as text that says an image went with it.
    await t.chat(ENTRY, { userId: 'ed', content: 'thanks' }, { wait: true });
    expect(llm.requests[1]!.body.messages!.map((m) => m.content)).toContain('Drawn:\n[sent 1 image(s)]');
  });

  it('echoes text alone when the profile does not pass images', async () => {
    const t = await start({ provider: 'echo' });
    const res = await t.chat(ENTRY, { userId: 'cy', content: 'hi', images: [{ data_base64: b64(solidPng()) }] }, { wait: true });
    expect(res.json.reply).toEqual({ text: 'hi [image]', format: 'text' });
  });

  it('posts an image chunk to the callback with its image, signed, once', async () => {
    const secret = 'cb-secret-0123456789abcdef';
    const receiver = opened(await startCallbackReceiver({ secret }));
    const t = await start(undefined, { callback_url: receiver.url, callback_secret: secret });
    const png = solidPng(2, 2, [0, 255, 0]);
    await t.chat(ENTRY, { userId: 'di', content: 'green', images: [{ data_base64: b64(png) }] });
    await t.until(() => receiver.accepted.length === 2);
    expect(receiver.deliveries.every((d) => d.verified)).toBe(true);
    expect(receiver.accepted).toMatchObject([
      { text: 'green [image]', chunk: { index: 0, count: 2 } },
      { text: '', chunk: { index: 1, count: 2 }, image: { url: `data:image/png;base64,${b64(png)}` } },
    ]);
    expect(receiver.deliveries).toHaveLength(2);
  });
});
