import { describe, expect, it } from 'vitest';
import { FakeFeishu, type SentMessage } from '../fakes/feishu/index.js';
import { imagesOf, startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { feishuEntryConfig } from '../helpers/feishu.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { mediaDownloads } from '../helpers/media.js';

/** Images Feishu users send reach an agent with `images: true`, over the long connection and the webhook. */

const ENTRY = 'looker.feishu';
const ENCRYPT_KEY = 'e2e-images-encrypt-key';

const opened = closeAfterEach();

/** A fake Feishu, the fake model and a gateway whose vision agent has one feishu entry, running. */
async function setup(mode: 'websocket' | 'webhook' = 'websocket') {
  const fake = opened(await FakeFeishu.start(mode === 'webhook' ? { encryptKey: ENCRYPT_KEY, webhookRetrySchedule: [] } : { ackTimeoutMs: 3_000 }));
  const llm = opened(await startFakeLlm());
  const config = feishuEntryConfig(fake, mode === 'webhook' ? ENCRYPT_KEY : undefined);
  const profile = { provider: 'openai', model: 'vision-model', base_url: llm.url, api_key: 'k', images: true };
  const t = opened(await startTestGateway({ agents: { looker: { profile, entries: [{ type: 'channel', channel: 'feishu', config }] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const url = mode === 'webhook' ? `${await t.app.listen({ port: 0, host: '127.0.0.1' })}/webhooks/feishu/${ENTRY}` : '';
  return { t, fake, llm, url };
}

const textOf = (m: SentMessage | undefined) => (m?.content as { text?: string } | undefined)?.text;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


describe('feishu images to agents', () => {
  it('passes the photo a user sends over the long connection to the model, and answers once', async () => {
    const { t, fake, llm } = await setup();
    const png = solidPng(4, 3, [0, 160, 90]);
    const event = fake.imageEvent({ data: png });
    const chat = event.event.message.chat_id;
    await fake.pushEvent(event).done;
    await t.until(() => fake.messagesIn(chat).length === 1);
    await sleep(200);

    expect(llm.requests).toHaveLength(1);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(fake.messagesIn(chat).map(textOf)).toEqual(['reply to: [image] (+1 image)']);
    expect(fake.resourceCalls).toMatchObject([{ messageId: event.event.message.message_id, type: 'image', status: 200 }]);
    expect(await mediaDownloads(t, 'feishu', 'ok')).toBe(1);
  });

  it('passes both images of a rich-text post pushed to the webhook, in order, with the text', async () => {
    const { t, fake, llm, url } = await setup('webhook');
    const first = solidPng(2, 2, [255, 0, 0]);
    const second = solidPng(2, 2, [0, 0, 255]);
    const event = fake.postEvent(
      [
        [{ tag: 'text', text: 'which is bluer? ' }, { tag: 'img', image_key: 'img_v3_first' }],
        [{ tag: 'img', image_key: 'img_v3_second' }],
      ],
      { chatType: 'group', mentionBot: true, images: { img_v3_first: first, img_v3_second: second } },
    );
    const result = await fake.pushWebhook(url, event);
    expect(result.delivered).toBe(true);
    const group = event.event.message.chat_id;
    await t.until(() => fake.messagesIn(group).length === 1);
    await sleep(200);

    expect(imagesOf(llm.requests[0]!)).toEqual([
      { mimeType: 'image/png', data: first },
      { mimeType: 'image/png', data: second },
    ]);
    const [reply] = fake.messagesIn(group);
    expect(textOf(reply)).toBe('reply to: which is bluer? [image]\n[image] (+2 images)');
    expect(reply?.replyTo).toBe(event.event.message.message_id);
    expect(fake.messagesIn(group)).toHaveLength(1);
  });

  it('answers from the text, once, when the image cannot be downloaded, with the reason in the timeline', async () => {
    const { t, fake, llm } = await setup();
    const event = fake.imageEvent({ data: solidPng() });
    // The user recalled the message before the agent got to it.
    fake.recallMessage(event.event.message.message_id);
    const chat = event.event.message.chat_id;
    await fake.pushEvent(event).done;
    await t.until(() => fake.messagesIn(chat).length === 1);
    await sleep(300);

    expect(fake.messagesIn(chat).map(textOf)).toEqual(['reply to: [image]']);
    expect(llm.requests).toHaveLength(1);
    expect(imagesOf(llm.requests[0]!)).toEqual([]);
    // 230110 is final: not tried a second time.
    expect(fake.resourceCalls.map((c) => c.code)).toEqual([230110]);

    const [summary] = await t.gateway.store.listMessages({ limit: 1 });
    const detail = await t.gateway.store.getMessage(summary!.id);
    expect(detail?.status).toBe('done');
    const mediaError = detail!.timeline.find((e) => e.stage === 'media_error');
    expect(mediaError?.detail).toMatch(/^COCO_ERR_MEDIA: image 1: feishu: image download: .*code 230110.*deleted or recalled/);
    expect(await mediaDownloads(t, 'feishu', 'failed')).toBe(1);
  });

  it('tries a rate-limited download once more and passes the image', async () => {
    const { t, fake, llm } = await setup();
    const png = solidPng(1, 1, [7, 7, 7]);
    fake.failNextDownloads(1, { code: 99991400 });
    const event = fake.imageEvent({ data: png });
    const chat = event.event.message.chat_id;
    await fake.pushEvent(event).done;
    await t.until(() => fake.messagesIn(chat).length === 1);

    expect(fake.resourceCalls.map((c) => c.status)).toEqual([429, 200]);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(fake.messagesIn(chat).map(textOf)).toEqual(['reply to: [image] (+1 image)']);
  });
});
