import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WSClient } from '@wecom/aibot-node-sdk';
import { WecomBotChannel, wecomBotChannel } from '../../src/channels/wecom-bot/index.js';
import { CocoError } from '../../src/core/errors.js';
import type { ChatMessage, OutgoingMessage, SendContext } from '../../src/core/message.js';
import { FakeWecom, TINY_PNG } from '../fakes/wecom/index.js';
import { channelContext } from '../helpers/channel-context.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { solidPng } from '../helpers/images.js';
import { waitFor } from '../helpers/wait-for.js';

/** Images in the robot's replies, against the fake: on the stream's finishing frame, or uploaded and sent by media_id. */

const opened = closeAfterEach();
const until = (predicate: () => boolean) => waitFor(predicate, 5_000, 'the fake robot');

async function boot() {
  const fake = await FakeWecom.start();
  opened(fake);
  const received: ChatMessage[] = [];
  const ctx = channelContext('wecom_bot');
  const channel = wecomBotChannel.create(ctx) as WecomBotChannel;
  channel.sceneId = 'bot';
  channel.onMessage = async (m) => {
    received.push(m);
    return { messageId: String(received.length), duplicate: false, acceptedAt: Date.now() };
  };
  opened({ close: () => channel.stop() });
  await channel.start('bot', wecomBotChannel.configSchema.parse({ bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl }));
  return { fake, channel, received };
}

/** The SendContext of chunk `index` of `count` of the answer to `m`. */
function chunkOf(m: ChatMessage, index: number, count: number, meta: Record<string, unknown> = {}): SendContext {
  return {
    conversationId: m.conversationId,
    isGroup: m.isGroup,
    inReplyTo: m.msgId,
    messageId: '1',
    idempotencyKey: `1:${index}`,
    chunk: { index, count },
    replyMeta: { ...m.replyMeta, ...meta },
  };
}

const imageChunk = (data: Buffer, mimeType: string, alt = ''): OutgoingMessage => ({ text: alt, format: 'text', image: { data: data.toString('base64'), mimeType } });
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
/** A JPEG as WeCom tells it apart: the SOI marker and a JFIF segment. */
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0'), Buffer.alloc(64, 1), Buffer.from([0xff, 0xd9])]);
const GIF = Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(32, 0)]);

