import { afterEach, describe, expect, it } from 'vitest';
import { wecomConfigSchema } from '../../src/channels/wecom/config.js';
import { wecomChannel } from '../../src/channels/wecom/index.js';
import { fetchWecomMedia } from '../../src/channels/wecom/media.js';
import { toChatMessage } from '../../src/channels/wecom/parse.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { MAX_IMAGE_BYTES, type MediaContext } from '../../src/core/media.js';
import type { ChatMessage, MediaRef } from '../../src/core/message.js';
import { MEDIA_TTL_MS } from '../fakes/wecom/api.js';
import { FakeWecom } from '../fakes/wecom/index.js';
import { solidPng } from '../helpers/images.js';
import { rejectionOf } from '../helpers/media.js';
import { JPEG_1PX, sharedTencentMediaCases } from '../helpers/tencent-media.js';

let fake: FakeWecom | undefined;
async function stop(): Promise<void> {
  await fake?.close();
  fake = undefined;
}
afterEach(stop);

async function start(): Promise<FakeWecom> {
  fake = await FakeWecom.start();
  return fake;
}

const message = (media: MediaRef[]): ChatMessage => ({
  channelType: 'wecom', sceneId: 'bot', userId: 'zhangsan', conversationId: 'zhangsan', content: '[image]', msgType: 'image',
  msgId: '1', timestamp: 0, isGroup: false, mentionsBot: true, media,
});

function context(f: FakeWecom, media: MediaRef, opts: { maxBytes?: number } = {}): MediaContext<ReturnType<typeof wecomConfigSchema.parse>> {
  const config = wecomConfigSchema.parse({
    corp_id: f.corpId, agent_id: f.agentId, secret: f.corpSecret, token: f.token, encoding_aes_key: f.encodingAesKey, api_base_url: f.url,
  });
  return { config, message: message([media]), clock: systemClock, log: silentLogger(), signal: new AbortController().signal, maxBytes: opts.maxBytes ?? MAX_IMAGE_BYTES };
}

async function download(f: FakeWecom, ref: string, opts: { maxBytes?: number } = {}) {
  const media: MediaRef = { kind: 'image', ref };
  return fetchWecomMedia(media, context(f, media, opts));
}


