import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chatReducer, emptyChat, type ChatAction, type UserBubble } from '../../panel/src/pages/chat/chat-state.js';
import { formatBytes, MAX_ATTACHMENTS, MAX_TOTAL_BYTES, refuseBytes, refuseFile, sniffImageType, toBase64 } from '../../panel/src/pages/chat/attachments.js';
import { imagesOf, startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { CHROMIUM, chromiumMissing, launchBrowser, logIn, recordResponses, screenshot, type Recorded } from '../helpers/browser.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { webApiEntry } from '../helpers/workspace.js';

/**
 * Images in the panel's chat, in a real Chromium against a real gateway whose agent (openai,
 * `images: true`) talks to the fake model: a PNG picked with "Attach image" shows as a thumbnail,
 * goes out without text, reaches the model byte for byte, and shows in the sent message; files
 * that cannot go (not an image, too large, a fifth one) are refused with a reason naming them;
 * thumbnails can be removed; an image pasted into the message box is attached.
 */

const TIMEOUT = 60_000;
const ENTRY = 'looker.web_api';

// The callbacks passed to page.evaluate run in the browser; the repo's tsconfig has no DOM lib.
declare const document: { querySelector(selector: string): { dispatchEvent(e: unknown): boolean } | null; documentElement: { scrollWidth: number } };
declare const innerWidth: number;
declare const DataTransfer: new () => { items: { add(data: unknown, type?: string): unknown }; setData(type: string, data: string): void };
declare const ClipboardEvent: new (type: string, init: Record<string, unknown>) => unknown;
declare const File: new (parts: unknown[], name: string, init: { type: string }) => unknown;

let t: TestGateway;
let llm: FakeLlm;
let base: string;
let browser: Browser;

interface FileSpec {
  name: string;
  mimeType: string;
  buffer: Buffer;
}
const png = (name: string, data: Buffer): FileSpec => ({ name, mimeType: 'image/png', buffer: data });

describe('panel chat: images', () => {
  beforeAll(async () => {
    if (chromiumMissing()) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install chromium) or point COCOCAT_CHROMIUM at one`);
    }
    // test/global-setup.ts has built the production bundle the gateway serves at `/`.
    llm = await startFakeLlm();
    const profile = { provider: 'openai', model: 'vision-model', base_url: llm.url, api_key: 'k', images: true };
    // The entry's own body limit (64 KiB by default) is for API clients; the panel's route ignores it.
    t = await startTestGateway({ agents: { looker: { profile, entries: [webApiEntry()] } } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    browser = await launchBrowser();
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await llm?.close();
  });

  beforeEach(() => llm.reset());

  interface Panel {
    context: BrowserContext;
    page: Page;
    responses: Recorded[];
    /** Bodies of the panel's POSTs to the chat route. */
    posts: unknown[];
  }

  /** A fresh browser context, logged in, on the chat of `user` with the vision agent. */
  async function openChat(user: string): Promise<Panel> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const responses = recordResponses(page);
    const posts: unknown[] = [];
    page.on('request', (req) => {
      if (req.method() === 'POST' && req.url() === `${base}/api/admin/chat/${encodeURIComponent(ENTRY)}`) posts.push(req.postDataJSON());
    });
    await logIn(page, base, ADMIN_TOKEN);
    await page.goto(`${base}/#/chat?entry=${encodeURIComponent(ENTRY)}&user=${user}`);
    await page.getByText('No messages yet.').waitFor();
    return { context, page, responses, posts };
  }

  /** Picks files through the "Attach image" button's file chooser, as a user does. */
  async function attach(page: Page, files: FileSpec[]): Promise<void> {
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByRole('button', { name: 'Attach image' }).click()]);
    expect(chooser.isMultiple()).toBe(true);
    await chooser.setFiles(files);
  }

  const thumbs = (page: Page) => page.getByRole('list', { name: 'Attached images' }).getByRole('img');
  const thumbNames = async (page: Page) => Promise.all((await thumbs(page).all()).map((img) => img.getAttribute('alt')));
  const alert = (page: Page) => page.locator('.chat-composer [role="alert"]');

  /** The image's decoded width: 0 when it did not load (e.g. refused by the page's CSP). */
  const naturalWidth = (img: Locator) => img.evaluate((el) => (el as unknown as { complete: boolean; naturalWidth: number }).naturalWidth);

  it(
    'sends a picked PNG without text; the model gets exactly its bytes and the reply streams in',
    async () => {
      const { context, page, responses, posts } = await openChat('pic-user');
      const red = solidPng(3, 2, [255, 0, 0]);
      const send = page.getByRole('button', { name: 'Send' });
      expect(await send.isDisabled()).toBe(true);
      expect(await page.getByRole('button', { name: 'Attach image' }).locator('..').locator('input[type="file"]').getAttribute('accept')).toBe(
        'image/png,image/jpeg,image/gif,image/webp',
      );

      await attach(page, [png('red.png', red)]);
      const thumb = thumbs(page).first();
      await thumb.waitFor();
      expect(await thumbNames(page)).toEqual(['red.png']);
      // Drawn, not a broken image: the thumbnail is a data: URL, which the panel's CSP allows.
      await expect.poll(() => naturalWidth(thumb)).toBe(3);
      await screenshot(page, 'chat-image-attached');

      expect(await page.getByLabel('Message').inputValue()).toBe('');
      expect(await send.isEnabled()).toBe(true);
      await send.click();

      // The thumbnails leave the composer; the sent message shows the image.
      await page.getByRole('list', { name: 'Attached images' }).waitFor({ state: 'detached' });
      const sent = page.locator('[data-role="user"]').getByRole('img', { name: 'red.png' });
      await sent.waitFor();
      await expect.poll(() => naturalWidth(sent)).toBe(3);
      const reply = page.locator('[data-role="assistant"]', { hasText: 'reply to: [image] (+1 image)' });
      await reply.waitFor();
      expect(await page.getByText('waiting for the agent…').count()).toBe(0);

      expect(posts).toEqual([{ userId: 'pic-user', images: [{ data_base64: red.toString('base64') }] }]);
      expect(llm.requests).toHaveLength(1);
      expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: red }]);
      await screenshot(page, 'chat-image-sent');

      // After a reload the transcript comes from the server: the text says [image], no thumbnail.
      await page.reload();
      const reloaded = page.locator('[data-role="user"]');
      await reloaded.filter({ hasText: '[image]' }).waitFor();
      expect(await reloaded.count()).toBe(1);
      expect(await reloaded.getByRole('img').count()).toBe(0);
      expect(await page.locator('[data-role="assistant"]', { hasText: 'reply to: [image] (+1 image)' }).count()).toBe(1);

      const foreign = responses.filter((r) => !r.url.startsWith(`${base}/`) && !r.url.startsWith('data:'));
      expect(foreign.map((r) => r.url)).toEqual([]);
      await context.close();
    },
    TIMEOUT,
  );

  it(
    'refuses a file that is not an image, one over the size limit and a fifth image, naming each; removes a thumbnail; sends text with the rest',
    async () => {
      const { context, page, posts } = await openChat('picky-user');

      // Not an image by its type, and a .png whose bytes are text: neither is attached.
      await attach(page, [
        { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('just some notes') },
        png('fake.png', Buffer.from('hello, I am text, not a picture')),
      ]);
      await alert(page).getByText('“fake.png” is not attached: its contents are not a png, jpeg, gif or webp image.').waitFor();
      expect(await alert(page).innerText()).toContain('“notes.txt” is not attached: only png, jpeg, gif or webp images can be sent (it is text/plain).');
      expect(await thumbs(page).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true);

      // Over 1 MiB: refused before it is read.
      const big = Buffer.concat([solidPng(), Buffer.alloc(1_100_000, 7)]);
      await attach(page, [png('huge.png', big)]);
      await alert(page).getByText(/“huge\.png” is not attached: it is too large \(1\.\d MB; at most 700 KB of images per message\)\./).waitFor();
      expect(await alert(page).innerText()).not.toContain('notes.txt');
      expect(await thumbs(page).count()).toBe(0);

      // Five at once: four are attached, the fifth is refused by name.
      const colours: [number, number, number][] = [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 0],
        [0, 255, 255],
      ];
      const images = colours.map((rgb, i) => png(`p${i + 1}.png`, solidPng(2, 2, rgb)));
      await attach(page, images);
      await alert(page).getByText(`“p5.png” is not attached: at most 4 images per message.`).waitFor();
      await expect.poll(() => thumbNames(page)).toEqual(['p1.png', 'p2.png', 'p3.png', 'p4.png']);
      await screenshot(page, 'chat-image-refused');
      // On a phone the thumbnails and the reasons wrap: the page gets no side scroll.
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await page.evaluate(() => document.documentElement.scrollWidth - innerWidth), 'page wider than the viewport').toBeLessThanOrEqual(0);
      await screenshot(page, 'chat-image-phone');
      await page.setViewportSize({ width: 1280, height: 900 });

      // Remove buttons: p2 and p4 go, the others stay in order.
      await page.getByRole('button', { name: 'Remove p2.png' }).click();
      await page.getByRole('button', { name: 'Remove p4.png' }).click();
      await expect.poll(() => thumbNames(page)).toEqual(['p1.png', 'p3.png']);
      await page.getByRole('button', { name: 'Dismiss these errors' }).click();
      expect(await alert(page).count()).toBe(0);
      await screenshot(page, 'chat-image-two');

      const box = page.getByLabel('Message');
      await box.fill('which is greener?');
      await box.press('Enter');
      await page.locator('[data-role="assistant"]', { hasText: 'reply to: which is greener? [2 images] (+2 images)' }).waitFor();
      const sent = page.locator('[data-role="user"]', { hasText: 'which is greener?' });
      expect(await Promise.all((await sent.getByRole('img').all()).map((img) => img.getAttribute('alt')))).toEqual(['p1.png', 'p3.png']);
      expect(await thumbs(page).count()).toBe(0);
      expect(posts).toEqual([
        { userId: 'picky-user', content: 'which is greener?', images: [{ data_base64: images[0]!.buffer.toString('base64') }, { data_base64: images[2]!.buffer.toString('base64') }] },
      ]);
      expect(llm.requests).toHaveLength(1);
      expect(imagesOf(llm.requests[0]!)).toEqual([
        { mimeType: 'image/png', data: images[0]!.buffer },
        { mimeType: 'image/png', data: images[2]!.buffer },
      ]);
      await context.close();
    },
    TIMEOUT,
  );

  it(
    'attaches an image pasted into the message box and leaves a text paste alone',
    async () => {
      const { context, page, posts } = await openChat('paste-user');
      const green = solidPng(4, 4, [0, 200, 0]);
      await page.getByLabel('Message').fill('pasted:');
      const paste = (bytes: number[] | undefined) =>
        page.evaluate((data) => {
          const transfer = new DataTransfer();
          if (data) transfer.items.add(new File([new Uint8Array(data)], 'image.png', { type: 'image/png' }));
          else transfer.setData('text/plain', 'plain words');
          const event = new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true });
          // false: the page called preventDefault (it took the image instead of letting it be pasted as text).
          return document.querySelector('.chat-composer textarea')!.dispatchEvent(event);
        }, bytes);

      expect(await paste(undefined)).toBe(true);
      expect(await thumbs(page).count()).toBe(0);
      expect(await paste([...green])).toBe(false);
      await thumbs(page).first().waitFor();
      expect(await thumbNames(page)).toEqual(['image.png']);

      await page.getByRole('button', { name: 'Send' }).click();
      await page.locator('[data-role="assistant"]', { hasText: 'reply to: pasted: [image] (+1 image)' }).waitFor();
      expect(posts).toEqual([{ userId: 'paste-user', content: 'pasted:', images: [{ data_base64: green.toString('base64') }] }]);
      expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: green }]);
      await context.close();
    },
    TIMEOUT,
  );
});

