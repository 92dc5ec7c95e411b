import { describe, expect, it } from 'vitest';
import { FakeFeishu, type SentMessage } from '../fakes/feishu/index.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { feishuEntryConfig } from '../helpers/feishu.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';

/** An agent's images reach the Feishu user: uploaded, then shown as image messages after the text, once. */

const ENTRY = 'mirror.feishu';
const ENCRYPT_KEY = 'e2e-reply-images-key';

const opened = closeAfterEach();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fake Feishu and a gateway whose echo agent (`images: true`) answers with the user's photos. */
async function setup(mode: 'websocket' | 'webhook' = 'websocket') {
  const fake = opened(await FakeFeishu.start(mode === 'webhook' ? { encryptKey: ENCRYPT_KEY, webhookRetrySchedule: [] } : { ackTimeoutMs: 3_000 }));
  const config = feishuEntryConfig(fake, mode === 'webhook' ? ENCRYPT_KEY : undefined);
  const profile = { provider: 'echo', images: true };
  const t = opened(await startTestGateway({ agents: { mirror: { profile, entries: [{ type: 'channel', channel: 'feishu', config }] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const url = mode === 'webhook' ? `${await t.app.listen({ port: 0, host: '127.0.0.1' })}/webhooks/feishu/${ENTRY}` : '';
  return { t, fake, url };
}

const textOf = (m: SentMessage | undefined) => (m?.content as { text?: string } | undefined)?.text;

describe('feishu: images in replies', () => {
  it('answers a photo with the text, then the same photo uploaded and shown once', async () => {
    const { t, fake } = await setup();
    const png = solidPng(4, 3, [200, 40, 90]);
    const event = fake.imageEvent({ data: png });
    const chat = event.event.message.chat_id;
    await fake.pushEvent(event).done;
    await t.until(() => fake.messagesIn(chat).length === 2);
    await sleep(300); // nothing more comes

    const [text, image] = fake.messagesIn(chat);
    expect(fake.messagesIn(chat).map((m) => m.msgType)).toEqual(['text', 'image']);
    expect(textOf(text)).toBe('[image]');
    expect(fake.uploads).toHaveLength(1);
    const [upload] = fake.uploads;
    expect(upload!.data.equals(png)).toBe(true);
    expect(upload!.imageType).toBe('message');
    expect(image!.content).toEqual({ image_key: upload!.imageKey });
    expect(image!.image?.data.equals(png)).toBe(true);
    expect(text!.seq).toBeLessThan(upload!.seq);
    expect(fake.calls.filter((c) => c.status === 200)).toHaveLength(2);
  });

  it('replies in a group under the asking message, text and image alike (webhook)', async () => {
    const { t, fake, url } = await setup('webhook');
    const png = solidPng(2, 2, [0, 0, 255]);
    const event = fake.imageEvent({ data: png, chatType: 'group', mentionBot: true });
    const group = event.event.message.chat_id;
    expect((await fake.pushWebhook(url, event)).delivered).toBe(true);
    await t.until(() => fake.messagesIn(group).length === 2);

    const asked = event.event.message.message_id;
    expect(fake.messagesIn(group).map((m) => [m.msgType, m.replyTo])).toEqual([
      ['text', asked],
      ['image', asked],
    ]);
    expect(fake.messagesIn(group)[1]!.image?.data.equals(png)).toBe(true);
  });

  it('retries an upload that failed with a 5xx through the outbox, and shows the image once', async () => {
    const { t, fake } = await setup();
    const png = solidPng(3, 3, [5, 5, 5]);
    fake.failNextUploads(1, { code: 1, status: 500 });
    const event = fake.imageEvent({ data: png });
    const chat = event.event.message.chat_id;
    await fake.pushEvent(event).done;
    await t.until(() => fake.messagesIn(chat).length === 2, 15_000);
    await sleep(300);

    expect(fake.uploadCalls.map((c) => c.status)).toEqual([500, 200]);
    expect(fake.messagesIn(chat).map((m) => m.msgType)).toEqual(['text', 'image']);
    expect(fake.messagesIn(chat)[1]!.image?.data.equals(png)).toBe(true);
    const [summary] = await t.gateway.store.listMessages({ limit: 1 });
    const detail = await t.gateway.store.getMessage(summary!.id);
    expect(detail?.status).toBe('done');
  }, 20_000);
});
