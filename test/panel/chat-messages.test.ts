import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { beingWritten, bubbleText, chatReducer, emptyChat, isStreaming, type AssistantBubble, type ChatAction, type ChatState } from '../../panel/src/pages/chat/chat-state.js';
import { startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { CHROMIUM, chromiumMissing, launchBrowser, logIn, recordResponses, screenshot, type Recorded } from '../helpers/browser.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { webApiEntry } from '../helpers/workspace.js';

/**
 * The panel's Chat and Messages pages in a real Chromium against a real (listening) gateway:
 * chat with an echo agent through its web_api entry, reply streamed over SSE, transcript kept
 * across a reload; a streaming openai agent (on the fake model, word by word) whose reply shows
 * while it is written; then the message log, a message's timeline, and a real dead letter retried.
 *
 * The dead letter is produced through the gateway, not the store: an http agent that answers only
 * when told to, its web_api entry disabled while it thinks, and outbox_max_age_ms at 3 s (short,
 * yet long enough for every healthy delivery here), so the finished reply cannot be delivered in
 * time and is dead-lettered (outbound).
 */

const TIMEOUT = 60_000;
const ECHO = 'helper.web_api';
const SLOW = 'slowpoke.web_api';
const WRITER = 'writer.web_api';
/** What the fake model answers the writer agent, streamed a word every WORD_MS. */
const STREAMED = 'Streaming replies show up in the panel one word at a time.';
const WORD_MS = 150;
/** Markdown with hostile bits: the chat must render the bold and show the rest as text. */
const LATE_REPLY = 'late **answer** from slowpoke\n\n<img src=x onerror="alert(1)"> [click](javascript:alert(1)) `code`';

let t: TestGateway;
let base: string;
let browser: Browser;
let agentServer: Server;
let llm: FakeLlm;
/** Releases the held http-agent request (set once it arrived). */
let answerAgent: (() => void) | undefined;
let agentCalled: Promise<void>;

describe('panel in Chromium', () => {
  beforeAll(async () => {
    if (chromiumMissing()) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install chromium) or point COCOCAT_CHROMIUM at one`);
    }
    // test/global-setup.ts has built the production bundle the gateway serves at `/`.
    // The slow agent: holds each request until the test calls answerAgent().
    let called!: () => void;
    agentCalled = new Promise<void>((r) => (called = r));
    agentServer = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        answerAgent = () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ reply: LATE_REPLY, format: 'markdown' }));
        };
        called();
      });
    });
    await new Promise<void>((r) => agentServer.listen(0, '127.0.0.1', r));
    const agentUrl = `http://127.0.0.1:${(agentServer.address() as AddressInfo).port}/agent`;
    llm = await startFakeLlm({ pieceDelayMs: WORD_MS, reply: () => STREAMED });

    t = await startTestGateway({
      settings: { limits: { outbox_max_age_ms: 3_000 } },
      agents: {
        helper: { profile: { provider: 'echo', prefix: 'echo: ' }, entries: [webApiEntry()] },
        slowpoke: { profile: { provider: 'http', url: agentUrl, timeout_ms: 30_000, retries: 0 }, entries: [webApiEntry()] },
        // `stream` is on by default: with the panel's stream open, the reply shows while it is written.
        writer: { profile: { provider: 'openai', model: 'fake-model', base_url: llm.url, api_key: 'k' }, entries: [webApiEntry()] },
      },
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    await t.until(() => [ECHO, SLOW, WRITER].every((k) => t.gateway.keeper.statusOf(k)?.state === 'running'));
    browser = await launchBrowser();
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await new Promise<void>((r) => (agentServer ? agentServer.close(() => r()) : r()));
    await llm?.close();
  });

  interface Panel {
    context: BrowserContext;
    page: Page;
    responses: Recorded[];
  }

  /** A fresh browser context, logged in through the login page. */
  async function openPanel(viewport = { width: 1280, height: 900 }): Promise<Panel> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const responses = recordResponses(page);
    await logIn(page, base, ADMIN_TOKEN);
    return { context, page, responses };
  }

  /** Accepts every confirm() the page shows; the list holds their texts. */
  function acceptDialogs(page: Page): string[] {
    const texts: string[] = [];
    page.on('dialog', (d) => {
      texts.push(d.message());
      void d.accept();
    });
    return texts;
  }

  /** The panel, logged in, showing one message's detail. */
  async function openMessage(id: string): Promise<Panel> {
    const panel = await openPanel();
    await panel.page.goto(`${base}/#/messages?id=${id}`);
    return panel;
  }

  async function visible(locator: Locator, timeout = 15_000): Promise<Locator> {
    await locator.first().waitFor({ state: 'visible', timeout });
    return locator;
  }

  /** Every response the page got came from the gateway itself. */
  function expectOnlyOwnOrigin(responses: Recorded[]): void {
    const foreign = responses.filter((r) => !r.url.startsWith(`${base}/`) && !r.url.startsWith('data:'));
    expect(foreign.map((r) => r.url)).toEqual([]);
  }

  /** The data-stage of each timeline step, in order. */
  async function stagesOf(timeline: Locator): Promise<(string | null)[]> {
    return Promise.all((await timeline.locator('li').all()).map((li) => li.getAttribute('data-stage')));
  }

  async function expectNoSideScroll(page: Page): Promise<void> {
    // globalThis: this file is type-checked without the DOM library.
    const overflow = await page.evaluate(() => {
      const g = globalThis as unknown as { innerWidth: number; document: { documentElement: { scrollWidth: number } } };
      return g.document.documentElement.scrollWidth - g.innerWidth;
    });
    expect(overflow, 'page wider than the viewport').toBeLessThanOrEqual(0);
  }

  describe('panel: chat', () => {
    it(
      'sends a message, streams the echo reply into an assistant bubble, lists the conversation and keeps the transcript after a reload',
      async () => {
        const { context, page, responses } = await openPanel();
        await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Chat' }).click();
        await page.getByLabel('Entry').selectOption(ECHO);
        await page.waitForURL((url) => url.hash.includes(`entry=${encodeURIComponent(ECHO)}`));
        expect(await page.getByLabel('User id').inputValue()).toBe('panel-user');

        const box = page.getByLabel('Message');
        await box.fill('hello panel');
        await box.press('Enter');
        expect(await box.inputValue()).toBe('');
        await visible(page.locator('[data-role="user"]', { hasText: 'hello panel' }));
        const reply = await visible(page.locator('[data-role="assistant"]', { hasText: 'echo: hello panel' }));
        expect(await reply.count()).toBe(1);
        // The reply came over the admin SSE stream, not by polling the transcript.
        expect(responses.some((r) => r.url.startsWith(`${base}/api/admin/chat/${encodeURIComponent(ECHO)}/events?`))).toBe(true);

        const conversations = page.getByRole('navigation', { name: 'Conversations' });
        await visible(conversations.getByRole('link', { name: /panel-user/ }));
        await visible(conversations.getByText('hello panel'));

        await page.reload();
        await visible(page.locator('[data-role="user"]', { hasText: 'hello panel' }));
        await visible(page.locator('[data-role="assistant"]', { hasText: 'echo: hello panel' }));
        expect(await page.locator('[data-role="assistant"]').count()).toBe(1);
        expect(await page.getByText('waiting for the agent…').count()).toBe(0);

        // Shift+Enter is a new line, not a send.
        await box.fill('line one');
        await box.press('Shift+Enter');
        await box.type('line two');
        expect(await box.inputValue()).toBe('line one\nline two');
        await box.fill('');

        await screenshot(page, 'chat');
        await page.setViewportSize({ width: 390, height: 844 });
        await visible(page.locator('[data-role="assistant"]', { hasText: 'echo: hello panel' }));
        await expectNoSideScroll(page);
        await screenshot(page, 'chat-phone');

        expectOnlyOwnOrigin(responses);
        await context.close();
      },
      TIMEOUT,
    );

    it(
      'shows a streaming agent\'s reply while it is written (partial, busy), then the reply in its place, in one bubble',
      async () => {
        const { context, page, responses } = await openPanel();
        await page.goto(`${base}/#/chat?entry=${encodeURIComponent(WRITER)}&user=stream-user`);
        await visible(page.getByText('No messages yet.'));
        // Partials go to the streams open when the agent starts: send once the page's stream is live.
        await visible(page.locator('.chat-live-on'));

        // Every state the assistant bubbles go through, recorded in the page as React renders them.
        await page.evaluate(() => {
          type El = { getAttribute(n: string): string | null; querySelector(s: string): El | null; querySelectorAll(s: string): El[]; textContent: string | null };
          const g = globalThis as unknown as {
            document: El;
            MutationObserver: new (cb: () => void) => { observe(target: El, options: Record<string, boolean>): void };
            bubbleLog: { id: string | null; state: string | null; busy: string | null; text: string; waitingNote: boolean }[];
          };
          g.bubbleLog = [];
          const transcript = g.document.querySelector('[role="log"]')!;
          let last = '';
          const record = () => {
            for (const b of transcript.querySelectorAll('[data-role="assistant"]')) {
              const entry = {
                id: b.getAttribute('data-message-id'),
                state: b.getAttribute('data-state'),
                busy: b.getAttribute('aria-busy'),
                text: b.querySelector('.chat-md, .chat-text')?.textContent ?? '',
                waitingNote: (transcript.textContent ?? '').includes('waiting for the agent'),
              };
              const key = JSON.stringify(entry);
              if (key !== last) g.bubbleLog.push(entry);
              last = key;
            }
          };
          new g.MutationObserver(record).observe(transcript, { childList: true, subtree: true, characterData: true, attributes: true });
        });

        const box = page.getByLabel('Message');
        await box.fill('tell me about streaming');
        await box.press('Enter');
        // While the model writes (about 1.5 s) the bubble is marked partial (its states are checked in the log below).
        await visible(page.locator('[data-role="assistant"][data-state="partial"]'));

        const question = page.locator('[data-role="user"]', { hasText: 'tell me about streaming' });
        await t.until(async () => (await question.getAttribute('data-message-id')) !== null);
        const messageId = (await question.getAttribute('data-message-id'))!;
        const done = page.locator(`[data-role="assistant"][data-message-id="${messageId}"]:not([data-state])`, { hasText: STREAMED });
        await visible(done);
        expect(await done.getAttribute('aria-busy')).toBe('false');
        expect(await done.locator('.chat-md').textContent()).toBe(STREAMED);
        expect(await page.locator('[data-role="assistant"]').count()).toBe(1);
        expect(await page.locator(`[data-role="assistant"][data-message-id="${messageId}"]`).count()).toBe(1);
        expect(await page.getByText('waiting for the agent…').count()).toBe(0);
        expect(await page.getByText('writing…').count()).toBe(0);

        type Logged = { id: string | null; state: string | null; busy: string | null; text: string; waitingNote: boolean };
        const log = await page.evaluate(() => (globalThis as unknown as { bubbleLog: Logged[] }).bubbleLog);
        expect(log.length).toBeGreaterThan(0);
        expect(log.every((e) => e.id === messageId), 'only the one message\'s bubble').toBe(true);
        const partials = log.filter((e) => e.state === 'partial');
        const firstFinal = log.findIndex((e) => e.state === null);
        expect(partials.length, 'partial text shown before the reply').toBeGreaterThan(0);
        expect(firstFinal).toBeGreaterThan(log.indexOf(partials[0]!));
        // Partials come before the reply, never after it.
        expect(log.slice(firstFinal).every((e) => e.state === null && e.text === STREAMED && e.busy === 'false')).toBe(true);
        for (const p of partials) {
          expect(p.busy).toBe('true');
          expect(p.text.trim()).not.toBe('');
          // The last word may show before the reply is stored: a prefix, the whole text at most.
          expect(STREAMED.startsWith(p.text), `"${p.text}" is a prefix of the reply`).toBe(true);
          // The answer is visibly on its way: the question's "waiting" note gives way to it.
          expect(p.waitingNote).toBe(false);
        }
        // Text short of the reply was on screen, and it grew as it was written (the panel's stream is
        // paced at 100 ms, the model's words come 150 ms apart).
        expect(partials.some((p) => p.text.length < STREAMED.length), 'a strict prefix shown').toBe(true);
        expect(new Set(partials.map((p) => p.text)).size).toBeGreaterThan(1);
        // The model was asked to stream (someone was watching).
        expect(llm.requests.at(-1)?.body.stream).toBe(true);

        await screenshot(page, 'chat-streamed');
        expectOnlyOwnOrigin(responses);
        await context.close();
      },
      TIMEOUT,
    );
  });

  describe('panel: messages', () => {
    it(
      'filters the log by entry, shows a message timeline received → sent, and retries a dead letter out of the dead list',
      async () => {
        // A real outbound dead letter: the entry is disabled while the agent thinks, so the reply expires undelivered.
        const accepted = await t.chat(SLOW, { userId: 'bob', content: 'are you there?' });
        expect(accepted.status).toBe(202);
        const deadMessageId = String(accepted.json.messageId);
        await agentCalled;
        expect((await t.admin('POST', '/agents/slowpoke/entries/web_api/disable')).status).toBe(200);
        await t.until(() => t.gateway.keeper.statusOf(SLOW)?.state !== 'running');
        answerAgent!();
        const dead = await t.until(async () => {
          const res = await t.admin('GET', '/dead-letters?kind=outbound');
          return res.json.deadLetters.find((d: { replyTo?: string }) => d.replyTo === deadMessageId) as { id: string } | undefined;
        }, 15_000);
        expect((await t.admin('POST', '/agents/slowpoke/entries/web_api/enable')).status).toBe(200);
        await t.until(() => t.gateway.keeper.statusOf(SLOW)?.state === 'running');

        const { context, page, responses } = await openPanel();
        await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Messages' }).click();
        await visible(page.locator('.msg-row'));
        // Unfiltered, both entries' messages are listed.
        await visible(page.locator('.msg-row', { hasText: 'are you there?' }));

        await page.getByRole('form', { name: 'Filter messages' }).getByLabel('Entry').selectOption(ECHO);
        await page.waitForURL((url) => url.hash.includes(`entry=${encodeURIComponent(ECHO)}`));
        await page.locator('.msg-row', { hasText: 'are you there?' }).waitFor({ state: 'detached', timeout: 15_000 });
        const row = await visible(page.locator('.msg-row', { hasText: 'hello panel' }));
        expect(await row.count()).toBe(1);
        expect(await row.locator('.msg-badge').innerText()).toBe('done');
        // "Export" downloads what the filters show, as JSON Lines, with the session cookie.
        const exportLink = page.getByRole('form', { name: 'Filter messages' }).getByRole('link', { name: 'Export' });
        const exportHref = await exportLink.getAttribute('href');
        expect(exportHref).toBe(`/api/admin/messages/export?entry=${encodeURIComponent(ECHO)}`);
        const exported = await page.request.get(`${base}${exportHref}`);
        expect(exported.status()).toBe(200);
        const exportedLines = (await exported.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { entryKey: string; content: string });
        expect(exportedLines.length).toBeGreaterThan(0);
        expect(exportedLines.every((m) => m.entryKey === ECHO)).toBe(true);
        expect(exportedLines.map((m) => m.content)).toContain('hello panel');

        await row.getByRole('link').click();
        const timeline = await visible(page.getByRole('list', { name: 'Timeline' }));
        await visible(timeline.locator('[data-stage="sent"]'));
        const stages = await stagesOf(timeline);
        expect(stages[0]).toBe('received');
        expect(stages).toContain('replied');
        expect(stages.indexOf('received')).toBeLessThan(stages.indexOf('replied'));
        expect(stages.indexOf('replied')).toBeLessThanOrEqual(stages.indexOf('sent'));
        expect(await timeline.locator('[data-stage="received"]').innerText()).toContain('Received');
        expect(await timeline.locator('[data-stage="sent"]').innerText()).toMatch(/Sent[\s\S]*\+\d/);
        await visible(page.locator('.msg-reply', { hasText: 'echo: hello panel' }));
        expect(new URLSearchParams(page.url().split('?')[1]).get('id')).toMatch(/^\d+$/);
        await screenshot(page, 'messages');

        await page.setViewportSize({ width: 390, height: 844 });
        await expectNoSideScroll(page);
        await screenshot(page, 'messages-phone');
        await page.setViewportSize({ width: 1280, height: 900 });

        // Dead letters: the expired reply is listed; Retry puts it back in line and it is delivered.
        await page.getByRole('link', { name: 'Dead letters' }).click();
        await page.getByRole('form', { name: 'Filter dead letters' }).getByLabel('Entry').selectOption('');
        const item = await visible(page.locator(`[data-dead="outbound/${dead.id}"]`));
        expect(await item.innerText()).toContain('late **answer** from slowpoke');
        expect(await item.innerText()).toContain('COCO_ERR_OUTBOX_EXPIRED');
        await screenshot(page, 'dead-letters');
        await item.getByRole('button', { name: /^Retry/ }).click();
        await page.locator(`[data-dead="outbound/${dead.id}"]`).waitFor({ state: 'detached', timeout: 15_000 });
        await visible(page.getByRole('status').filter({ hasText: `Retried outbound #${dead.id}` }));

        // Its message now shows the reply sent, after the dead-letter and retry stages.
        await item.page().goto(`${base}/#/messages?id=${deadMessageId}`);
        const reply = await visible(page.locator('.msg-reply', { hasText: 'late **answer** from slowpoke' }));
        await visible(reply.locator('.msg-badge', { hasText: 'sent' }));
        const deadStages = await stagesOf(page.getByRole('list', { name: 'Timeline' }));
        expect(deadStages.indexOf('send_dead')).toBeGreaterThan(0);
        expect(deadStages.indexOf('send_revived')).toBeGreaterThan(deadStages.indexOf('send_dead'));
        expect(deadStages.lastIndexOf('sent')).toBeGreaterThan(deadStages.indexOf('send_revived'));
        expect((await t.admin('GET', '/dead-letters')).json.deadLetters).toEqual([]);

        // The delivered reply in bob's chat: markdown rendered, nothing in it turned into markup.
        await page.goto(`${base}/#/chat?entry=${encodeURIComponent(SLOW)}&user=bob`);
        const bubble = await visible(page.locator('[data-role="assistant"]', { hasText: 'from slowpoke' }));
        expect(await bubble.locator('strong').innerText()).toBe('answer');
        expect(await bubble.locator('code').innerText()).toBe('code');
        expect(await bubble.innerText()).toContain('<img src=x onerror="alert(1)">');
        expect(await bubble.locator('img').count()).toBe(0);
        expect(await bubble.locator('a').count()).toBe(0);

        expectOnlyOwnOrigin(responses);
        await context.close();
      },
      TIMEOUT,
    );

    it(
      'answers a message by hand from its detail: the reply goes out like an answer and shows among the replies',
      async () => {
        const sent = await t.chat(ECHO, { userId: 'gus', content: 'is a person there?' }, { wait: true });
        const { context, page } = await openMessage(sent.json.messageId);
        const send = await visible(page.getByRole('button', { name: 'Send reply' }));
        expect(await send.isDisabled()).toBe(true);
        await page.getByLabel('Reply by hand, as the bot').fill('Yes, Anna from support here.');
        await send.click();
        await visible(page.locator('.msg-reply').filter({ hasText: 'Yes, Anna from support here.' }).filter({ hasText: 'sent' }));
        expect(await page.getByLabel('Reply by hand, as the bot').inputValue()).toBe('');
        const feed = await t.gateway.store.readFeed(ECHO, 'gus', 0, 10);
        expect(feed.map((f) => (f.payload as { text?: string }).text)).toEqual(['echo: is a person there?', 'Yes, Anna from support here.']);

        // An image pasted or attached goes with the next reply, after its text.
        await page.locator('.msg-operator-reply input[type=file]').setInputFiles({ name: 'steps.png', mimeType: 'image/png', buffer: solidPng(6, 6, [10, 200, 10]) });
        await visible(page.getByRole('list', { name: 'Attached images' }).getByRole('img', { name: 'steps.png' }));
        await page.getByLabel('Reply by hand, as the bot').fill('Like this:');
        await send.click();
        await visible(page.locator('.msg-reply').filter({ hasText: 'Like this:' }).filter({ hasText: 'sent' }));
        await t.until(async () => (await t.gateway.store.readFeed(ECHO, 'gus', 0, 10)).length === 4);
        const withImage = await t.gateway.store.readFeed(ECHO, 'gus', 0, 10);
        expect((withImage[3]!.payload as { image?: { url: string } }).image?.url).toBe(`data:image/png;base64,${solidPng(6, 6, [10, 200, 10]).toString('base64')}`);
        expect(await page.getByRole('list', { name: 'Attached images' }).count()).toBe(0);

        // The conversation so far shows who wrote what, the operator's reply marked as such.
        await page.getByText('Conversation so far').click();
        const turns = page.getByRole('list', { name: 'Conversation' }).locator('li');
        await visible(turns.filter({ hasText: 'Yes, Anna from support here.' }));
        const rows = await turns.evaluateAll((lis) => lis.map((li) => `${li.getAttribute('data-role')}: ${li.querySelector('.msg-turn-text')?.textContent}`));
        expect(rows).toEqual([
          'user: is a person there?',
          'agent: echo: is a person there?',
          'operator: Yes, Anna from support here.',
          'operator: Like this:',
          'operator: [image]',
        ]);
        await context.close();
      },
      TIMEOUT,
    );

    it(
      'hands a conversation to a person from a message and gives it back: meanwhile the agent does not answer it',
      async () => {
        const first = await t.chat(ECHO, { userId: 'hank', content: 'a person, please' }, { wait: true });
        const { context, page } = await openMessage(first.json.messageId);
        await visible(page.getByRole('status').filter({ hasText: 'The agent answers this conversation.' }));
        await page.getByRole('button', { name: 'Hand to a person for an hour' }).click();
        await visible(page.getByRole('status').filter({ hasText: /^With a person until [\d:.]+ \(taken by admin\): the agent does not answer/ }));
        const until = (await t.admin('GET', `/entries/${ECHO}/handoffs/hank`)).json.until as number;
        expect(until - Date.now()).toBeGreaterThan(59 * 60_000);

        const meanwhile = await t.chat(ECHO, { userId: 'hank', content: 'hello?' });
        const left = await t.until(async () => {
          const d = await t.gateway.store.getMessage(meanwhile.json.messageId);
          return d?.status === 'done' && d;
        });
        expect(left.replies).toEqual([]);

        // The log's list of conversations with a person shows hank's newest message, waiting for an answer.
        await page.goto(`${base}/#/messages?user=hank`);
        await page.reload();
        const strip = await visible(page.getByRole('region', { name: 'Conversations with a person' }));
        // Every page's navigation, and the tab's title, say that someone waits for a person.
        await visible(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Messages 1 waiting for a person' }));
        expect(await page.title()).toBe('(1) CocoCat');
        const row = strip.locator('li').filter({ hasText: 'hank' });
        await visible(row.filter({ hasText: 'waiting for a reply' }));
        await visible(row.filter({ hasText: /taken by admin, until/ }));
        await row.getByRole('link', { name: 'Open the newest message of hank' }).click();
        await visible(page.getByRole('status').filter({ hasText: /^With a person until/ }));
        expect(new URL(page.url()).hash).toContain(`id=${meanwhile.json.messageId}`);

        await page.getByRole('button', { name: 'Give back to the agent' }).click();
        await visible(page.getByRole('status').filter({ hasText: 'The agent answers this conversation.' }));
        await page.reload();
        await visible(page.getByRole('region', { name: 'Message log' }));
        expect(await page.getByRole('region', { name: 'Conversations with a person' }).count()).toBe(0);
        expect(await page.title()).toBe('CocoCat');
        const after = await t.chat(ECHO, { userId: 'hank', content: 'back' }, { wait: true });
        expect(after.json.reply.text).toBe('echo: back');
        await context.close();
      },
      TIMEOUT,
    );

    it(
      'blocks a sender from the message detail, after a confirmation, and allows them again from a refused message',
      async () => {
        const sent = await t.chat(ECHO, { userId: 'troll', content: 'spam spam spam' }, { wait: true });
        expect(sent.status).toBe(200);
        const { context, page } = await openMessage(sent.json.messageId);
        const dialogs = acceptDialogs(page);
        await (await visible(page.getByRole('button', { name: 'Block sender' }))).click();
        await visible(page.getByRole('status').filter({ hasText: 'Blocked for agent helper' }));
        expect(dialogs).toEqual(['Stop answering troll? Their messages will still be stored and shown here.']);
        expect((await t.admin('GET', '/agents/helper')).json.profile.access).toEqual({ block_users: ['troll'] });

        const again = await t.chat(ECHO, { userId: 'troll', content: 'more spam' });
        const detail = await t.until(async () => {
          const d = await t.gateway.store.getMessage(again.json.messageId);
          return d?.status === 'done' && d;
        });
        expect(detail.timeline.find((e) => e.stage === 'replied')?.detail).toBe('not answered: user troll is blocked; no reply');

        // The refused message says why, and offers to allow the sender again.
        await page.goto(`${base}/#/messages?id=${again.json.messageId}`);
        await visible(page.getByText('Not answered: user troll is blocked.'));
        expect(await page.getByRole('button', { name: 'Block sender' }).count()).toBe(0);
        await page.getByRole('button', { name: 'Allow sender' }).click();
        await visible(page.getByRole('status').filter({ hasText: 'Agent helper: took troll off block_users.' }));
        expect((await t.admin('GET', '/agents/helper')).json.profile.access).toEqual({ block_users: [] });
        expect((await t.chat(ECHO, { userId: 'troll', content: 'sorry' }, { wait: true })).json.reply.text).toBe('echo: sorry');
        await context.close();
      },
      TIMEOUT,
    );

    it(
      "forgets a user from a message's detail, after a confirmation, and goes back to the log",
      async () => {
        const sent = await t.chat(ECHO, { userId: 'zed', content: 'please forget me' }, { wait: true });
        const { context, page } = await openMessage(sent.json.messageId);
        const dialogs = acceptDialogs(page);
        await (await visible(page.getByRole('button', { name: 'Forget this user' }))).click();
        await t.until(() => !new URL(page.url()).hash.includes('id='));
        await visible(page.getByRole('region', { name: 'Message log' }));
        expect(dialogs).toEqual([`Delete everything stored of zed on ${ECHO}: their messages, the replies, and their direct conversation with the agent? This cannot be undone.`]);
        expect(await t.gateway.store.listMessages({ userId: 'zed' })).toEqual([]);
        expect(await page.locator(`[data-message-id="${sent.json.messageId}"]`).count()).toBe(0);
        await context.close();
      },
      TIMEOUT,
    );

    it(
      'shows the image a user sent as a thumbnail in the message detail, loaded from the gateway with the session cookie',
      async () => {
        const png = solidPng(37, 21, [30, 120, 220]);
        const sent = await t.chat(ECHO, { userId: 'ivy', content: 'look at this', images: [{ data_base64: png.toString('base64') }] }, { wait: true });
        expect(sent.status).toBe(200);

        const { context, page, responses } = await openMessage(sent.json.messageId);
        const thumb = await visible(page.getByRole('list', { name: 'Media' }).locator('img'));
        await page.waitForFunction((img) => (img as unknown as { complete: boolean }).complete, await thumb.elementHandle());
        const natural = await thumb.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth);
        expect(natural).toBe(37);
        expect(await thumb.getAttribute('src')).toBe(`/api/admin/messages/${sent.json.messageId}/media/0`);
        expect(await thumb.getAttribute('loading')).toBe('lazy');
        expect(await page.locator('.msg-media-missing').count()).toBe(0);
        expectOnlyOwnOrigin(responses);
        await context.close();
      },
      TIMEOUT,
    );

    it(
      "lists a stranger's pairing request with their code, and approves it: the stranger is told and answered from then on",
      async () => {
        const profile = (await t.admin('GET', '/agents/helper')).json.profile;
        expect((await t.admin('PUT', '/agents/helper', { provider: 'echo', prefix: 'echo: ', access: { pairing: {} } })).status).toBe(200);
        try {
          const asked = await t.chat(ECHO, { userId: 'nina', userName: 'Nina', content: "hi, it's Nina" }, { wait: true });
          const code = /code: (\S{4}-\S{4})/.exec(asked.json.reply.text)?.[1];
          expect(code).toBeDefined();

          const { context, page } = await openPanel();
          await page.goto(`${base}/#/messages`);
          const strip = await visible(page.getByRole('region', { name: 'Pairing requests' }));
          const row = strip.locator(`li[data-code="${code}"]`);
          await visible(row.filter({ hasText: 'Nina (nina)' }));
          // Every page's Messages link says that someone asks.
          const nav = page.getByRole('navigation', { name: 'Main' });
          await visible(nav.getByRole('link', { name: 'Messages 1 asking to talk' }));
          await visible(row.getByRole('link', { name: 'Open the message of Nina (nina)' }).filter({ hasText: "hi, it's Nina" }));
          await screenshot(page, 'pairing-requests');
          await row.getByRole('button', { name: `Approve ${code}` }).click();
          await visible(strip.getByRole('status').filter({ hasText: 'Approved Nina (nina), and told them so.' }));
          expect(await strip.locator('li').count()).toBe(0);
          await visible(nav.getByRole('link', { name: 'Messages', exact: true }));
          expect((await t.admin('GET', '/agents/helper')).json.profile.access.allow_users).toEqual(['nina']);
          const told = await t.until(async () => {
            const d = await t.gateway.store.getMessage(asked.json.messageId);
            return d?.replies.find((r) => r.text === 'You have been approved: send me your message again.' && r.status === 'sent');
          });
          expect(told).toBeDefined();
          expect((await t.chat(ECHO, { userId: 'nina', content: 'hello' }, { wait: true })).json.reply.text).toBe('echo: hello');

          // Finding her message by its words, in any case; the export takes the same filter.
          await page.reload();
          const filters = page.getByRole('form', { name: 'Filter messages' });
          await visible(page.locator('.msg-row', { hasText: 'spam spam spam' }));
          await filters.getByLabel('Text').fill("IT'S NINA");
          await filters.getByLabel('Text').press('Enter');
          await page.waitForURL((url) => url.hash.includes('text='));
          await page.locator('.msg-row', { hasText: 'spam spam spam' }).waitFor({ state: 'detached', timeout: 15_000 });
          expect(await page.locator('.msg-row').allInnerTexts()).toEqual([expect.stringContaining("hi, it's Nina")]);
          expect(await filters.getByRole('link', { name: 'Export' }).getAttribute('href')).toBe(`/api/admin/messages/export?${new URLSearchParams({ text: "IT'S NINA" })}`);
          await context.close();
        } finally {
          await t.admin('PUT', '/agents/helper', profile);
        }
      },
      TIMEOUT,
    );
  });
});

describe('chat transcript state', () => {
  const run = (actions: ChatAction[], from: ChatState = emptyChat) => actions.reduce(chatReducer, from);
  const reply = (seq: number, index: number, count: number, text: string, messageId = '7'): ChatAction => ({
    type: 'reply',
    event: { seq, messageId, text, format: 'text', chunk: { index, count } },
  });

  it('shows a sent message at once, then appends the chunks of its answer into one bubble as they come', () => {
    let s = run([{ type: 'sending', key: 'live-1', text: 'hi', at: 1 }, { type: 'accepted', key: 'live-1', messageId: '7' }]);
    expect(s.bubbles).toMatchObject([{ role: 'user', state: 'waiting', messageId: '7' }]);
    s = run([reply(10, 0, 2, 'first')], s);
    const streaming = s.bubbles[1] as AssistantBubble;
    expect(isStreaming(streaming)).toBe(true);
    expect(bubbleText(streaming)).toBe('first');
    s = run([reply(11, 1, 2, 'second'), reply(11, 1, 2, 'second')], s);
    expect(s.bubbles).toHaveLength(2);
    expect(bubbleText(s.bubbles[1]!)).toBe('first\nsecond');
    expect(isStreaming(s.bubbles[1] as AssistantBubble)).toBe(false);
    expect(s.bubbles[0]).toMatchObject({ state: 'done' });
    expect(s.lastSeq).toBe(11);
  });

  it('merges the transcript\'s per-chunk turns, drops their replayed events, and takes later chunks', () => {
    const s = run([
      {
        type: 'loaded',
        lastSeq: 4,
        turns: [
          { role: 'user', text: 'q', at: 1, messageId: '7', status: 'done' },
          { role: 'assistant', text: 'a1', at: 2, messageId: '7', seq: 3 },
          { role: 'assistant', text: 'a2', at: 2, messageId: '7', seq: 4 },
          { role: 'user', text: 'pending', at: 3, messageId: '8', status: 'queued' },
        ],
      },
      reply(3, 0, 3, 'a1'),
      reply(4, 1, 3, 'a2'),
      reply(5, 2, 3, 'a3'),
    ]);
    expect(s.bubbles.map((b) => [b.role, bubbleText(b)])).toEqual([
      ['user', 'q'],
      ['assistant', 'a1\na2\na3'],
      ['user', 'pending'],
    ]);
    expect(s.bubbles[2]).toMatchObject({ state: 'waiting' });
  });

  const partial = (text: string, messageId = '7', at = 5): ChatAction => ({ type: 'partial', event: { messageId, text }, at });
  const asked = (messageId = '7'): ChatAction[] => [{ type: 'sending', key: 'live-1', text: 'hi', at: 1 }, { type: 'accepted', key: 'live-1', messageId }];

  it('shows the reply while it is written, then the reply\'s chunks replace it in the same bubble', () => {
    let s = run([...asked(), partial('Hel'), partial('Hello, wor')]);
    expect(s.bubbles).toHaveLength(2);
    const writing = s.bubbles[1] as AssistantBubble;
    expect(writing).toMatchObject({ role: 'assistant', messageId: '7', partial: 'Hello, wor', format: 'markdown', at: 5 });
    expect(bubbleText(writing)).toBe('Hello, wor');
    expect(isStreaming(writing)).toBe(true);
    expect(beingWritten(s.bubbles)).toEqual(new Set(['7']));
    // Text being written is not an answer: the question still waits, and nothing moved the resume point.
    expect(s.bubbles[0]).toMatchObject({ state: 'waiting' });
    expect(s.lastSeq).toBe(0);

    s = run([reply(10, 0, 2, 'Hello, world.', '7')], s);
    const replaced = s.bubbles[1] as AssistantBubble;
    expect(s.bubbles).toHaveLength(2);
    expect(replaced.key).toBe(writing.key);
    expect(replaced.partial).toBeUndefined();
    expect(replaced.format).toBe('text');
    expect(bubbleText(replaced)).toBe('Hello, world.');
    expect(isStreaming(replaced)).toBe(true);
    expect(beingWritten(s.bubbles).size).toBe(0);
    s = run([reply(11, 1, 2, 'Bye.', '7')], s);
    expect(bubbleText(s.bubbles[1]!)).toBe('Hello, world.\nBye.');
    expect(isStreaming(s.bubbles[1] as AssistantBubble)).toBe(false);
    expect(s.bubbles[0]).toMatchObject({ state: 'done' });
    expect(s.lastSeq).toBe(11);
  });

  it('takes a shorter partial over a longer one (a retry starts over)', () => {
    const s = run([...asked(), partial('The first attempt got this far'), partial('The')]);
    expect(s.bubbles).toHaveLength(2);
    expect(bubbleText(s.bubbles[1]!)).toBe('The');
    expect(run([partial('The second')], s).bubbles.map(bubbleText)).toEqual(['hi', 'The second']);
  });

  it('drops a partial that comes after the reply, or after its first chunk, or for a reply loaded with the transcript', () => {
    const answered = run([...asked(), partial('Hello'), reply(10, 0, 1, 'Hello, world.')]);
    expect(run([partial('Hello, wor')], answered)).toBe(answered);

    const firstChunk = run([...asked(), reply(10, 0, 2, 'one')]);
    expect(run([partial('one and')], firstChunk)).toBe(firstChunk);

    const loaded = run([
      {
        type: 'loaded',
        lastSeq: 3,
        turns: [
          { role: 'user', text: 'q', at: 1, messageId: '7', status: 'done' },
          { role: 'assistant', text: 'a', at: 2, messageId: '7', seq: 3 },
        ],
      },
    ]);
    expect(run([partial('a late')], loaded)).toBe(loaded);
  });

  it('starts a bubble for a message not sent from this tab, and keeps a message written to before its POST answered waiting', () => {
    // Another tab's message: the bubble goes at the end, as a reply's would.
    let s = run([...asked(), reply(10, 0, 1, 'answered'), partial('from elsewhere', '9')]);
    expect(s.bubbles.map((b) => [b.role, b.messageId, bubbleText(b)])).toEqual([
      ['user', '7', 'hi'],
      ['assistant', '7', 'answered'],
      ['assistant', '9', 'from elsewhere'],
    ]);
    expect(run([partial('')], s)).toBe(s);

    // Written to before the POST answered: accepted, the message still waits for its reply.
    s = run([{ type: 'sending', key: 'live-1', text: 'hi', at: 1 }, partial('quick', '7'), { type: 'accepted', key: 'live-1', messageId: '7' }]);
    expect(s.bubbles).toMatchObject([{ role: 'user', state: 'waiting' }, { role: 'assistant', partial: 'quick' }]);
    s = run([reply(10, 0, 1, 'quick answer')], s);
    expect(s.bubbles).toMatchObject([{ role: 'user', state: 'done' }, { role: 'assistant', chunks: ['quick answer'] }]);
    expect(s.bubbles).toHaveLength(2);
  });

  it('marks a refused message failed with the reason', () => {
    const s = run([{ type: 'sending', key: 'live-1', text: 'hi', at: 1 }, { type: 'failed', key: 'live-1', error: 'entry not running' }]);
    expect(s.bubbles[0]).toMatchObject({ state: 'failed', error: 'entry not running' });
  });
});