describe('wecom_bot: images in replies', () => {
  it('sends an image that follows the text as an uploaded image message to the same chat, once', async () => {
    const { fake, channel, received } = await boot();
    const d = fake.sendBotText('show me', { chatType: 'group', chatId: 'wrPics', from: 'lisi' });
    await until(() => received.length === 1);
    const m = received[0]!;
    const png = solidPng(3, 2, [10, 200, 30]);
    await channel.send({ text: 'here it is', format: 'text' }, 'lisi', chunkOf(m, 0, 2));
    await channel.send(imageChunk(png, 'image/png'), 'lisi', chunkOf(m, 1, 2));

    // The text finished the stream; the image could not join it, so it went as its own message.
    expect(d.replies).toHaveLength(1);
    expect(d.text).toBe('here it is');
    expect(fake.botSent).toHaveLength(1);
    const sent = fake.botSent[0]!;
    expect(sent).toMatchObject({ chatid: 'wrPics', msgtype: 'image', content: `[image ${png.length} bytes image/png]` });
    expect(sent.body).toEqual({ chatid: 'wrPics', msgtype: 'image', image: { media_id: expect.any(String) } });
    expect(sent.media?.data.equals(png)).toBe(true);
    expect(fake.botUploads).toEqual([{ mediaId: (sent.body.image as { media_id: string }).media_id, type: 'image', filename: 'image.png', bytes: png.length }]);

    // The outbox trying the chunk again (its success not recorded) sends nothing twice.
    await channel.send(imageChunk(png, 'image/png'), 'lisi', chunkOf(m, 1, 2));
    expect(fake.botSent).toHaveLength(1);
    expect(fake.botUploads).toHaveLength(1);
    expect(fake.botProtocolErrors).toEqual([]);
  });

  it('finishes the open stream with an image-only answer, in msg_item with its md5 and the alt text', async () => {
    const { fake, channel, received } = await boot();
    const d = fake.sendBotText('draw');
    await until(() => received.length === 1);
    const m = received[0]!;
    channel.startTyping(m);
    await until(() => d.replies.length === 1);
    expect(d.text).toBe('…');
    await channel.send(imageChunk(JPEG, 'image/jpeg', 'a cat'), 'u', chunkOf(m, 0, 1));

    expect(d.finished).toBe(true);
    expect(d.text).toBe('a cat');
    expect(d.stream?.frames).toBe(2);
    expect(new Set(d.replies.map((r) => (r.body.stream as { id: string }).id)).size).toBe(1);
    expect(d.stream?.msgItem).toEqual([{ msgtype: 'image', image: { base64: JPEG.toString('base64'), md5: md5(JPEG) } }]);
    expect(d.stream?.images?.map((i) => [i.mimeType, i.data.equals(JPEG)])).toEqual([['image/jpeg', true]]);
    expect(fake.botSent).toHaveLength(0);
    expect(fake.botUploads).toHaveLength(0);
  });

  it('sends an image-only answer proactively when the req_id is from before the start', async () => {
    const { fake, channel, received } = await boot();
    const d = fake.sendBotText('draw later', { from: 'wangwu' });
    await until(() => received.length === 1);
    await channel.send(imageChunk(TINY_PNG, 'image/png'), 'wangwu', chunkOf(received[0]!, 0, 1, { receivedAt: 1 }));
    expect(d.replies).toHaveLength(0);
    expect(fake.botSent.map((s) => [s.chatid, s.content])).toEqual([['wangwu', `[image ${TINY_PNG.length} bytes image/png]`]]);
  });

  it('refuses a GIF for good, naming the channel and the types WeCom shows, without sending anything', async () => {
    const { fake, channel, received } = await boot();
    fake.sendBotText('gif please');
    await until(() => received.length === 1);
    const err = await channel.send(imageChunk(GIF, 'image/gif'), 'u', chunkOf(received[0]!, 1, 2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CocoError);
    expect(err).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: false, channel: 'wecom_bot' });
    expect((err as Error).message).toBe(`wecom_bot: reply image not sent: WeCom shows jpg or png images; this one is image/gif (${GIF.length} bytes)`);
    expect(fake.botSent).toHaveLength(0);
    expect(fake.botUploads).toHaveLength(0);
  });

  it('an upload refused as busy is retryable, and the retry sends one image message', async () => {
    const { fake, channel, received } = await boot();
    fake.sendBotText('pic');
    await until(() => received.length === 1);
    const context = chunkOf(received[0]!, 1, 2);
    fake.failNextBotRequests('aibot_upload_media_init', 1, -1);
    const err = await channel.send(imageChunk(TINY_PNG, 'image/png'), 'u', context).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: true, message: 'wecom_bot: errcode -1 system busy' });
    expect(fake.botSent).toHaveLength(0);
    await channel.send(imageChunk(TINY_PNG, 'image/png'), 'u', context);
    expect(fake.botSent.map((s) => s.msgtype)).toEqual(['image']);
    expect(fake.botUploads).toHaveLength(1);
  });

  it('after a failed image message the retry reuses the upload; a media_id WeCom no longer knows is uploaded again', async () => {
    const { fake, channel, received } = await boot();
    fake.sendBotText('two tries');
    await until(() => received.length === 1);
    const png = solidPng(4, 4);
    const busy = chunkOf(received[0]!, 1, 3);
    fake.failNextBotRequests('aibot_send_msg', 1, -1);
    await expect(channel.send(imageChunk(png, 'image/png'), 'u', busy)).rejects.toMatchObject({ retryable: true });
    await channel.send(imageChunk(png, 'image/png'), 'u', busy);
    expect(fake.botUploads).toHaveLength(1);
    expect((fake.botSent[0]!.body.image as { media_id: string }).media_id).toBe(fake.botUploads[0]!.mediaId);

    const gone = chunkOf(received[0]!, 2, 3);
    fake.failNextBotRequests('aibot_send_msg', 1, 40007, 'invalid media_id');
    await expect(channel.send(imageChunk(png, 'image/png'), 'u', gone)).rejects.toMatchObject({ retryable: true, message: 'wecom_bot: errcode 40007 invalid media_id' });
    await channel.send(imageChunk(png, 'image/png'), 'u', gone);
    expect(fake.botUploads).toHaveLength(3);
    expect((fake.botSent[1]!.body.image as { media_id: string }).media_id).toBe(fake.botUploads[2]!.mediaId);
    expect(fake.botSent).toHaveLength(2);
  });

  it('treats an image WeCom refuses (file type, size) as final', async () => {
    const { fake, channel, received } = await boot();
    fake.sendBotText('x');
    await until(() => received.length === 1);
    fake.failNextBotRequests('aibot_upload_media_finish', 1, 40005, 'invalid file type');
    await expect(channel.send(imageChunk(TINY_PNG, 'image/png'), 'u', chunkOf(received[0]!, 1, 2))).rejects.toMatchObject({ retryable: false, message: 'wecom_bot: errcode 40005 invalid file type' });
    expect(fake.botSent).toHaveLength(0);
  });
});

