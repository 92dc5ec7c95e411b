import { afterEach, describe, expect, it } from 'vitest';
import { wechatMpConfigSchema } from '../../src/channels/wechat-mp/config.js';
import { wechatMpChannel } from '../../src/channels/wechat-mp/index.js';
import { fetchWechatMpMedia } from '../../src/channels/wechat-mp/media.js';
import { toChatMessage } from '../../src/channels/wechat-mp/parse.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { MAX_IMAGE_BYTES, type MediaContext } from '../../src/core/media.js';
import type { ChatMessage, MediaRef } from '../../src/core/message.js';
import { MEDIA_TTL_SECONDS, startFakeWechatMp, type FakeWechatMp } from '../fakes/wechat-mp/server.js';
import { solidPng } from '../helpers/images.js';
import { rejectionOf } from '../helpers/media.js';
import { JPEG_1PX, sharedTencentMediaCases } from '../helpers/tencent-media.js';
const APP = { appId: 'wx00112233445566ff', appSecret: 'media-secret-0123456789', token: 'tok3n' };

let fake: FakeWechatMp | undefined;
async function stop(): Promise<void> {
  await fake?.close();
  fake = undefined;
}
afterEach(stop);

async function start(): Promise<FakeWechatMp> {
  fake = await startFakeWechatMp({ ...APP, mode: 'plain' });
  return fake;
}

const message = (media: MediaRef[]): ChatMessage => ({
  channelType: 'wechat_mp', sceneId: 'bot', userId: 'oUser', conversationId: 'oUser', content: '[image]', msgType: 'image',
  msgId: '1', timestamp: 0, isGroup: false, mentionsBot: true, media,
});

function context(f: FakeWechatMp, media: MediaRef, opts: { maxBytes?: number; signal?: AbortSignal } = {}): MediaContext<ReturnType<typeof wechatMpConfigSchema.parse>> {
  const config = wechatMpConfigSchema.parse({ app_id: APP.appId, app_secret: APP.appSecret, token: APP.token, mode: 'plain', api_base_url: f.url });
  return { config, message: message([media]), clock: systemClock, log: silentLogger(), signal: opts.signal ?? new AbortController().signal, maxBytes: opts.maxBytes ?? MAX_IMAGE_BYTES };
}

async function download(f: FakeWechatMp, ref: string, opts: { maxBytes?: number } = {}) {
  const media: MediaRef = { kind: 'image', ref };
  return fetchWechatMpMedia(media, context(f, media, opts));
}


