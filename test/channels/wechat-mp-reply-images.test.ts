import { afterEach, describe, expect, it } from 'vitest';
import { wechatMpChannel, type WechatMpChannel } from '../../src/channels/wechat-mp/index.js';
import { PassiveReplies } from '../../src/channels/wechat-mp/passive-reply.js';
import { WECHAT_MP_IMAGES } from '../../src/channels/wechat-mp/reply-image.js';
import { uploadFile } from '../../src/channels/shared/tencent-upload.js';
import { checkChannelImage } from '../../src/channels/shared/reply-image.js';
import { imageReplyXml } from '../../src/channels/wechat-mp/reply-xml.js';
import type { ChannelFeed, FeedEvent } from '../../src/core/channel.js';
import type { OutgoingMessage, ReplyImage, SendContext } from '../../src/core/message.js';
import { startFakeWechatMp, type FakeWechatMp } from '../fakes/wechat-mp/server.js';
import { channelContext } from '../helpers/channel-context.js';
import { solidPng } from '../helpers/images.js';
import { rejectionOf } from '../helpers/media.js';
import { JPEG_1PX } from '../helpers/tencent-media.js';

/** The channel's send path on its own, against the fake WeChat: upload (media/upload) then the 客服 image message. */

const APP = { appId: 'wx00aa11bb22cc33dd', appSecret: 'reply-image-secret-0123', token: 'tok3n' };
const USER = 'oPictureFan';

let channel: WechatMpChannel | undefined;
let fake: FakeWechatMp | undefined;
afterEach(async () => {
  await channel?.stop();
  await fake?.close();
  channel = fake = undefined;
});

async function boot(permissions: { uploadMedia?: boolean } = {}) {
  fake = await startFakeWechatMp({ ...APP, mode: 'plain', permissions });
  const ctx = channelContext('wechat_mp');
  channel = wechatMpChannel.create(ctx) as WechatMpChannel;
  channel.sceneId = 'bot';
  const config = wechatMpChannel.configSchema.parse({ app_id: APP.appId, app_secret: APP.appSecret, token: APP.token, mode: 'plain', api_base_url: fake.url, reply_mode: 'customer_service' });
  await channel.start('bot', config);
  // The 客服 window opens when the user writes.
  fake.userWrote(USER);
  return { fake, channel };
}

const context = (key = 'm1:1'): SendContext => ({
  conversationId: USER, isGroup: false, inReplyTo: '1', messageId: 'm1', idempotencyKey: key, chunk: { index: 1, count: 2 },
});
const imageChunk = (image: ReplyImage): OutgoingMessage => ({ text: '', format: 'text', image });
const dataImage = (data: Buffer, mimeType: string): ReplyImage => ({ data: data.toString('base64'), mimeType });
/** A WebP header: an image type, but not one WeChat takes as temporary media. */
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.from([26, 0, 0, 0]), Buffer.from('WEBPVP8 '), Buffer.alloc(14, 1)]);

describe('wechat_mp: images in replies (send path)', () => {
  it('uploads the bytes as multipart `media` with a file name and type, then sends one 客服 image message naming the upload', async () => {
    const { fake, channel } = await boot();
    const png = solidPng(5, 4, [200, 10, 60]);
    await channel.send(imageChunk(dataImage(png, 'image/png')), USER, context());

    expect(fake.uploads).toHaveLength(1);
    const [upload] = fake.uploads;
    expect(upload).toMatchObject({ type: 'image', filename: 'image.png', contentType: 'image/png', filelength: String(png.length), errcode: 0 });
    expect(upload!.data.equals(png)).toBe(true);
    expect(fake.sends.map((s) => [s.msgtype, s.mediaId, s.errcode])).toEqual([['image', upload!.mediaId, 0]]);
    const [received] = fake.receivedImages(USER);
    expect(received!.data.equals(png)).toBe(true);
    expect(fake.received(USER)).toEqual([`[image ${png.length} bytes image/png]`]);
  });

  it('downloads an image the agent gave by URL and uploads the same bytes (a JPEG named image.jpg)', async () => {
    const { fake, channel } = await boot();
    // The fake's PicUrl serves a stored file without a token: any image URL will do.
    const url = `${fake.url}/mmbiz_jpg/${fake.addMedia(JPEG_1PX, 'image/jpeg')}/0`;
    await channel.send(imageChunk({ url }), USER, context());
    expect(fake.uploads.map((u) => [u.filename, u.contentType, u.errcode])).toEqual([['image.jpg', 'image/jpeg', 0]]);
    expect(fake.receivedImages(USER).map((i) => i.data)).toEqual([JPEG_1PX]);
  });

  it('refuses a type WeChat does not take (webp) for good, naming the channel, and uploads nothing', async () => {
    const { fake, channel } = await boot();
    const err = await rejectionOf(channel.send(imageChunk(dataImage(WEBP, 'image/webp')), USER, context()));
    expect(err).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: false });
    expect(err.message).toBe(`wechat_mp: reply image not sent: WeChat shows png, jpeg, gif or bmp images; this one is image/webp (${WEBP.length} bytes)`);
    expect(fake.counters.uploads).toBe(0);
    expect(fake.sends).toEqual([]);
  });

  it('refuses bytes that are not an image before any upload', async () => {
    const { fake, channel } = await boot();
    const err = await rejectionOf(channel.send(imageChunk(dataImage(Buffer.from('just some text'), 'text/plain')), USER, context()));
    expect(err).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: false });
    expect(err.message).toBe('wechat_mp: reply image: text/plain (14 bytes) is not an image');
    expect(fake.counters.uploads).toBe(0);
  });

  it('checks the 10 MB limit and the empty file itself', () => {
    const big = Buffer.concat([solidPng(), Buffer.alloc(10 * 1024 * 1024)]);
    expect(() => checkChannelImage({ data: big, mimeType: 'image/png' }, WECHAT_MP_IMAGES)).toThrow(/^wechat_mp: reply image not sent: \d+ bytes is over WeChat's limit of 10485760$/);
    expect(() => checkChannelImage({ data: Buffer.alloc(0), mimeType: 'image/gif' }, WECHAT_MP_IMAGES)).toThrow(/0 bytes is too small for WeChat/);
    expect(uploadFile({ data: solidPng(), mimeType: 'image/png' }).filename).toBe('image.png');
  });

  it('refreshes an expired token on the upload (42001) once and sends the image', async () => {
    const { fake, channel } = await boot();
    fake.advanceTime(7200); // the token the channel holds has expired on WeChat's clock
    await channel.send(imageChunk(dataImage(solidPng(), 'image/png')), USER, context());
    expect(fake.uploads.map((u) => u.errcode)).toEqual([42001, 0]);
    expect(fake.receivedImages(USER)).toHaveLength(1);
  });

  it('a busy upload (-1) is retryable and sends nothing; WeChat refusing the file (40009) is not', async () => {
    const { fake, channel } = await boot();
    fake.failNextUploads(1, -1);
    const busy = await rejectionOf(channel.send(imageChunk(dataImage(solidPng(), 'image/png')), USER, context()));
    expect(busy).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: true });
    expect(busy.message).toMatch(/^wechat_mp: media\/upload -1 /);
    fake.failNextUploads(1, 40009);
    const refused = await rejectionOf(channel.send(imageChunk(dataImage(solidPng(), 'image/png')), USER, context()));
    expect(refused).toMatchObject({ retryable: false });
    expect(refused.message).toBe('wechat_mp: media/upload 40009 image too large: WeChat takes images up to 10 MB');
    expect(fake.sends).toEqual([]);
  });

  it('an account without upload permission (48001) is told so, for good', async () => {
    const { fake, channel } = await boot({ uploadMedia: false });
    const err = await rejectionOf(channel.send(imageChunk(dataImage(solidPng(), 'image/png')), USER, context()));
    expect(err).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: false });
    expect(err.message).toMatch(/media\/upload 48001 no permission to upload media/);
    expect(fake.sends).toEqual([]);
  });

  it('the text of a reply still goes out as a 客服 text message', async () => {
    const { fake, channel } = await boot();
    await channel.send({ text: 'plain words', format: 'text' }, USER, context('m1:0'));
    expect(fake.received(USER)).toEqual(['plain words']);
    expect(fake.counters.uploads).toBe(0);
  });
});