describe('fake WeCom robot: image uploads and msg_item', () => {
  /** The official SDK, connected to the fake, and one callback's frame to answer. */
  async function sdkClient(fake: FakeWecom) {
    const client = new WSClient({ botId: fake.botId, secret: fake.botSecret, wsUrl: fake.wsUrl, maxReconnectAttempts: 0, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    opened({ close: async () => client.disconnect() });
    const frames: { headers: { req_id: string } }[] = [];
    client.on('message', (f) => frames.push(f as { headers: { req_id: string } }));
    client.connect();
    await fake.waitForBotConnection();
    return { client, frames };
  }

  it('refuses a non-JPG/PNG image upload (40005), an oversized one (40009), and unknown media_ids (40007)', async () => {
    const fake = await FakeWecom.start();
    opened(fake);
    const { client } = await sdkClient(fake);
    await expect(client.uploadMedia(GIF, { type: 'image', filename: 'a.gif' })).rejects.toMatchObject({ errcode: 40005 });
    await expect(client.uploadMedia(Buffer.alloc(10 * 1024 * 1024 + 1, 1), { type: 'image', filename: 'big.png' })).rejects.toMatchObject({ errcode: 40009 });
    await expect(client.sendMediaMessage('zhangsan', 'image', 'no-such-id')).rejects.toMatchObject({ errcode: 40007 });
    const file = await client.uploadMedia(Buffer.from('just a file'), { type: 'file', filename: 'a.txt' });
    await expect(client.sendMediaMessage('zhangsan', 'image', file.media_id)).rejects.toMatchObject({ errcode: 40007 });
    const png = await client.uploadMedia(TINY_PNG, { type: 'image', filename: 'a.png' });
    await client.sendMediaMessage('zhangsan', 'image', png.media_id);
    expect(fake.botSent.map((s) => s.content)).toEqual([`[image ${TINY_PNG.length} bytes image/png]`]);
  });

  it('checks msg_item images: md5 of the bytes, JPG or PNG', async () => {
    const fake = await FakeWecom.start();
    opened(fake);
    const { client, frames } = await sdkClient(fake);
    const d = fake.sendBotText('hi');
    await until(() => frames.length === 1);
    const item = (data: Buffer, hash = md5(data)) => ({ msgtype: 'image' as const, image: { base64: data.toString('base64'), md5: hash } });
    await expect(client.replyStream(frames[0]!, 's1', 'x', true, [item(TINY_PNG, md5(GIF))])).rejects.toMatchObject({ errcode: 40058, errmsg: 'stream.msg_item[0].image.md5 does not match' });
    await expect(client.replyStream(frames[0]!, 's1', 'x', true, [item(GIF)])).rejects.toMatchObject({ errcode: 40005 });
    expect(d.finished).toBe(false);
    await client.replyStream(frames[0]!, 's1', 'x', true, [item(TINY_PNG), item(JPEG)]);
    expect(d.stream?.images?.map((i) => i.mimeType)).toEqual(['image/png', 'image/jpeg']);
  });
});