describe('wechat_mp media download (media/get against the fake WeChat)', () => {
  it('is the channel type\'s fetchMedia', () => {
    expect(wechatMpChannel.fetchMedia).toBe(fetchWechatMpMedia);
  });

  it('downloads a photo a follower sent by the MediaId parse recorded: the same bytes and the served type', async () => {
    const f = await start();
    const png = solidPng(3, 2, [10, 200, 30]);
    // The image message as WeChat pushes it, through the channel's own parser.
    const { message: parsed } = toChatMessage({ ToUserName: 'gh_x', FromUserName: 'oUser', CreateTime: '1714037059', MsgId: '42', MsgType: 'image', PicUrl: 'http://mmbiz.qpic.cn/x/0', MediaId: 'mid-1' });
    expect(parsed.media).toEqual([{ kind: 'image', ref: 'mid-1' }]);
    const mediaId = f.addMedia(png);
    expect(await download(f, mediaId)).toEqual({ data: png, mimeType: 'image/png' });
    const jpegId = f.addMedia(JPEG_1PX, 'image/jpeg');
    expect(await download(f, jpegId)).toEqual({ data: JPEG_1PX, mimeType: 'image/jpeg' });
    expect(f.mediaGets.map((g) => [g.via, g.errcode])).toEqual([
      ['media/get', 0],
      ['media/get', 0],
    ]);
  });

  it('turns the JSON error of an expired media id (HTTP 200, text/plain) into a non-retryable COCO_ERR_MEDIA naming 40007', async () => {
    const f = await start();
    const id = f.addMedia(solidPng());
    f.expireMedia(id);
    // What WeChat answers: a 200 whose body is the error, not an image.
    const raw = await fetch(`${f.url}/cgi-bin/stable_token`, { method: 'POST', body: JSON.stringify({ grant_type: 'client_credential', appid: APP.appId, secret: APP.appSecret }) });
    const token = ((await raw.json()) as { access_token: string }).access_token;
    const direct = await fetch(`${f.url}/cgi-bin/media/get?access_token=${token}&media_id=${id}`);
    expect(direct.status).toBe(200);
    expect(direct.headers.get('content-type')).toBe('text/plain');
    expect(await direct.json()).toMatchObject({ errcode: 40007 });

    const err = await rejectionOf(download(f, id));
    expect(err.code).toBe('COCO_ERR_MEDIA');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/^wechat_mp: media\/get 40007 invalid media_id: unknown, or older than the 3 days/);
  });

  it('refreshes a token WeChat revoked (40001) once and downloads', async () => {
    const f = await start();
    const png = solidPng(1, 1, [1, 2, 3]);
    const id = f.addMedia(png);
    await download(f, id);
    const issued = f.counters.tokensIssued;
    f.invalidateTokens();
    expect(await download(f, id)).toEqual({ data: png, mimeType: 'image/png' });
    expect(f.mediaGets.map((g) => g.errcode)).toEqual([0, 40001, 0]);
    expect(f.counters.tokensIssued).toBe(issued + 1);
  });

  it('refreshes once only: a token refused again after the refresh is a non-retryable failure', async () => {
    const f = await start();
    const id = f.addMedia(solidPng());
    f.failNextMediaGets(2, 40014);
    const err = await rejectionOf(download(f, id));
    expect(err.message).toMatch(/media\/get 40014 access token refused again after a refresh/);
    expect(err.retryable).toBe(false);
    expect(f.mediaGets.map((g) => g.errcode)).toEqual([40014, 40014]);
  });

  it('marks busy (-1) and quota answers retryable, a missing permission (48001) not', async () => {
    const f = await start();
    const id = f.addMedia(solidPng());
    f.failNextMediaGets(1, -1);
    const busy = await rejectionOf(download(f, id));
    expect(busy).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true });
    expect(busy.message).toMatch(/-1 system busy/);
    f.failNextMediaGets(1, 48001);
    const denied = await rejectionOf(download(f, id));
    expect(denied.retryable).toBe(false);
    expect(denied.message).toMatch(/48001 API unauthorized/);
  });

  it('fetches the PicUrl when the message carries no MediaId, and parse records it', async () => {
    const f = await start();
    const png = solidPng(2, 2, [0, 0, 255]);
    const id = f.addMedia(png);
    const picUrl = `${f.url}/mmbiz_jpg/${id}/0`;
    const { message: parsed } = toChatMessage({ ToUserName: 'gh_x', FromUserName: 'oUser', CreateTime: '1714037059', MsgId: '43', MsgType: 'image', PicUrl: picUrl, MediaId: '' });
    expect(parsed.media).toEqual([{ kind: 'image', ref: picUrl }]);
    expect(await download(f, picUrl)).toEqual({ data: png, mimeType: 'image/png' });
    expect(f.mediaGets.at(-1)).toMatchObject({ via: 'PicUrl', errcode: 0 });
    f.expireMedia(id);
    const err = await rejectionOf(download(f, picUrl));
    expect(err.message).toMatch(/PicUrl: HTTP 404/);
  });

  // Octet-stream bytes, the 3 days, maxBytes and an unreachable WeChat: as on WeCom.
  sharedTencentMediaCases({ channel: 'wechat_mp', platform: 'WeChat', mediaTtlSeconds: MEDIA_TTL_SECONDS, start, stop, download });
});