describe('wecom media download (media/get against the fake WeCom)', () => {
  it("is the channel type's fetchMedia", () => {
    expect(wecomChannel.fetchMedia).toBe(fetchWecomMedia);
  });

  it('downloads the photo a member sent by the MediaId parse recorded: the same bytes and the served type', async () => {
    const f = await start();
    const png = solidPng(3, 3, [250, 120, 0]);
    const mediaId = f.addMedia(png);
    // The image message as WeCom pushes it (decrypted), through the channel's own parser.
    const { message: parsed } = toChatMessage(
      { ToUserName: f.corpId, FromUserName: 'zhangsan', CreateTime: '1714037059', MsgType: 'image', PicUrl: `${f.url}/wwpic/${mediaId}/0`, MediaId: mediaId, MsgId: '7', AgentID: String(f.agentId) },
      { corp_id: f.corpId, agent_id: f.agentId },
    );
    expect(parsed.media).toEqual([{ kind: 'image', ref: mediaId }]);
    expect(await download(f, parsed.media![0]!.ref)).toEqual({ data: png, mimeType: 'image/png' });
    const jpegId = f.addMedia(JPEG_1PX, 'image/jpeg');
    expect(await download(f, jpegId)).toEqual({ data: JPEG_1PX, mimeType: 'image/jpeg' });
    expect(f.mediaGets.map((g) => [g.via, g.errcode])).toEqual([
      ['media/get', 0],
      ['media/get', 0],
    ]);
  });

  it('turns the JSON error of an unknown or expired media id (HTTP 200) into a non-retryable COCO_ERR_MEDIA naming 40007', async () => {
    const f = await start();
    const id = f.addMedia(solidPng());
    f.expireMedia(id);
    // What WeCom answers: a 200 whose body is the error, not an image.
    const token = ((await (await fetch(`${f.url}/cgi-bin/gettoken?corpid=${f.corpId}&corpsecret=${f.corpSecret}`)).json()) as { access_token: string }).access_token;
    const direct = await fetch(`${f.url}/cgi-bin/media/get?access_token=${token}&media_id=${encodeURIComponent(id)}`);
    expect(direct.status).toBe(200);
    expect(direct.headers.get('content-type')).toMatch(/^application\/json/);
    expect(direct.headers.get('error-code')).toBe('40007');
    expect(await direct.json()).toMatchObject({ errcode: 40007 });

    for (const ref of [id, 'never-uploaded']) {
      const err = await rejectionOf(download(f, ref));
      expect(err.code).toBe('COCO_ERR_MEDIA');
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/^wecom: media\/get 40007 invalid media_id: unknown, or older than the 3 days/);
    }
  });

  it.each([
    ['invalidated (40014)', (f: FakeWecom) => f.invalidateTokens(), 40014],
    ['expired (42001)', (f: FakeWecom) => f.expireTokens(), 42001],
  ] as const)('refreshes a token WeCom %s once and downloads', async (_what, revoke, code) => {
    const f = await start();
    const png = solidPng(1, 1, [4, 5, 6]);
    const id = f.addMedia(png);
    await download(f, id);
    const issued = f.counters.tokensIssued;
    revoke(f);
    expect(await download(f, id)).toEqual({ data: png, mimeType: 'image/png' });
    expect(f.mediaGets.map((g) => g.errcode)).toEqual([0, code, 0]);
    expect(f.counters.tokensIssued).toBe(issued + 1);
  });

  it('refreshes once only: a token refused again after the refresh is a non-retryable failure', async () => {
    const f = await start();
    const id = f.addMedia(solidPng());
    f.failNextMediaGets(2, 42001);
    const err = await rejectionOf(download(f, id));
    expect(err.message).toMatch(/media\/get 42001 access token refused again after a refresh/);
    expect(err.retryable).toBe(false);
    expect(f.mediaGets.map((g) => g.errcode)).toEqual([42001, 42001]);
  });

  it('marks busy (-1) and frequency limits retryable, a forbidden API (48002) not', async () => {
    const f = await start();
    const id = f.addMedia(solidPng());
    f.failNextMediaGets(1, -1);
    expect(await rejectionOf(download(f, id))).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true });
    f.failNextMediaGets(1, 45009);
    expect(await rejectionOf(download(f, id))).toMatchObject({ retryable: true, message: expect.stringMatching(/45009/) });
    f.failNextMediaGets(1, 48002);
    const denied = await rejectionOf(download(f, id));
    expect(denied.retryable).toBe(false);
    expect(denied.message).toMatch(/48002 API forbidden for this app/);
  });

  it('fetches the PicUrl when the message carries no MediaId', async () => {
    const f = await start();
    const png = solidPng(2, 2, [0, 0, 255]);
    const id = f.addMedia(png);
    const picUrl = `${f.url}/wwpic/${id}/0`;
    const { message: parsed } = toChatMessage(
      { ToUserName: f.corpId, FromUserName: 'zhangsan', CreateTime: '1714037059', MsgType: 'image', PicUrl: picUrl, MediaId: '', MsgId: '8', AgentID: String(f.agentId) },
      { corp_id: f.corpId, agent_id: f.agentId },
    );
    expect(parsed.media).toEqual([{ kind: 'image', ref: picUrl }]);
    expect(await download(f, picUrl)).toEqual({ data: png, mimeType: 'image/png' });
    expect(f.mediaGets.at(-1)).toMatchObject({ via: 'PicUrl', errcode: 0 });
  });

  // Octet-stream bytes, the 3 days, maxBytes and an unreachable WeCom: as on WeChat.
  sharedTencentMediaCases({ channel: 'wecom', platform: 'WeCom', mediaTtlSeconds: MEDIA_TTL_MS / 1000, start, stop, download });
});
