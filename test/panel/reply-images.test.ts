import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bubbleImages,
  bubbleText,
  chatReducer,
  emptyChat,
  isStreaming,
  showableImageUrl,
  type AssistantBubble,
  type ChatAction,
} from '../../panel/src/pages/chat/chat-state.js';
import { CHROMIUM, chromiumMissing, launchBrowser, logIn, recordResponses, screenshot, type Recorded } from '../helpers/browser.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { webApiEntry } from '../helpers/workspace.js';

/**
 * Images in agents' answers, in a real Chromium against a real gateway: an echo agent that sends the
 * user's image back (its bytes, a data: URL in the feed) and an http agent that answers with a link
 * to an image on another host. The chat shows each as an image, live and after a reload; the message
 * detail shows each reply image as a thumbnail the gateway serves, and the link without its query.
 */

const TIMEOUT = 60_000;
const MIRROR = 'mirror.web_api';
const PAINTER = 'painter.web_api';
const SIGNATURE = 'sig-secret-77aa';
const CHART = solidPng(23, 9, [200, 40, 160]);

let t: TestGateway;
let base: string;
let browser: Browser;
/** The painter's service and, on the same server (another origin than the gateway), its images. */
let service: Server;
let imageBase: string;

// The callbacks passed to page.evaluate run in the browser; the repo's tsconfig has no DOM lib.
const naturalWidth = (img: Locator) => img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth);

