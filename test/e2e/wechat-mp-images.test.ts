import { describe, expect, it } from 'vitest';
import { imagesOf, startFakeLlm } from '../fakes/llm/server.js';
import { startFakeWechatMp } from '../fakes/wechat-mp/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { ADMIN_TOKEN, startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { mediaDownloads } from '../helpers/media.js';

/** Images a follower sends reach an `images: true` agent: WeChat → webhook → media/get → the model. */

const APP = { appId: 'wx0123456789abcdef', appSecret: 'app-secret-0123456789', token: 'tok3n', encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR' };
const ENTRY = 'bot.wechat_mp';

const opened = closeAfterEach();

async function setup(images = true) {
  const llm = opened(await startFakeLlm());
  const fake = opened(await startFakeWechatMp({ ...APP, mode: 'safe', retryWaitMs: 1_000 }));
  const entry = {
    type: 'channel',
    channel: 'wechat_mp',
    config: { app_id: APP.appId, app_secret: APP.appSecret, token: APP.token, encoding_aes_key: APP.encodingAesKey, mode: 'safe', api_base_url: fake.url, reply_mode: 'customer_service' },
  };
  const profile = { provider: 'openai', model: 'gpt-4o-mini', base_url: llm.url, api_key: 'k', images };
  const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [entry] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  fake.gatewayUrl = `${address}/webhooks/wechat_mp/${ENTRY}`;
  return { t, fake, llm };
}


const settle = () => new Promise((r) => setTimeout(r, 300));

describe('wechat_mp images to agents', () => {
  it('passes the photo a follower sent to the model, byte for byte, and the reply reaches the follower once', async () => {
    const { t, fake, llm } = await setup();
    const png = solidPng(4, 3, [12, 140, 250]);
    const sent = await fake.sendImage('oPhoto', png);
    expect(sent.attempts[0]).toMatchObject({ status: 200, body: 'success' });
    await t.until(() => fake.received('oPhoto').length === 1);
    await settle();
    expect(fake.received('oPhoto')).toEqual(['reply to: [image] (+1 image)']);
    expect(llm.requests).toHaveLength(1);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(fake.mediaGets).toEqual([expect.objectContaining({ mediaId: sent.mediaId, errcode: 0, via: 'media/get' })]);
    expect(await mediaDownloads(t, 'wechat_mp', 'ok')).toBe(1);
  });

  it('answers from the text, once, when the media id has expired, and shows why in the timeline', async () => {
    const { t, fake, llm } = await setup();
    const mediaId = fake.addMedia(solidPng());
    fake.expireMedia(mediaId);
    await fake.push('oLate', { type: 'image', picUrl: `${fake.url}/mmbiz_jpg/${mediaId}/0`, mediaId });
    await t.until(() => fake.received('oLate').length === 1);
    await settle();
    expect(fake.received('oLate')).toEqual(['reply to: [image]']);
    expect(llm.requests).toHaveLength(1);
    expect(imagesOf(llm.requests[0]!)).toEqual([]);
    // 40007 is not worth a second try.
    expect(fake.mediaGets.map((g) => g.errcode)).toEqual([40007]);

    const [summary] = await t.gateway.store.listMessages({ entryKey: ENTRY, limit: 1 });
    const detail = await t.gateway.store.getMessage(summary!.id);
    expect(detail?.message.media).toEqual([{ kind: 'image', ref: mediaId }]);
    const event = detail!.timeline.find((e) => e.stage === 'media_error');
    expect(event?.detail).toMatch(/^COCO_ERR_MEDIA: image .*wechat_mp: media\/get 40007 invalid media_id/);
    expect(await mediaDownloads(t, 'wechat_mp', 'failed')).toBe(1);
  });

  it('tries a busy media/get once more and passes the image', async () => {
    const { t, fake, llm } = await setup();
    const png = solidPng(2, 2, [1, 1, 1]);
    fake.failNextMediaGets(1, -1);
    await fake.sendImage('oBusy', png);
    await t.until(() => fake.received('oBusy').length === 1);
    expect(fake.mediaGets.map((g) => g.errcode)).toEqual([-1, 0]);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(fake.received('oBusy')).toEqual(['reply to: [image] (+1 image)']);
  });

  it('downloads nothing for an agent without images: true', async () => {
    const { t, fake, llm } = await setup(false);
    await fake.sendImage('oText', solidPng());
    await t.until(() => fake.received('oText').length === 1);
    expect(fake.received('oText')).toEqual(['reply to: [image]']);
    expect(imagesOf(llm.requests[0]!)).toEqual([]);
    expect(fake.mediaGets).toEqual([]);
  });

  it('shows the photo to the admin API through media/get, and why not once the media id expired', async () => {
    const { t, fake } = await setup(false);
    const png = solidPng(7, 5, [40, 200, 90]);
    const { mediaId } = await fake.sendImage('oAdmin', png);
    await t.until(() => fake.received('oAdmin').length === 1);
    const [summary] = await t.gateway.store.listMessages({ entryKey: ENTRY, limit: 1 });
    const get = () => t.app.inject({ method: 'GET', url: `/api/admin/messages/${summary!.id}/media/0`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

    const shown = await get();
    expect(shown.statusCode).toBe(200);
    expect(shown.headers['content-type']).toBe('image/png');
    expect(shown.rawPayload.equals(png)).toBe(true);
    expect(fake.mediaGets).toEqual([expect.objectContaining({ mediaId, errcode: 0, via: 'media/get' })]);

    fake.expireMedia(mediaId);
    const expired = await get();
    expect(expired.statusCode).toBe(502);
    expect(expired.json().error.code).toBe('COCO_ERR_MEDIA');
    expect(expired.json().error.message).toMatch(/media\/get 40007 invalid media_id/);
    expect(expired.body).not.toContain(mediaId);
    expect(fake.mediaGets.map((g) => g.errcode)).toEqual([0, 40007]);
  });
});
