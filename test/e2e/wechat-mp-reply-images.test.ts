import { describe, expect, it } from 'vitest';
import { startFakeWechatMp } from '../fakes/wechat-mp/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';

/**
 * Images in replies on a 公众号: a follower's photo → the echo agent (`images: true`) answers with the text and
 * the photo → the channel uploads it (media/upload) and sends an image message, through 客服 or passively.
 */

const APP = { appId: 'wx0123456789abcdef', appSecret: 'app-secret-0123456789', token: 'tok3n', encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR' };
const ENTRY = 'mirror.wechat_mp';
const opened = closeAfterEach();
/** Long enough for a second image message or upload to show up, were one sent. */
const settle = () => new Promise((r) => setTimeout(r, 400));

async function setup(config: Record<string, unknown> = {}, fakeOptions: { retryWaitMs?: number } = {}) {
  const fake = opened(await startFakeWechatMp({ ...APP, mode: 'safe', retryWaitMs: fakeOptions.retryWaitMs ?? 1_000 }));
  const entry = {
    type: 'channel',
    channel: 'wechat_mp',
    config: { app_id: APP.appId, app_secret: APP.appSecret, token: APP.token, encoding_aes_key: APP.encodingAesKey, mode: 'safe', api_base_url: fake.url, reply_mode: 'customer_service', ...config },
  };
  const t = opened(await startTestGateway({ agents: { mirror: { profile: { provider: 'echo', images: true }, entries: [entry] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  fake.gatewayUrl = `${address}/webhooks/wechat_mp/${ENTRY}`;
  return { t, fake };
}

describe('wechat_mp: images in replies', () => {
  it('客服: the follower gets the text, then the same photo byte for byte, once', async () => {
    const { t, fake } = await setup();
    const png = solidPng(6, 4, [30, 120, 220]);
    const sent = await fake.sendImage('oMirror', png);
    expect(sent.attempts[0]).toMatchObject({ status: 200, body: 'success' });
    await t.until(() => fake.received('oMirror').length === 2);
    await settle();

    expect(fake.received('oMirror')).toEqual(['[image]', `[image ${png.length} bytes image/png]`]);
    const images = fake.receivedImages('oMirror');
    expect(images).toHaveLength(1);
    expect(images[0]!.data.equals(png)).toBe(true);
    // One upload, of the photo, which the one image message names.
    expect(fake.uploads.map((u) => [u.errcode, u.filename, u.contentType])).toEqual([[0, 'image.png', 'image/png']]);
    expect(fake.uploads[0]!.data.equals(png)).toBe(true);
    expect(images[0]!.mediaId).toBe(fake.uploads[0]!.mediaId);
    expect(fake.sends.map((s) => s.msgtype)).toEqual(['text', 'image']);
  });

  it('a busy upload is retried by the outbox: one more upload, still one image message', async () => {
    const { t, fake } = await setup();
    const png = solidPng(3, 3, [250, 250, 0]);
    fake.failNextUploads(1, -1);
    await fake.sendImage('oRetry', png);
    await t.until(() => fake.receivedImages('oRetry').length === 1, 15_000);
    await settle();

    expect(fake.uploads.map((u) => u.errcode)).toEqual([-1, 0]);
    expect(fake.received('oRetry')).toEqual(['[image]', `[image ${png.length} bytes image/png]`]);
    expect(fake.receivedImages('oRetry')[0]!.data.equals(png)).toBe(true);
    expect(fake.sends.filter((s) => s.msgtype === 'image')).toHaveLength(1);
    const [message] = await t.gateway.store.listMessages({ userId: 'oRetry' });
    const replies = (await t.gateway.store.getMessage(message!.id))!.replies;
    expect(replies.map((r) => [r.status, r.attempts])).toEqual([['sent', 1], ['sent', 2]]);
  });

  it('a type WeChat does not take (webp) is dead-lettered with the reason; the text still arrives, nothing is uploaded', async () => {
    const { t, fake } = await setup();
    const webp = Buffer.concat([Buffer.from('RIFF'), Buffer.from([30, 0, 0, 0]), Buffer.from('WEBPVP8 '), Buffer.alloc(18, 2)]);
    await fake.sendImage('oWebp', webp, { contentType: 'image/webp' });
    const dead = await t.until(async () => {
      const res = await t.admin('GET', '/dead-letters?kind=outbound');
      return res.json.deadLetters.length > 0 ? res.json.deadLetters : undefined;
    });
    expect(dead[0].error).toMatch(/wechat_mp: reply image not sent: WeChat shows png, jpeg, gif or bmp images; this one is image\/webp/);
    expect(fake.received('oWebp')).toEqual(['[image]']);
    expect(fake.counters.uploads).toBe(0);
  });

  it('auto: the text goes back in the response, the image through 客服', async () => {
    const { t, fake } = await setup({ reply_mode: 'auto' });
    const png = solidPng(2, 7, [0, 90, 0]);
    const sent = await fake.sendImage('oAuto', png);
    expect(sent.reply).toMatchObject({ encrypted: true, xml: { MsgType: 'text', Content: '[image]' } });
    await t.until(() => fake.receivedImages('oAuto').length === 1);
    await settle();
    expect(fake.receivedImages('oAuto')[0]!.data.equals(png)).toBe(true);
    expect(fake.sends.map((s) => [s.msgtype, s.errcode])).toEqual([['image', 0]]);
    expect(fake.uploads).toHaveLength(1);
  });

  it('passive: the text answers the photo, the image answers the next message (encrypted), the replies waiting behind it the one after', async () => {
    const { t, fake } = await setup({ reply_mode: 'passive', passive_wait_ms: 1_500 }, { retryWaitMs: 2_000 });
    const png = solidPng(4, 4, [90, 10, 160]);
    const first = await fake.sendImage('oPassive', png);
    expect(first.attempts).toHaveLength(1);
    expect(first.reply?.xml).toMatchObject({ MsgType: 'text', Content: '[image]' });
    // The image is uploaded when its chunk is delivered, then waits for the follower's next message.
    await t.until(() => fake.uploads.length === 1);
    await t.until(async () => (await t.gateway.store.getMessage('1'))?.replies.every((r) => r.status === 'sent'));

    const next = await fake.push('oPassive', { type: 'text', content: 'and?' });
    expect(next.replyError).toBeUndefined();
    expect(next.reply).toMatchObject({ encrypted: true, xml: { MsgType: 'image', MediaId: fake.uploads[0]!.mediaId } });
    expect(next.reply?.image?.data.equals(png)).toBe(true);

    // The reply to "and?" waited behind the image; the one to "ok" joins it in one text.
    const third = await fake.push('oPassive', { type: 'text', content: 'ok' });
    expect(third.reply?.xml).toMatchObject({ MsgType: 'text', Content: 'and?\n\nok' });
    expect(fake.sends).toEqual([]);
    expect(fake.uploads).toHaveLength(1);
  });
});