describe('panel: images in replies', () => {
  beforeAll(async () => {
    if (chromiumMissing()) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install chromium) or point COCOCAT_CHROMIUM at one`);
    }
    service = createServer((req, res) => {
      if (req.method === 'GET' && req.url?.startsWith('/img/chart.png')) return res.writeHead(200, { 'content-type': 'image/png' }).end(CHART);
      req.resume().on('end', () => {
        const answer = { reply: 'Here is the chart.', images: [{ url: `${imageBase}/img/chart.png?X-Sig=${SIGNATURE}`, alt: 'the chart' }] };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    imageBase = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
    // test/global-setup.ts has built the production bundle the gateway serves at `/`.
    t = await startTestGateway({
      agents: {
        mirror: { profile: { provider: 'echo', images: true }, entries: [webApiEntry()] },
        painter: { profile: { provider: 'http', url: `${imageBase}/agent` }, entries: [webApiEntry()] },
      },
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    await t.until(() => [MIRROR, PAINTER].every((k) => t.gateway.keeper.statusOf(k)?.state === 'running'));
    browser = await launchBrowser();
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await new Promise<void>((r) => (service ? service.close(() => r()) : r()));
  });

  interface Panel {
    context: BrowserContext;
    page: Page;
    responses: Recorded[];
  }

  async function openPanel(): Promise<Panel> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const responses = recordResponses(page);
    await logIn(page, base, ADMIN_TOKEN);
    return { context, page, responses };
  }

  /** A message's detail in a page of its own (same session), its answers recorded with the chat's. */
  async function openMessage(context: BrowserContext, responses: Recorded[], messageId: string): Promise<Page> {
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('response', (res) => void res.text().then((body) => responses.push({ url: res.url(), status: res.status(), body }), () => {}));
    await page.goto(`${base}/#/messages?id=${messageId}`);
    return page;
  }

  const openChat = (page: Page, entry: string, user: string) => page.goto(`${base}/#/chat?entry=${encodeURIComponent(entry)}&user=${user}`);

  it(
    "shows the echoed image in the chat as it arrives and after a reload, and in the message's replies from the gateway",
    async () => {
      const { context, page, responses } = await openPanel();
      const png = solidPng(31, 7, [10, 160, 90]);
      await openChat(page, MIRROR, 'ann');
      await page.getByText('No messages yet.').waitFor();
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByRole('button', { name: 'Attach image' }).click()]);
      await chooser.setFiles([{ name: 'green.png', mimeType: 'image/png', buffer: png }]);
      await page.getByLabel('Message').fill('mirror this');
      await page.getByRole('button', { name: 'Send' }).click();

      // Live, over the reply stream: the text, then the image, in one bubble.
      const bubble = page.locator('[data-role="assistant"]', { hasText: 'mirror this [image]' });
      const echoed = bubble.getByRole('img', { name: 'Image from the agent' });
      await echoed.waitFor();
      await expect.poll(() => naturalWidth(echoed)).toBe(31);
      expect(await echoed.getAttribute('src')).toBe(`data:image/png;base64,${png.toString('base64')}`);
      await screenshot(page, 'chat-reply-image');

      // From the transcript.
      await page.reload();
      const reloaded = page.locator('[data-role="assistant"]', { hasText: 'mirror this [image]' }).getByRole('img', { name: 'Image from the agent' });
      await reloaded.waitFor();
      await expect.poll(() => naturalWidth(reloaded)).toBe(31);
      expect(await page.locator('[data-role="assistant"]').count()).toBe(1);

      // The message's replies: the image chunk as a thumbnail served by the gateway, with its type and size.
      const messageId = await page.locator('[data-role="user"]').getAttribute('data-message-id');
      const { json: detail } = await t.admin('GET', `/messages/${messageId}`);
      const imageReply = detail.replies.find((r: { image?: unknown }) => r.image);
      // Leaving the chat for the message stays there (the chat once put its own address back).
      await page.goto(`${base}/#/messages?id=${messageId}`);
      await page.locator(`.msg-reply[data-reply-id="${imageReply.id}"]`).waitFor();
      await new Promise((r) => setTimeout(r, 300));
      expect(new URL(page.url()).hash).toBe(`#/messages?id=${messageId}`);
      const messages = await openMessage(context, responses, messageId!);
      const thumb = messages.locator(`.msg-reply[data-reply-id="${imageReply.id}"] img`);
      await thumb.waitFor();
      expect(await thumb.getAttribute('src')).toBe(`/api/admin/messages/${messageId}/replies/${imageReply.id}/image`);
      expect(await thumb.getAttribute('loading')).toBe('lazy');
      await expect.poll(() => naturalWidth(thumb)).toBe(31);
      expect(await messages.locator(`.msg-reply[data-reply-id="${imageReply.id}"]`).innerText()).toContain(`image/png · ${png.length} bytes`);
      expect(await messages.locator('.msg-media-missing').count()).toBe(0);
      await screenshot(messages, 'message-reply-image');

      const foreign = responses.filter((r) => !r.url.startsWith(`${base}/`) && !r.url.startsWith('data:'));
      expect(foreign.map((r) => r.url)).toEqual([]);
      // No answer carried the image's base64 but the chat's own feed and transcript.
      const leaked = responses.filter((r) => r.url.includes('/api/admin/messages') && r.body.includes(png.toString('base64').slice(8, 40)));
      expect(leaked.map((r) => r.url)).toEqual([]);
      await context.close();
    },
    TIMEOUT,
  );

  it(
    "shows an image the agent linked to from its host in the chat, and through the gateway, without the link's query, in the message",
    async () => {
      const { context, page, responses } = await openPanel();
      await openChat(page, PAINTER, 'bo');
      await page.getByText('No messages yet.').waitFor();
      await page.getByLabel('Message').fill('draw me a chart');
      await page.getByRole('button', { name: 'Send' }).click();

      const chart = page.locator('[data-role="assistant"]', { hasText: 'Here is the chart.' }).getByRole('img', { name: 'the chart' });
      await chart.waitFor();
      // The page's CSP lets an agent's image host through for images: it is drawn, not blocked.
      await expect.poll(() => naturalWidth(chart)).toBe(23);
      expect(await chart.getAttribute('src')).toBe(`${imageBase}/img/chart.png?X-Sig=${SIGNATURE}`);
      expect(responses.filter((r) => !r.url.startsWith(`${base}/`)).map((r) => r.url)).toEqual([`${imageBase}/img/chart.png?X-Sig=${SIGNATURE}`]);

      const messageId = await page.locator('[data-role="user"]').getAttribute('data-message-id');
      const messages = await openMessage(context, responses, messageId!);
      const reply = messages.locator('.msg-reply', { has: messages.getByRole('img', { name: 'the chart' }) });
      const thumb = reply.getByRole('img', { name: 'the chart' });
      await thumb.waitFor();
      expect(await thumb.getAttribute('src')).toMatch(new RegExp(`^/api/admin/messages/${messageId}/replies/\\d+/image$`));
      await expect.poll(() => naturalWidth(thumb)).toBe(23);
      expect(await reply.innerText()).toContain(`${imageBase}/img/chart.png?…`);
      expect(await messages.locator('.msg-detail').innerText()).not.toContain(SIGNATURE);
      const detailAnswers = responses.filter((r) => r.url.startsWith(`${base}/api/admin/messages/`) && r.body.includes(SIGNATURE));
      expect(detailAnswers.map((r) => r.url)).toEqual([]);
      await context.close();
    },
    TIMEOUT,
  );
});

