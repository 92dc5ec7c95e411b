import { describe, expect, it } from 'vitest';
import { FakeWecom } from '../fakes/wecom/index.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';

const ENTRY = 'mirror.wecom_bot';

const opened = closeAfterEach();

/** A fake WeCom robot and a gateway whose echo agent answers with the images it was sent, connected. */
async function setup() {
  const fake = opened(await FakeWecom.start());
  const entry = { type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl } };
  const t = opened(await startTestGateway({ agents: { mirror: { profile: { provider: 'echo', images: true }, entries: [entry] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  await fake.waitForBotConnection();
  return { t, fake };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('wecom_bot: images in replies', () => {
  it('answers a photo with the text on the message\'s stream, then the same bytes uploaded and sent as one image message', async () => {
    const { fake } = await setup();
    const png = solidPng(5, 3, [250, 120, 0]);
    const d = fake.sendBotMessage({ type: 'image', data: png }, { from: 'zhangsan' });
    await fake.waitForBotReply(d);
    await fake.waitFor(() => fake.botSent.length === 1);
    await sleep(300); // a second image message would show up here

    expect(d.text).toBe('[image]');
    expect(d.replies.filter((r) => (r.body.stream as { finish?: boolean } | undefined)?.finish === true)).toHaveLength(1);
    expect(d.stream?.images).toBeUndefined();
    expect(fake.botSent).toHaveLength(1);
    const sent = fake.botSent[0]!;
    expect(sent).toMatchObject({ chatid: 'zhangsan', msgtype: 'image', content: `[image ${png.length} bytes image/png]` });
    expect(sent.media?.data.equals(png)).toBe(true);
    expect(fake.botUploads).toEqual([{ mediaId: (sent.body.image as { media_id: string }).media_id, type: 'image', filename: 'image.png', bytes: png.length }]);
    // Text first, then the image.
    expect(d.replies.at(-1)!.at).toBeLessThanOrEqual(sent.at);
    expect(fake.botProtocolErrors).toEqual([]);
  });

  it('sends the image of a group answer to the group', async () => {
    const { fake } = await setup();
    const png = solidPng(2, 2, [0, 0, 255]);
    const d = fake.sendBotMessage({ type: 'mixed', items: [{ type: 'text', content: 'mirror this' }, { type: 'image', data: png }] }, { chatType: 'group', chatId: 'wrTeam', from: 'lisi' });
    await fake.waitForBotReply(d);
    await fake.waitFor(() => fake.botSent.length === 1);
    expect(d.text).toBe('mirror this\n[image]');
    expect(fake.botSent.map((s) => [s.chatid, s.msgtype, s.media?.data.equals(png)])).toEqual([['wrTeam', 'image', true]]);
  });

  it('retries an upload WeCom refused as busy through the outbox, and sends the image once', async () => {
    const { t, fake } = await setup();
    fake.failNextBotRequests('aibot_upload_media_init', 1, -1, 'system busy');
    const png = solidPng(3, 3, [9, 9, 9]);
    const d = fake.sendBotMessage({ type: 'image', data: png }, { from: 'wangwu' });
    await fake.waitForBotReply(d);
    await fake.waitFor(() => fake.botSent.length === 1, 15_000);
    await sleep(300);

    expect(fake.botProtocolErrors).toEqual([expect.stringMatching(/aibot_upload_media_init .* refused: system busy$/)]);
    expect(fake.botSent).toHaveLength(1);
    expect(fake.botSent[0]!.media?.data.equals(png)).toBe(true);
    expect(fake.botUploads).toHaveLength(1);
    expect(d.replies.filter((r) => r.errcode === 0)).toHaveLength(1);
    // The outbox's record: the text went at once, the image on its second attempt.
    const [summary] = await t.gateway.store.listMessages({ limit: 1 });
    const replies = await t.until(async () => {
      const r = (await t.gateway.store.getMessage(summary!.id))?.replies;
      return r?.every((x) => x.status === 'sent') ? r : undefined;
    });
    expect(replies.map((r) => [r.chunkIndex, r.image ? 'image' : 'text', r.attempts])).toEqual([
      [0, 'text', 1],
      [1, 'image', 2],
    ]);
    expect(replies[1]!.lastError).toMatch(/errcode -1 system busy/);
  }, 20_000);
});
