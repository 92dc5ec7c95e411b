import { describe, expect, it } from 'vitest';
import { FakeIlink } from '../fakes/ilink/index.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';

const ENTRY = 'mirror.wechat_ilink';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const opened = closeAfterEach();

/** A fake iLink (with its CDN) and a gateway whose echo agent answers with the images it was sent. */
async function setup(profile: Record<string, unknown> = { provider: 'echo', images: true }) {
  const fake = opened(await FakeIlink.start({ longPollMs: 300 }));
  const entry = { type: 'channel', channel: 'wechat_ilink', config: { base_url: fake.url, bot_token: fake.botToken, cdn_base_url: fake.cdnUrl, show_typing: false } };
  const t = opened(await startTestGateway({ agents: { mirror: { profile, entries: [entry] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  return { t, fake };
}

describe('wechat_ilink: images in replies', () => {
  it('answers a photo with the text, then the same image uploaded once and sent once', async () => {
    const { fake } = await setup();
    const png = solidPng(6, 5, [250, 120, 0]);
    const m = fake.userSendsImage('alice', png, { text: '看这个' });
    const [text, image] = await fake.waitForSent(2, { user: 'alice' });
    expect(text!.item.type).toBe(1);
    expect(text!.text).toMatch(/看这个/);
    expect(image!.item.type).toBe(2);
    expect([text!.contextToken, image!.contextToken]).toEqual([m.context_token, m.context_token]);
    // Byte for byte, as the user's WeChat downloads it from the CDN.
    expect(await fake.downloadSentImage(image!)).toEqual(png);
    await sleep(500); // a repeat would show up here
    expect(fake.sent('alice')).toHaveLength(2);
    expect(fake.mediaUploads.map((u) => [u.to, u.mediaType, u.data])).toEqual([['alice@im.wechat', 1, png]]);
  });

  it('tries a failed CDN upload again from the outbox, and the user still gets the image exactly once', async () => {
    const { t, fake } = await setup();
    const png = solidPng(2, 3, [0, 0, 200]);
    fake.failNext('cdn_upload', { http: 503 });
    fake.userSendsImage('bob', png);
    const sent = await fake.waitForSent(2, { user: 'bob', timeoutMs: 15_000 });
    expect(sent.map((s) => s.item.type)).toEqual([1, 2]);
    expect(await fake.downloadSentImage(sent[1]!)).toEqual(png);
    expect(fake.calls.filter((c) => c.endpoint === 'cdn_upload').map((c) => c.status)).toEqual([503, 200]);
    expect(fake.calls.filter((c) => c.endpoint === 'getuploadurl')).toHaveLength(2);
    await sleep(500);
    expect(fake.sent('bob')).toHaveLength(2);
    const [summary] = await t.gateway.store.listMessages({ limit: 1 });
    expect((await t.gateway.store.getMessage(summary!.id))?.status).toBe('done');
  });

  it('sends no image when the agent passes none, and no upload happens', async () => {
    const { fake } = await setup({ provider: 'echo' });
    fake.userSendsImage('cy', solidPng());
    const [reply] = await fake.waitForSent(1, { user: 'cy' });
    expect(reply!.item.type).toBe(1);
    await sleep(500);
    expect(fake.sent('cy')).toHaveLength(1);
    expect(fake.calls.filter((c) => c.endpoint === 'getuploadurl' || c.endpoint === 'cdn_upload')).toEqual([]);
  });
});
