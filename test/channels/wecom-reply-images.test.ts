import { afterEach, describe, expect, it } from 'vitest';
import { wecomChannel, type WecomChannel } from '../../src/channels/wecom/index.js';
import { imageSendBody } from '../../src/channels/wecom/format.js';
import { WECOM_IMAGES } from '../../src/channels/wecom/reply-image.js';
import { checkChannelImage } from '../../src/channels/shared/reply-image.js';
import type { OutgoingMessage, ReplyImage, SendContext } from '../../src/core/message.js';
import { FakeWecom, type FakeWecomOptions } from '../fakes/wecom/index.js';
import { channelContext } from '../helpers/channel-context.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { solidPng } from '../helpers/images.js';
import { rejectionOf } from '../helpers/media.js';
import { JPEG_1PX } from '../helpers/tencent-media.js';

/** Images in replies of the WeCom app: the fake's media/upload, then the channel's send path against it. */

const MEMBER = 'LiSi';
const opened = closeAfterEach();
const startFake = async (opts: FakeWecomOptions = {}): Promise<FakeWecom> => opened(await FakeWecom.start(opts));

const token = async (f: FakeWecom) =>
  ((await (await fetch(`${f.url}/cgi-bin/gettoken?corpid=${f.corpId}&corpsecret=${f.corpSecret}`)).json()) as { access_token: string }).access_token;

// A PNG signature and a little more: the fake checks the bytes' type, it does not decode them.
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(40, 3)]);
const GIF = Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(20, 1)]);

/** An upload as any HTTP client makes it (the platform's FormData, not the gateway's encoder). */
async function upload(f: FakeWecom, accessToken: string, file?: { data: Buffer; filename: string; type?: string }, opts: { type?: string } = {}) {
  const form = new FormData();
  if (file) form.append('media', new Blob([file.data], { type: file.type ?? 'application/octet-stream' }), file.filename);
  else form.append('other', 'x');
  const res = await fetch(`${f.url}/cgi-bin/media/upload?access_token=${accessToken}&type=${opts.type ?? 'image'}`, { method: 'POST', body: form });
  return (await res.json()) as { errcode: number; errmsg: string; type?: string; media_id?: string; created_at?: unknown };
}

describe('fake WeCom app: media/upload and image messages', () => {
  it('stores an image upload and answers {errcode: 0, type, media_id, created_at (a string)}; media/get serves it', async () => {
    const f = await startFake();
    const t = await token(f);
    const answer = await upload(f, t, { data: PNG, filename: 'chart.png', type: 'image/png' });
    expect(answer).toEqual({ errcode: 0, errmsg: '', type: 'image', media_id: expect.stringMatching(/^3[\w-]{40,}$/), created_at: String(Math.floor(f.now() / 1000)) });
    expect(f.mediaUploads).toEqual([expect.objectContaining({ type: 'image', filename: 'chart.png', contentType: 'image/png', errcode: 0, mediaId: answer.media_id })]);
    const served = await fetch(`${f.url}/cgi-bin/media/get?access_token=${t}&media_id=${answer.media_id}`);
    expect(Buffer.from(await served.arrayBuffer()).equals(PNG)).toBe(true);
  });

  it('refuses what WeCom refuses: token, type, missing, empty or tiny media, file type (gif too), size; scripted failures', async () => {
    const f = await startFake();
    const t = await token(f);
    const png = { data: PNG, filename: 'a.png' };
    expect((await upload(f, '', png)).errcode).toBe(41001);
    expect((await upload(f, 'nope', png)).errcode).toBe(40014);
    expect((await upload(f, t, png, { type: 'sticker' })).errcode).toBe(40004);
    expect((await upload(f, t)).errcode).toBe(41005);
    expect((await upload(f, t, { data: Buffer.alloc(0), filename: 'a.png' })).errcode).toBe(44001);
    expect((await upload(f, t, { data: PNG.subarray(0, 5), filename: 'a.png' })).errcode).toBe(40006);
    expect((await upload(f, t, { data: GIF, filename: 'a.gif' })).errcode).toBe(40005);
    expect((await upload(f, t, { data: PNG, filename: 'a.jpg' })).errcode).toBe(40005);
    expect((await upload(f, t, { data: Buffer.concat([PNG, Buffer.alloc(10 * 1024 * 1024)]), filename: 'a.png' })).errcode).toBe(40009);
    f.failNextMediaUploads(1, 45009);
    expect((await upload(f, t, png)).errcode).toBe(45009);
    expect((await upload(f, t, { data: JPEG_1PX, filename: 'b.jpeg' })).errcode).toBe(0);
    expect(f.mediaUploads.map((u) => u.errcode)).toEqual([41001, 40014, 40004, 41005, 44001, 40006, 40005, 40005, 40009, 45009, 0]);
    expect(f.counters.mediaUploads).toBe(11);
  });

  it('an image message needs a live upload (40007 otherwise); the member sees it described, with its bytes', async () => {
    const f = await startFake();
    const t = await token(f);
    const { media_id } = await upload(f, t, { data: PNG, filename: 'a.png' });
    const send = async (mediaId: unknown) => {
      const res = await fetch(`${f.url}/cgi-bin/message/send?access_token=${t}`, {
        method: 'POST',
        body: JSON.stringify({ touser: MEMBER, msgtype: 'image', agentid: f.agentId, image: { media_id: mediaId } }),
      });
      return ((await res.json()) as { errcode: number }).errcode;
    };
    expect(await send('not-an-upload')).toBe(40007);
    expect(await send(undefined)).toBe(41006);
    expect(await send(media_id)).toBe(0);
    expect(f.delivered(MEMBER).map((d) => [d.msgtype, d.content, d.mediaId])).toEqual([['image', `[image ${PNG.length} bytes image/png]`, media_id]]);
    expect(f.deliveredImages(MEMBER)).toEqual([{ mediaId: media_id, data: PNG, contentType: 'image/png' }]);
  });
});

