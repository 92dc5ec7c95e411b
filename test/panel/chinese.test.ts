import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, chromiumMissing, launchBrowser, screenshot } from '../helpers/browser.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

/**
 * The panel in Chinese, in a real Chromium: chosen on the login page, kept after a reload, followed
 * by a browser whose language is Chinese, and complete: on every page the panel's own words are
 * Chinese. Only what comes from the workspace, the users or the gateway's API may be in English.
 */

const TIMEOUT = 90_000;

let t: TestGateway;
let base: string;
let browser: Browser;

// The page's texts an untranslated string would show in: text, and the labels a screen reader reads.
declare const document: {
  documentElement: { lang: string };
  body: unknown;
  createTreeWalker(root: unknown, what: number): { nextNode(): { textContent: string | null; parentElement: { closest(s: string): unknown } | null } | null };
  querySelectorAll(s: string): Iterable<{ getAttribute(n: string): string | null; closest(s: string): unknown }>;
};

/**
 * Two English words in a row, in the page's text or its title/aria-label/placeholder/alt attributes,
 * outside what the panel shows as it came: code, users' messages and agents' answers, the choices and
 * default values of the forms drawn from the gateway's JSON Schemas (their labels and help are
 * translated, in the schemas' `x-i18n`), and what `data-from-server` marks.
 */
async function englishLeft(page: Page): Promise<{ words: string; in: string }[]> {
  return page.evaluate(() => {
    const skip = 'code, pre, .mono, .msg-text, .bubble, [data-from-server], option, script, style, svg';
    const english = /[A-Za-z]{2,}(?:[ '’]+[A-Za-z]{2,})+/g; // ids like panel-user are data
    const found: { words: string; in: string }[] = [];
    const walker = document.createTreeWalker(document.body, 4 /* NodeFilter.SHOW_TEXT */);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement?.closest(skip)) continue;
      const text = node.textContent ?? '';
      // A form field's help, translated, names terms and commands as they are ("access token", `cococat simulate`).
      if (node.parentElement?.closest('.schema-form .field-help') && /[\u4e00-\u9fff]/.test(text)) continue;
      for (const m of text.matchAll(english)) found.push({ words: m[0], in: text.trim().slice(0, 120) });
    }
    for (const el of document.querySelectorAll('[title], [aria-label], [placeholder], [alt]')) {
      if (el.closest(skip)) continue;
      for (const name of ['title', 'aria-label', 'placeholder', 'alt']) {
        // A form's placeholder is the schema's default value (an agent's English fallback reply): data.
        if (name === 'placeholder' && el.closest('.schema-form')) continue;
        for (const m of (el.getAttribute(name) ?? '').matchAll(english)) found.push({ words: m[0], in: `${name}="${el.getAttribute(name)}"` });
      }
    }
    return found;
  });
}

/** Channel names as the gateway's catalog gives them (bilingual already), the product's name, a file format. */
const NAMES = /^(Web API|CocoCat|JSON Lines|Personal WeChat|WeCom AI bot|WeChat Official Account|WeCom self-built app|Lark)$/;

async function expectAllChinese(page: Page, where: string): Promise<void> {
  const left = (await englishLeft(page)).filter((s) => !NAMES.test(s.words));
  expect(left, `English left on ${where}`).toEqual([]);
}

describe('panel in Chinese', () => {
  beforeAll(async () => {
    if (chromiumMissing()) throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install chromium) or point COCOCAT_CHROMIUM at one`);
    t = await startTestGateway(
      { agents: { kefu: { profile: { provider: 'echo', handoff: {} }, entries: [webApiEntry()] } } },
      { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN } },
    );
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    await t.until(() => t.gateway.keeper.statusOf('kefu.web_api')?.state === 'running');
    // Something on every page: an answered message, and a conversation handed to a person.
    await t.chat('kefu.web_api', { userId: 'xiaoming', content: '你好' }, { wait: true });
    await t.chat('kefu.web_api', { userId: 'xiaohong', content: '转人工' }, { wait: true });
    browser = await launchBrowser();
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it(
    'is chosen on the login page, kept after a reload, and leaves none of the panel’s words in English',
    async () => {
      const context = await browser.newContext({ locale: 'en-US' });
      const page = await context.newPage();
      try {
        await page.goto(`${base}/`);
        await page.getByLabel('Language').selectOption('zh');
        await page.getByLabel('管理员令牌').fill(ADMIN_TOKEN);
        await expectAllChinese(page, 'the login page');
        await page.getByRole('button', { name: '登录' }).click();
        const nav = page.getByRole('navigation', { name: '主导航' });
        await nav.waitFor();
        expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');

        // Dashboard, with its entry and the hand-over's notice-free state.
        await page.getByRole('heading', { level: 1 }).first().waitFor();
        await page.getByText('kefu.web_api').first().waitFor();
        await expectAllChinese(page, 'the dashboard');

        // Agents, then the agent with its entries.
        await nav.getByRole('link', { name: '智能体' }).click();
        await page.getByRole('link', { name: 'kefu' }).first().click();
        await page.getByText('kefu.web_api').first().waitFor();
        await expectAllChinese(page, 'the agent page');
        // Its profile form: labels and help from the schema's Chinese (`x-i18n`), not the field names.
        await page.getByLabel('系统提示词').waitFor();
        await page.getByLabel('兜底回复', { exact: true }).waitFor();

        // A new WeCom entry: the channel's description and every field of its form in Chinese.
        await page.getByRole('link', { name: '添加接入' }).click();
        await page.getByLabel('渠道', { exact: true }).selectOption('wecom');
        await page.getByLabel('企业 ID').waitFor();
        await page.getByText('企业微信的自建应用').first().waitFor();
        await expectAllChinese(page, 'the new entry form');

        // The test chat.
        await nav.getByRole('link', { name: '对话' }).click();
        await page.getByRole('textbox').first().waitFor();
        await expectAllChinese(page, 'the chat');

        // Messages: the conversation with a person, the log, and one message opened.
        await nav.getByRole('link', { name: /^消息/ }).click();
        await page.getByText('xiaohong').first().waitFor();
        await expectAllChinese(page, 'the messages');
        await page.getByText('你好').first().click();
        // The message's own panel, with its timeline and its reply.
        await page.getByRole('heading', { name: /^消息 #\d+$/ }).waitFor();
        const timeline = page.getByRole('list', { name: '时间线' });
        await timeline.getByText('已发送').waitFor();
        // Its steps' figures in Chinese too (the gateway gives them as data).
        expect(await timeline.innerText()).toMatch(/第 1 次尝试[\s\S]*共尝试 1 次，用时 \d+ 毫秒[\s\S]*分段 1\/1，平台消息 ID \S+/);
        await expectAllChinese(page, 'a message');

        // The choice is kept: a reload opens in Chinese, and English can be chosen back.
        await page.reload();
        await nav.waitFor();
        await page.getByRole('combobox', { name: '语言' }).selectOption('en');
        await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).waitFor();
        expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
      } catch (err) {
        await screenshot(page, 'chinese').catch(() => undefined);
        throw err;
      } finally {
        await context.close();
      }
    },
    TIMEOUT,
  );

  it(
    'opens in Chinese for a browser whose language is Chinese, with nothing chosen',
    async () => {
      const context = await browser.newContext({ locale: 'zh-CN' });
      const page = await context.newPage();
      try {
        await page.goto(`${base}/`);
        await page.getByRole('button', { name: '登录' }).waitFor();
        expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
      } finally {
        await context.close();
      }
    },
    TIMEOUT,
  );
});