describe('chat attachment checks', () => {
  const facts = (name: string, type: string, size: number) => ({ name, type, size });
  const none = { slots: 0, bytes: 0 };

  it('takes the four image types up to the limits, and says why anything else is refused', () => {
    for (const type of ['image/png', 'image/jpeg', 'image/gif', 'image/webp']) expect(refuseFile(facts('a', type, 10), none)).toBeUndefined();
    expect(refuseFile(facts('a.bmp', 'image/bmp', 10), none)).toMatch(/“a\.bmp” is not attached: only png, jpeg, gif or webp images can be sent \(it is image\/bmp\)/);
    expect(refuseFile(facts('a', '', 10), none)).toMatch(/can be sent\.$/);
    expect(refuseFile(facts('a.png', 'image/png', MAX_TOTAL_BYTES), none)).toBeUndefined();
    expect(refuseFile(facts('a.png', 'image/png', MAX_TOTAL_BYTES + 1), none)).toMatch(/too large \(700 KB; at most 700 KB/);
    expect(refuseFile(facts('a.png', 'image/png', 10), { slots: MAX_ATTACHMENTS - 1, bytes: 0 })).toBeUndefined();
    expect(refuseFile(facts('a.png', 'image/png', 10), { slots: MAX_ATTACHMENTS, bytes: 0 })).toMatch(/at most 4 images/);
    expect(refuseFile(facts('a.png', 'image/png', 200 * 1024), { slots: 1, bytes: 600 * 1024 })).toMatch(/would total 800 KB \(at most 700 KB per message\)/);
  });

  it('keeps 4 images at the limit with their text inside the gateway\'s 1 MiB body limit', () => {
    const body = JSON.stringify({ userId: 'x'.repeat(128), content: '字'.repeat(20_000), images: [{ data_base64: 'A'.repeat(Math.ceil(MAX_TOTAL_BYTES / 3) * 4) }] });
    expect(Buffer.byteLength(body) + 4 * '{"data_base64":""},'.length).toBeLessThan(1_048_576);
  });

  it('reads the type from the bytes as the gateway does, and encodes base64 like Node', () => {
    const red = solidPng();
    expect(sniffImageType(red)).toBe('image/png');
    expect(sniffImageType(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(sniffImageType(Buffer.from('GIF89a'))).toBe('image/gif');
    expect(sniffImageType(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).toBe('image/webp');
    expect(sniffImageType(Buffer.from('RIFF\0\0\0\0WAVEfmt '))).toBeUndefined();
    expect(sniffImageType(Buffer.from([0x42, 0x4d, 0x3a, 0]))).toBeUndefined();
    expect(refuseBytes('x.png', Buffer.from('text'))).toMatch(/“x\.png” is not attached: its contents are not/);
    expect(refuseBytes('x.png', red)).toBeUndefined();
    const big = Buffer.concat([red, Buffer.alloc(100_000, 0xab)]);
    expect(toBase64(big)).toBe(big.toString('base64'));
    expect(formatBytes(512)).toBe('512 bytes');
    expect(formatBytes(1_100_000)).toBe('1.0 MB');
  });

  it('keeps the thumbnails of a message sent from this tab when the transcript is loaded again (stream reconnect)', () => {
    const images = [{ url: 'data:image/png;base64,AAAA', name: 'a.png' }];
    const sent: ChatAction[] = [
      { type: 'sending', key: 'live-1', text: '', at: 1, images },
      { type: 'accepted', key: 'live-1', messageId: '9' },
    ];
    let s = sent.reduce(chatReducer, emptyChat);
    expect(s.bubbles).toMatchObject([{ role: 'user', text: '', images }]);
    s = chatReducer(s, { type: 'loaded', turns: [{ role: 'user', text: '[image]', at: 1, messageId: '9', status: 'done' }, { role: 'user', text: 'other', at: 2, messageId: '10', status: 'done' }] });
    expect(s.bubbles).toHaveLength(2);
    expect(s.bubbles[0]).toMatchObject({ text: '[image]', images });
    expect((s.bubbles[1] as UserBubble).images).toBeUndefined();
  });
});