/** A feed in memory, as the store keeps it: one item per idempotency key, seq in append order, createdAt from `now`. */
function memoryFeed(now: () => number): ChannelFeed {
  const events: (FeedEvent & { key: string })[] = [];
  return {
    async append(item) {
      const known = events.find((e) => e.key === item.idempotencyKey);
      if (known) return { seq: known.seq, duplicate: true };
      const event = { seq: events.length + 1, conversationId: item.conversationId, replyTo: item.replyTo, payload: item.payload, createdAt: now(), key: item.idempotencyKey };
      events.push(event);
      return { seq: event.seq, duplicate: false };
    },
    read: async (conversationId, after, limit) => events.filter((e) => e.conversationId === conversationId && e.seq > after).slice(0, limit),
    repliesTo: async (messageId) => events.filter((e) => e.replyTo === messageId),
    watch: () => () => {},
  };
}

describe('wechat_mp: images in passive replies', () => {
  it('an image goes out alone, after the texts before it and before those after it', async () => {
    let now = 1_000;
    const passive = new PassiveReplies(memoryFeed(() => now));
    await passive.store(USER, 'm1', 'm1:0', { text: 'here it is' });
    await passive.store(USER, 'm1', 'm1:1', { mediaId: 'MEDIA-1' });
    await passive.store(USER, 'm1', 'm1:1', { mediaId: 'MEDIA-1' }); // the outbox retried the chunk: stored once
    expect(await passive.hasReplyTo('m1')).toBe(true);
    expect(await passive.take(USER, now)).toEqual({ text: 'here it is' });
    // A reply stored while the image waits is not lost behind the hand-out marker.
    await passive.store(USER, 'm2', 'm2:0', { text: 'second' });
    expect(await passive.take(USER, now)).toEqual({ mediaId: 'MEDIA-1' });
    await passive.store(USER, 'm3', 'm3:0', { text: 'third' });
    expect(await passive.take(USER, now)).toEqual({ text: 'second\n\nthird' });
    expect(await passive.take(USER, now)).toBeUndefined();
  });

  it('skips an image older than the 3 days WeChat keeps uploads, and hands out what follows it', async () => {
    let now = 1_000;
    const passive = new PassiveReplies(memoryFeed(() => now));
    await passive.store(USER, 'm1', 'm1:1', { mediaId: 'OLD' });
    now += 3 * 86_400_000;
    await passive.store(USER, 'm2', 'm2:0', { text: 'still here' });
    expect(await passive.take(USER, now)).toEqual({ text: 'still here' });
    expect(await passive.take(USER, now)).toBeUndefined();
  });

  it('writes the passive image reply WeChat documents', () => {
    expect(imageReplyXml({ toUser: 'oU', fromUser: 'gh_x', createTime: 1714037060.7, mediaId: 'M_1' })).toBe(
      '<xml><ToUserName><![CDATA[oU]]></ToUserName><FromUserName><![CDATA[gh_x]]></FromUserName><CreateTime>1714037060</CreateTime>' +
        '<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[M_1]]></MediaId></Image></xml>',
    );
  });
});
