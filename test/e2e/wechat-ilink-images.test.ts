import { describe, expect, it } from 'vitest';
import { FakeIlink, ilinkItem } from '../fakes/ilink/index.js';
import { imagesOf, startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { mediaDownloads } from '../helpers/media.js';

const ENTRY = 'looker.wechat_ilink';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const opened = closeAfterEach();

/** A fake iLink (with its CDN), a fake model and a gateway whose openai agent reads images, polling. */
async function setup() {
  const fake = opened(await FakeIlink.start({ longPollMs: 300 }));
  const llm = opened(await startFakeLlm());
  const entry = { type: 'channel', channel: 'wechat_ilink', config: { base_url: fake.url, bot_token: fake.botToken, cdn_base_url: fake.cdnUrl, show_typing: false } };
  const profile = { provider: 'openai', model: 'vision-model', base_url: llm.url, api_key: 'k', images: true };
  const t = opened(await startTestGateway({ agents: { looker: { profile, entries: [entry] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  return { t, fake, llm };
}


describe('wechat_ilink: images to an agent that reads them', () => {
  it('passes the photo a user sent, downloaded from the CDN and decrypted, to the model, and answers once', async () => {
    const { t, fake, llm } = await setup();
    const png = solidPng(3, 2, [0, 128, 255]);
    const m = fake.userSendsImage('alice', png, { text: '这是什么？' });
    const [reply] = await fake.waitForSent(1, { user: 'alice' });
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(reply).toMatchObject({ text: 'reply to: [image]\n这是什么？ (+1 image)', contextToken: m.context_token });
    await sleep(300); // a second answer would show up here
    expect(fake.sent('alice')).toHaveLength(1);
    expect(fake.mediaDownloads).toHaveLength(1);
    expect(await mediaDownloads(t, 'wechat_ilink', 'ok')).toBe(1);

    // The key is stored with the message, and the admin API shows it masked.
    const aeskey = m.item_list[0]!.image_item!.aeskey!;
    const [summary] = await t.gateway.store.listMessages({ limit: 1 });
    expect((await t.gateway.store.getMessage(summary!.id))?.message.media).toEqual([
      { kind: 'image', ref: m.item_list[0]!.image_item!.media!.encrypt_query_param, key: aeskey },
    ]);
    const res = await t.admin('GET', `/messages/${summary!.id}`);
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.json)).not.toContain(aeskey);
  });

  it('passes the image of a quoted message to the model with the question', async () => {
    const { fake, llm } = await setup();
    const png = solidPng(2, 3, [10, 200, 60]);
    fake.userSends('bea', [{ ...ilinkItem.text('这是什么？'), ref_msg: { message_item: ilinkItem.image(fake.hostMedia(png)) } }]);
    const [reply] = await fake.waitForSent(1, { user: 'bea' });
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    const parts = llm.requests[0]!.body.messages!.at(-1)!.content as { type: string; text?: string }[];
    expect(parts.find((p) => p.type === 'text')?.text).toBe('这是什么？\n> [image]');
    // The reply goes out as plain text: the quote marker does not survive it.
    expect(reply?.text).toBe('reply to: 这是什么？\n[image] (+1 image)');
  });

  it('answers from the text when the file is gone from the CDN, once, with media_error in the timeline', async () => {
    const { t, fake, llm } = await setup();
    fake.userSendsImage('bob', solidPng(), { text: 'what is this?', expired: true });
    const [reply] = await fake.waitForSent(1, { user: 'bob' });
    expect(reply!.text).toBe('reply to: [image]\nwhat is this?');
    expect(imagesOf(llm.requests[0]!)).toEqual([]);
    await sleep(300);
    expect(fake.sent('bob')).toHaveLength(1);
    expect(llm.requests).toHaveLength(1);
    expect(fake.mediaDownloads).toHaveLength(1); // a 404 is not tried again

    const [summary] = await t.gateway.store.listMessages({ limit: 1 });
    const detail = await t.gateway.store.getMessage(summary!.id);
    expect(detail?.status).toBe('done');
    const event = detail!.timeline.find((e) => e.stage === 'media_error');
    expect(event?.detail).toMatch(/^COCO_ERR_MEDIA: image .*wechat_ilink: image download: CDN answered HTTP 404 file expired/);
    expect(await mediaDownloads(t, 'wechat_ilink', 'failed')).toBe(1);
  });

  it('tries a CDN 5xx once more and then passes the image', async () => {
    const { fake, llm } = await setup();
    const png = solidPng(1, 1, [9, 9, 9]);
    fake.failNext('cdn_download', { http: 503 });
    fake.userSendsImage('carol', png);
    const [reply] = await fake.waitForSent(1, { user: 'carol' });
    expect(fake.mediaDownloads.map((c) => c.status)).toEqual([503, 200]);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(reply!.text).toBe('reply to: [image] (+1 image)');
  });
});