describe('chat transcript state: image chunks', () => {
  const run = (actions: ChatAction[]) => actions.reduce(chatReducer, emptyChat);
  const reply = (seq: number, index: number, count: number, text: string, image?: string): ChatAction => ({
    type: 'reply',
    event: { seq, messageId: '7', text, format: 'text', chunk: { index, count }, ...(image ? { image: { url: image } } : {}) },
  });

  it('keeps an image chunk in its place, out of the text, with its alt text', () => {
    const s = run([reply(1, 0, 3, 'look'), reply(3, 2, 3, '', 'data:image/png;base64,BBBB')]);
    const bubble = s.bubbles[0] as AssistantBubble;
    expect(isStreaming(bubble)).toBe(true);
    const done = chatReducer(s, reply(2, 1, 3, 'a cat', 'https://cdn.example/cat.png')).bubbles[0] as AssistantBubble;
    expect(isStreaming(done)).toBe(false);
    expect(bubbleText(done)).toBe('look');
    expect(bubbleImages(done)).toEqual([
      { url: 'https://cdn.example/cat.png', alt: 'a cat' },
      { url: 'data:image/png;base64,BBBB', alt: '' },
    ]);
  });

  it('builds the same bubble from the transcript, where an image turn carries its URL', () => {
    const s = run([
      {
        type: 'loaded',
        lastSeq: 3,
        turns: [
          { role: 'user', text: 'q', at: 1, messageId: '7', status: 'done' },
          { role: 'assistant', text: 'look', at: 2, messageId: '7', seq: 2 },
          { role: 'assistant', text: 'a cat', at: 2, messageId: '7', seq: 3, image: { url: 'https://cdn.example/cat.png' } },
        ],
      },
      // Replayed after the stream reconnects: dropped.
      reply(3, 1, 2, 'a cat', 'https://cdn.example/cat.png'),
    ]);
    expect(s.bubbles).toHaveLength(2);
    const bubble = s.bubbles[1] as AssistantBubble;
    expect(bubbleText(bubble)).toBe('look');
    expect(bubbleImages(bubble)).toEqual([{ url: 'https://cdn.example/cat.png', alt: 'a cat' }]);
  });

  it('replaces the text written so far with an image-only answer', () => {
    let s = run([{ type: 'partial', event: { messageId: '7', text: 'drawing…' }, at: 1 }]);
    expect(bubbleImages(s.bubbles[0] as AssistantBubble)).toEqual([]);
    s = chatReducer(s, reply(4, 0, 1, '', 'data:image/gif;base64,R0lG'));
    const bubble = s.bubbles[0] as AssistantBubble;
    expect(bubbleText(bubble)).toBe('');
    expect(bubbleImages(bubble)).toEqual([{ url: 'data:image/gif;base64,R0lG', alt: '' }]);
  });

  it('shows only image data: URLs and http(s) links', () => {
    for (const ok of ['data:image/png;base64,AA', 'data:image/jpeg;base64,AA', 'https://x.example/a.png', 'http://127.0.0.1:9/a.png']) expect(showableImageUrl(ok)).toBe(ok);
    for (const bad of ['javascript:alert(1)', 'data:text/html;base64,PHA+', 'data:image/svg+xml;base64,PHN2Zz4=', 'file:///etc/passwd', '//host/a.png', 'ftp://x/a.png']) {
      expect(showableImageUrl(bad)).toBeUndefined();
    }
  });
});
