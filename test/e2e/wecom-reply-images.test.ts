import { describe, expect, it } from 'vitest';
import { FakeWecom } from '../fakes/wecom/index.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';

/**
 * Images in replies of a WeCom app: a member's photo → the echo agent (`images: true`) answers with the text and
 * the photo → the channel uploads it (media/upload) and sends an image message through message/send.
 */

const ENTRY = 'mirror.wecom';
const opened = closeAfterEach();
/** Long enough for a second image message or upload to show up, were one sent. */
const settle = () => new Promise((r) => setTimeout(r, 400));

async function setup() {
  const fake = opened(await FakeWecom.start({ retryWaitMs: 1_000 }));
  const entry = {
    type: 'channel',
    channel: 'wecom',
    config: { corp_id: fake.corpId, agent_id: fake.agentId, secret: fake.corpSecret, token: fake.token, encoding_aes_key: fake.encodingAesKey, api_base_url: fake.url },
  };
  const t = opened(await startTestGateway({ agents: { mirror: { profile: { provider: 'echo', images: true }, entries: [entry] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  fake.gatewayUrl = `${address}/webhooks/wecom/${ENTRY}`;
  return { t, fake };
}

describe('wecom: images in replies', () => {
  it('the member gets the text, then the same photo byte for byte, once', async () => {
    const { t, fake } = await setup();
    const png = solidPng(5, 5, [240, 120, 0]);
    const sent = await fake.sendImage('WangWu', png);
    expect(sent.attempts[0]).toMatchObject({ status: 200, body: '' });
    await t.until(() => fake.delivered('WangWu').length === 2);
    await settle();

    expect(fake.delivered('WangWu').map((d) => [d.msgtype, d.content])).toEqual([
      ['text', '[image]'],
      ['image', `[image ${png.length} bytes image/png]`],
    ]);
    const images = fake.deliveredImages('WangWu');
    expect(images).toHaveLength(1);
    expect(images[0]!.data.equals(png)).toBe(true);
    expect(fake.mediaUploads.map((u) => [u.errcode, u.filename, u.contentType])).toEqual([[0, 'image.png', 'image/png']]);
    expect(fake.mediaUploads[0]!.data.equals(png)).toBe(true);
    expect(images[0]!.mediaId).toBe(fake.mediaUploads[0]!.mediaId);
    expect(fake.dropped()).toEqual([]);
  });

  it('a busy upload is retried by the outbox: one more upload, still one image message', async () => {
    const { t, fake } = await setup();
    const png = solidPng(3, 2, [1, 2, 3]);
    fake.failNextMediaUploads(1, -1);
    await fake.sendImage('ZhaoLiu', png);
    await t.until(() => fake.deliveredImages('ZhaoLiu').length === 1, 15_000);
    await settle();

    expect(fake.mediaUploads.map((u) => u.errcode)).toEqual([-1, 0]);
    expect(fake.delivered('ZhaoLiu').map((d) => d.msgtype)).toEqual(['text', 'image']);
    expect(fake.deliveredImages('ZhaoLiu')[0]!.data.equals(png)).toBe(true);
    expect(fake.sends.filter((s) => s.msgtype === 'image')).toHaveLength(1);
    const [message] = await t.gateway.store.listMessages({ userId: 'ZhaoLiu' });
    const replies = (await t.gateway.store.getMessage(message!.id))!.replies;
    expect(replies.map((r) => [r.status, r.attempts])).toEqual([['sent', 1], ['sent', 2]]);
  });

  it('a type WeCom does not take (gif) is dead-lettered with the reason; the text still arrives, nothing is uploaded', async () => {
    const { t, fake } = await setup();
    const gif = Buffer.concat([Buffer.from('GIF89a'), Buffer.from([1, 0, 1, 0, 0, 0, 0]), Buffer.from(';')]);
    await fake.sendImage('SunQi', gif, { contentType: 'image/gif' });
    const dead = await t.until(async () => {
      const res = await t.admin('GET', '/dead-letters?kind=outbound');
      return res.json.deadLetters.length > 0 ? res.json.deadLetters : undefined;
    });
    expect(dead[0].error).toMatch(/wecom: reply image not sent: WeCom shows jpg or png images; this one is image\/gif/);
    expect(fake.delivered('SunQi').map((d) => d.content)).toEqual(['[image]']);
    expect(fake.counters.mediaUploads).toBe(0);
  });
});