let channel: WecomChannel | undefined;
afterEach(async () => {
  await channel?.stop();
  channel = undefined;
});

async function boot(opts: FakeWecomOptions = {}) {
  const fake = await startFake(opts);
  const ctx = channelContext('wecom');
  channel = wecomChannel.create(ctx) as WecomChannel;
  channel.sceneId = 'bot';
  const config = wecomChannel.configSchema.parse({
    corp_id: fake.corpId, agent_id: fake.agentId, secret: fake.corpSecret, token: fake.token, encoding_aes_key: fake.encodingAesKey, api_base_url: fake.url,
  });
  await channel.start('bot', config);
  return { fake, channel };
}

const context: SendContext = { conversationId: MEMBER, isGroup: false, inReplyTo: '1', messageId: 'm1', idempotencyKey: 'm1:1', chunk: { index: 1, count: 2 } };
const imageChunk = (image: ReplyImage, alt = ''): OutgoingMessage => ({ text: alt, format: 'text', image });
const dataImage = (data: Buffer, mimeType: string): ReplyImage => ({ data: data.toString('base64'), mimeType });

describe('wecom: images in replies (send path)', () => {
  it('uploads the bytes as multipart `media`, then sends one image message naming the upload to the member', async () => {
    const { fake, channel } = await boot();
    const png = solidPng(6, 3, [10, 180, 90]);
    const result = await channel.send(imageChunk(dataImage(png, 'image/png'), 'a chart'), MEMBER, context);

    expect(fake.mediaUploads).toHaveLength(1);
    const [up] = fake.mediaUploads;
    expect(up).toMatchObject({ type: 'image', filename: 'image.png', contentType: 'image/png', filelength: String(png.length), errcode: 0 });
    expect(up!.data.equals(png)).toBe(true);
    // One message: the image (its alt text has nowhere to go in an image message).
    expect(fake.sends.map((s) => [s.msgtype, s.touser, s.errcode])).toEqual([['image', MEMBER, 0]]);
    const [image] = fake.deliveredImages(MEMBER);
    expect(image).toMatchObject({ mediaId: up!.mediaId, contentType: 'image/png' });
    expect(image!.data.equals(png)).toBe(true);
    expect(result.platformMessageId).toBe(fake.sends[0]!.msgid);
  });

  it('uploads a JPEG the agent gave by URL as image.jpg', async () => {
    const { fake, channel } = await boot();
    const url = `${fake.url}/wwpic/${fake.addMedia(JPEG_1PX, 'image/jpeg')}/0`;
    await channel.send(imageChunk({ url }), MEMBER, context);
    expect(fake.mediaUploads.map((u) => [u.filename, u.contentType, u.errcode])).toEqual([['image.jpg', 'image/jpeg', 0]]);
    expect(fake.deliveredImages(MEMBER).map((i) => i.data)).toEqual([JPEG_1PX]);
  });

  it('refuses a type WeCom does not take (gif) for good, naming the channel, and uploads nothing', async () => {
    const { fake, channel } = await boot();
    const err = await rejectionOf(channel.send(imageChunk(dataImage(GIF, 'image/gif')), MEMBER, context));
    expect(err).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: false });
    expect(err.message).toBe(`wecom: reply image not sent: WeCom shows jpg or png images; this one is image/gif (${GIF.length} bytes)`);
    expect(fake.counters.mediaUploads).toBe(0);
    expect(fake.sends).toEqual([]);
  });

  it('checks the 10 MB limit and the 5-byte minimum itself', () => {
    expect(() => checkChannelImage({ data: Buffer.concat([PNG, Buffer.alloc(10 * 1024 * 1024)]), mimeType: 'image/png' }, WECOM_IMAGES)).toThrow(
      /^wecom: reply image not sent: \d+ bytes is over WeCom's limit of 10485760$/,
    );
    expect(() => checkChannelImage({ data: PNG.subarray(0, 5), mimeType: 'image/png' }, WECOM_IMAGES)).toThrow(/5 bytes is too small for WeCom/);
    expect(() => checkChannelImage({ data: PNG.subarray(0, 6), mimeType: 'image/png' }, WECOM_IMAGES)).not.toThrow();
  });

  it('refreshes a token WeCom expired (42001) on the upload once, and sends the image', async () => {
    const { fake, channel } = await boot();
    fake.expireTokens();
    await channel.send(imageChunk(dataImage(solidPng(), 'image/png')), MEMBER, context);
    expect(fake.mediaUploads.map((u) => u.errcode)).toEqual([42001, 0]);
    expect(fake.deliveredImages(MEMBER)).toHaveLength(1);
  });

  it('a busy upload is retryable with WeCom\'s wait and sends nothing; a refused file (40005) is not retryable', async () => {
    const { fake, channel } = await boot();
    fake.failNextMediaUploads(1, -1);
    const busy = await rejectionOf(channel.send(imageChunk(dataImage(solidPng(), 'image/png')), MEMBER, context));
    expect(busy).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: true, retryAfterMs: 2_000 });
    expect(busy.message).toMatch(/^wecom: media\/upload -1 /);
    fake.failNextMediaUploads(1, 40005);
    const refused = await rejectionOf(channel.send(imageChunk(dataImage(solidPng(), 'image/png')), MEMBER, context));
    expect(refused).toMatchObject({ retryable: false });
    expect(refused.message).toBe('wecom: media/upload 40005 invalid file type: WeCom takes jpg and png images');
    expect(fake.sends).toEqual([]);
  });

  it('an image message counts against the member\'s per-minute limit like text (28 by default)', async () => {
    const { fake, channel } = await boot();
    for (let i = 0; i < 27; i++) await channel.send({ text: `t${i}`, format: 'text' }, MEMBER, { ...context, idempotencyKey: `m1:t${i}` });
    await channel.send(imageChunk(dataImage(solidPng(), 'image/png')), MEMBER, context);
    expect(fake.dropped(MEMBER)).toEqual([]);
    const err = await rejectionOf(channel.send(imageChunk(dataImage(solidPng(), 'image/png')), MEMBER, { ...context, idempotencyKey: 'm1:2' }));
    expect(err).toMatchObject({ retryable: true });
    expect(err.message).toMatch(/at the per-member message limit/);
    expect(fake.deliveredImages(MEMBER)).toHaveLength(1);
  });

  it('refuses to address anything but one member', () => {
    expect(() => imageSendBody('a|b', 1000002, 'm')).toThrow(/is not a single member UserID/);
    expect(imageSendBody('LiSi', 1000002, 'MEDIA')).toEqual({ touser: 'LiSi', msgtype: 'image', agentid: 1000002, image: { media_id: 'MEDIA' }, safe: 0, enable_duplicate_check: 0 });
  });
});
