import { describe, expect, it } from 'vitest';
import { imagesOf, startFakeLlm } from '../fakes/llm/server.js';
import { FakeWecom, wecomMessage } from '../fakes/wecom/index.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { mediaDownloads } from '../helpers/media.js';

/** Images a member sends reach an `images: true` agent: WeCom → webhook → media/get → the model. */

const ENTRY = 'bot.wecom';

const opened = closeAfterEach();

async function setup(images = true) {
  const llm = opened(await startFakeLlm());
  const fake = opened(await FakeWecom.start({ retryWaitMs: 1_000 }));
  const entry = {
    type: 'channel',
    channel: 'wecom',
    config: { corp_id: fake.corpId, agent_id: fake.agentId, secret: fake.corpSecret, token: fake.token, encoding_aes_key: fake.encodingAesKey, api_base_url: fake.url },
  };
  const profile = { provider: 'openai', model: 'gpt-4o-mini', base_url: llm.url, api_key: 'k', images };
  const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [entry] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  fake.gatewayUrl = `${address}/webhooks/wecom/${ENTRY}`;
  return { t, fake, llm };
}


const texts = (f: FakeWecom, user: string) => f.delivered(user).map((d) => d.content);
const settle = () => new Promise((r) => setTimeout(r, 300));

describe('wecom images to agents', () => {
  it('passes the photo a member sent to the model, byte for byte, and the reply reaches the member once', async () => {
    const { t, fake, llm } = await setup();
    const png = solidPng(5, 2, [200, 30, 90]);
    const sent = await fake.sendImage('zhangsan', png);
    expect(sent.attempts[0]).toMatchObject({ status: 200, body: '' });
    await t.until(() => fake.delivered('zhangsan').length === 1);
    await settle();
    expect(texts(fake, 'zhangsan')).toEqual(['reply to: [image] (+1 image)']);
    expect(llm.requests).toHaveLength(1);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(fake.mediaGets).toEqual([expect.objectContaining({ mediaId: sent.mediaId, errcode: 0, via: 'media/get' })]);
    expect(await mediaDownloads(t, 'wecom', 'ok')).toBe(1);
  });

  it('refreshes a token WeCom invalidated while the message waited, and still passes the image', async () => {
    const { t, fake, llm } = await setup();
    const png = solidPng(1, 2, [7, 7, 7]);
    fake.invalidateTokens(); // the channel's token (fetched at start) answers 40014 from now on
    await fake.sendImage('lisi', png);
    await t.until(() => fake.delivered('lisi').length === 1);
    expect(fake.mediaGets.map((g) => g.errcode)).toEqual([40014, 0]);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    expect(texts(fake, 'lisi')).toEqual(['reply to: [image] (+1 image)']);
  });

  it('answers from the text, once, when the media id has expired, and shows why in the timeline', async () => {
    const { t, fake, llm } = await setup();
    const mediaId = fake.addMedia(solidPng());
    fake.expireMedia(mediaId);
    await fake.push('wangwu', wecomMessage.image(`${fake.url}/wwpic/${mediaId}/0`, mediaId));
    await t.until(() => fake.delivered('wangwu').length === 1);
    await settle();
    expect(texts(fake, 'wangwu')).toEqual(['reply to: [image]']);
    expect(llm.requests).toHaveLength(1);
    expect(imagesOf(llm.requests[0]!)).toEqual([]);
    // 40007 is not worth a second try.
    expect(fake.mediaGets.map((g) => g.errcode)).toEqual([40007]);

    const [summary] = await t.gateway.store.listMessages({ entryKey: ENTRY, limit: 1 });
    const detail = await t.gateway.store.getMessage(summary!.id);
    expect(detail?.message.media).toEqual([{ kind: 'image', ref: mediaId }]);
    const event = detail!.timeline.find((e) => e.stage === 'media_error');
    expect(event?.detail).toMatch(/^COCO_ERR_MEDIA: image .*wecom: media\/get 40007 invalid media_id/);
    expect(await mediaDownloads(t, 'wecom', 'failed')).toBe(1);
  });

  it('downloads nothing for an agent without images: true', async () => {
    const { t, fake, llm } = await setup(false);
    await fake.sendImage('zhaoliu', solidPng());
    await t.until(() => fake.delivered('zhaoliu').length === 1);
    expect(texts(fake, 'zhaoliu')).toEqual(['reply to: [image]']);
    expect(imagesOf(llm.requests[0]!)).toEqual([]);
    expect(fake.mediaGets).toEqual([]);
  });
});
