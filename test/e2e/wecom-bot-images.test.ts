import { describe, expect, it } from 'vitest';
import { FakeWecom, type BotDelivery } from '../fakes/wecom/index.js';
import { imagesOf, startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { ADMIN_TOKEN, startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { mediaDownloads } from '../helpers/media.js';

const ENTRY = 'looker.wecom_bot';

const opened = closeAfterEach();

/** A fake WeCom robot, a fake model and a gateway whose openai agent reads images, connected. */
async function setup() {
  const fake = opened(await FakeWecom.start());
  const llm = opened(await startFakeLlm());
  const entry = { type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl } };
  const profile = { provider: 'openai', model: 'vision-model', base_url: llm.url, api_key: 'k', images: true };
  const t = opened(await startTestGateway({ agents: { looker: { profile, entries: [entry] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  await fake.waitForBotConnection();
  return { t, fake, llm };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Answers the fake accepted for a callback: finished frames (the unfinished ones before are the reply so far, shown while the model writes it). */
const accepted = (d: BotDelivery) => d.replies.filter((r) => r.errcode === 0 && (r.body.stream as { finish?: boolean } | undefined)?.finish === true).length;


describe('wecom_bot: images to an agent that reads them', () => {
  it('passes the photo a member sent, decrypted, to the model, and answers once on the message\'s stream', async () => {
    const { t, fake, llm } = await setup();
    const png = solidPng(3, 2, [0, 128, 255]);
    const d = fake.sendBotMessage({ type: 'image', data: png }, { from: 'zhangsan' });
    await fake.waitForBotReply(d);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(d.text).toBe('reply to: [image] (+1 image)');
    await sleep(300); // a second answer would show up here
    expect(accepted(d)).toBe(1);
    expect(fake.botSent).toHaveLength(0);
    expect(llm.requests).toHaveLength(1);
    expect(await mediaDownloads(t, 'wecom_bot', 'ok')).toBe(1);
  });

  it('passes the image of a quoted message to the model with the question', async () => {
    const { fake, llm } = await setup();
    const screenshot = solidPng(4, 2, [200, 30, 30]);
    const d = fake.sendBotMessage({ type: 'text', content: '这个报错是什么意思？' }, { from: 'wangwu', quote: { msgtype: 'image', image: fake.hostBotMedia(screenshot) } });
    await fake.waitForBotReply(d);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: screenshot }]);
    expect(d.text).toBe('reply to: 这个报错是什么意思？\n\n> [image] (+1 image)');
  });

  it('passes every image of a mixed message with its text, in order', async () => {
    const { fake, llm } = await setup();
    const red = solidPng(1, 1, [255, 0, 0]);
    const green = solidPng(2, 1, [0, 255, 0]);
    const d = fake.sendBotMessage(
      { type: 'mixed', items: [{ type: 'text', content: '哪张更亮？' }, { type: 'image', data: red }, { type: 'image', data: green }] },
      { chatType: 'group', chatId: 'wrGroup1', from: 'lisi' },
    );
    await fake.waitForBotReply(d);
    expect(imagesOf(llm.requests[0]!)).toEqual([
      { mimeType: 'image/png', data: red },
      { mimeType: 'image/png', data: green },
    ]);
    expect(d.text).toBe('reply to: 哪张更亮？\n[image]\n[image] (+2 images)');
    expect(accepted(d)).toBe(1);
  });

  it('answers from the text when the URL has expired, once, with media_error in the timeline', async () => {
    const { t, fake, llm } = await setup();
    fake.botMediaUrlTtlMs = 0; // as if the 5 minutes had passed before the agent got to it
    const d = fake.sendBotMessage({ type: 'mixed', items: [{ type: 'text', content: 'what is this?' }, { type: 'image', data: solidPng() }] });
    await fake.waitForBotReply(d);
    expect(d.text).toBe('reply to: what is this?\n[image]');
    expect(imagesOf(llm.requests[0]!)).toEqual([]);
    await sleep(300);
    expect(accepted(d)).toBe(1);
    expect(fake.botSent).toHaveLength(0);
    expect(llm.requests).toHaveLength(1);

    const [summary] = await t.gateway.store.listMessages({ limit: 1 });
    const detail = await t.gateway.store.getMessage(summary!.id);
    expect(detail?.status).toBe('done');
    const event = detail!.timeline.find((e) => e.stage === 'media_error');
    expect(event?.detail).toMatch(/^COCO_ERR_MEDIA: image .*wecom_bot: image download: HTTP 404 \(the URL expired/);
    expect(await mediaDownloads(t, 'wecom_bot', 'failed')).toBe(1);

    // Not kept (it never came): the reference and its key stay with the message for any process to use, and the admin API shows the key masked.
    const image = (d.body.mixed as { msg_item: { image?: { url: string; aeskey: string } }[] }).msg_item[1]!.image!;
    expect(detail?.message.media).toEqual([{ kind: 'image', ref: image.url, key: image.aeskey }]);
    const res = await t.admin('GET', `/messages/${summary!.id}`);
    expect(res.status).toBe(200);
    expect(res.json.message.media[0].key).not.toBe(image.aeskey);
    expect(JSON.stringify(res.json)).not.toContain(image.aeskey);
  });

  it('keeps the image of a message waiting in its queue, so it reaches the model after WeCom stopped serving it', async () => {
    const { t, fake, llm } = await setup();
    llm.delayMs = 1_500; // the first message holds the conversation while the second one waits behind it
    const first = fake.sendBotText('first, slowly', { from: 'wangwu' });
    const png = solidPng(4, 4, [200, 100, 0]);
    const second = fake.sendBotMessage({ type: 'image', data: png }, { from: 'wangwu' });
    const id = await t.until(async () => {
      const [m] = await t.gateway.store.listMessages({ userId: 'wangwu', limit: 1 });
      const media = m && (await t.gateway.store.getMessage(m.id))?.message.media;
      return media?.[0]?.ref.startsWith('data:') && m!.status === 'queued' ? m!.id : undefined;
    });
    const kept = (await t.gateway.store.getMessage(id))!.message.media![0]!;
    expect(kept).toEqual({ kind: 'image', ref: `data:image/png;base64,${png.toString('base64')}`, mimeType: 'image/png' });
    fake.expireBotMediaUrls(); // the 5 minutes pass while it waits
    llm.delayMs = 0;
    await fake.waitForBotReply(first);
    await fake.waitForBotReply(second);
    expect(imagesOf(llm.requests[1]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(second.text).toBe('reply to: [image] (+1 image)');
    // The message log shows it too, long after the URL died.
    const res = await t.app.inject({ method: 'GET', url: `/api/admin/messages/${id}/media/0`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(png)).toBe(true);
  });
});
