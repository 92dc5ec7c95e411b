import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { qrPath } from '../../panel/src/components/qr.js';
import { FakeIlink } from '../fakes/ilink/index.js';
import { CHROMIUM, chromiumMissing, launchBrowser, recordResponses, screenshot, type Recorded } from '../helpers/browser.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The QR-code login of a personal-WeChat (iLink) entry in a real browser, against a real gateway
 * and the fake iLink platform: the entry starts without a token, the panel shows the code the
 * platform hands out, follows the scan and the confirmation, and the entry comes up with a bot
 * token that never reaches the browser.
 */

const TIMEOUT = 30_000;
const LOGIN_PATH = '/api/admin/agents/bot/entries/wechat/login';

let fake: FakeIlink;
let t: TestGateway;
let origin: string;
let browser: Browser;
let page: Page;
let responses: Recorded[];
const requests: { method: string; url: string }[] = [];
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (chromiumMissing()) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set COCOCAT_CHROMIUM`);
  }
  fake = await FakeIlink.start({ qrPollMs: 300, longPollMs: 500 });
  // No bot_token: the entry cannot start until someone logs in.
  const entry = { id: 'wechat', type: 'channel', channel: 'wechat_ilink', enabled: true, config: { base_url: fake.url } };
  t = await startTestGateway({ agents: { bot: { profile: { provider: 'echo' }, entries: [entry] } } });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.server.address();
  if (!address || typeof address === 'string') throw new Error('gateway is not listening on a port');
  origin = `http://127.0.0.1:${address.port}`;
  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.setDefaultTimeout(10_000);
  responses = recordResponses(page);
  page.on('request', (req) => requests.push({ method: req.method(), url: req.url() }));
  // Whatever the panel's CSP refuses (a script, a frame, an image from another host) is logged as a console error.
  page.on('console', (msg) => msg.type() === 'error' && consoleErrors.push(msg.text()));
}, TIMEOUT);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && page && !page.isClosed()) {
    await screenshot(page, `failed-ilink-${ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 50)}`).catch(() => undefined);
  }
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await fake?.close();
});

const card = (): Locator => page.getByRole('listitem', { name: 'Entry wechat' });
const dialog = (): Locator => page.getByRole('dialog', { name: 'Log in with WeChat' });
const qr = (): Locator => dialog().getByRole('img', { name: /QR code/ });

/** The QR code's modules as drawn in the page (the SVG path), to compare with what a code should hold. */
const drawnQr = (): Promise<string | null> => qr().locator('path').getAttribute('d');
const newestQr = (): string => fake.qrSessions.at(-1)!.imgContent;

const loginCalls = (method: string): number => requests.filter((r) => r.method === method && r.url === `${origin}${LOGIN_PATH}`).length;

describe('QR login of a personal WeChat (iLink) entry', () => {
  it(
    'shows the code, follows the scan and the confirmation, and the entry comes up',
    async () => {
      await page.goto(`${origin}/`);
      await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
      await page.goto(`${origin}/#/agents/bot`);

      // Not logged in: the entry is in error, saying so, and the login button is the card's call to action.
      await card().getByText('error', { exact: true }).waitFor();
      expect(await card().locator('.status-reason').textContent()).toContain('not logged in');
      const callToAction = card().locator('.login-needed').getByRole('button', { name: 'Log in with WeChat' });
      expect(await callToAction.getAttribute('class')).toContain('btn-primary');
      expect(fake.qrSessions).toHaveLength(0);

      await callToAction.click();
      await qr().waitFor();
      await dialog().getByText('Scan with WeChat', { exact: true }).waitFor();
      expect(fake.qrSessions).toHaveLength(1);
      // The drawn code holds the URL the platform handed out (modules compared with a fresh encoding).
      expect(await drawnQr()).toBe(qrPath(newestQr()).d);
      expect(await qr().evaluate((el) => el.tagName.toLowerCase())).toBe('svg');
      await screenshot(page, 'ilink-login-qr');

      fake.scan();
      await dialog().getByText('Confirm the login on your phone', { exact: true }).waitFor();
      expect(await qr().count()).toBe(0);

      const token = fake.confirm();
      await dialog().getByText(`Logged in as ${fake.botId}`, { exact: true }).waitFor();
      await card().getByText('running', { exact: true }).waitFor({ timeout: 15_000 });
      await card().getByText('set', { exact: true }).waitFor();
      // Logged in: the call to action is gone; the button stays, plain, for logging in again.
      expect(await card().locator('.login-needed').count()).toBe(0);
      expect(await card().getByRole('button', { name: 'Log in with WeChat' }).getAttribute('class')).not.toContain('btn-primary');

      // The token works: the entry answers a WeChat user.
      fake.userSends('alice', 'hello after login');
      const [reply] = await fake.waitForSent(1, { user: 'alice' });
      expect(reply!.text).toContain('hello after login');

      // It is stored in the vault; entries.json holds only a reference to it.
      const entriesFile = readFileSync(join(t.root, 'agents', 'bot', 'entries.json'), 'utf8');
      expect(entriesFile).not.toContain(token);
      expect(entriesFile).toContain('${secret:');
      expect(readFileSync(join(t.root, 'data', 'secrets.json'), 'utf8')).toContain(token);

      // A confirmed login is not cancelled when the dialog closes.
      await dialog().getByRole('button', { name: 'Close' }).click();
      await dialog().waitFor({ state: 'hidden' });
      expect(loginCalls('DELETE')).toBe(0);
      expect((await t.admin('GET', '/agents/bot/entries/wechat/login')).json.state).toBe('confirmed');

      // The token reaches neither the page nor any response the browser received.
      expect(await page.content()).not.toContain(token);
      expect(responses.filter((r) => r.url.endsWith(LOGIN_PATH) && r.body.includes('"confirmed"')).length).toBeGreaterThan(0);
      expect(responses.some((r) => r.url.endsWith('/api/admin/agents/bot/entries') && r.body.includes('"bot_token"'))).toBe(true);
      for (const r of responses) expect(r.body, `${r.url} holds the bot token`).not.toContain(token);
    },
    TIMEOUT,
  );

  it(
    'draws each new code when one expires, offers Try again after the third, and cancels when closed',
    async () => {
      const before = fake.qrSessions.length;
      await card().getByRole('button', { name: 'Log in with WeChat' }).click();
      await qr().waitFor();
      for (let n = 1; n <= 3; n++) {
        await t.until(() => fake.qrSessions.length === before + n);
        // Each refreshed code is drawn anew.
        await expect.poll(drawnQr, { timeout: 5_000 }).toBe(qrPath(newestQr()).d);
        fake.expireQr();
      }
      await dialog().getByText('the QR code expired 3 times; start the login again').waitFor();
      expect(await qr().count()).toBe(0);
      const again = dialog().getByRole('button', { name: 'Try again' });
      await screenshot(page, 'ilink-login-expired');

      await again.click();
      await t.until(() => fake.qrSessions.length === before + 4);
      await expect.poll(drawnQr, { timeout: 5_000 }).toBe(qrPath(newestQr()).d);
      await dialog().getByText('Scan with WeChat', { exact: true }).waitFor();
      expect(await again.count()).toBe(0);

      // Closed before anyone confirmed: the panel cancels the login on the gateway.
      await dialog().getByRole('button', { name: 'Cancel' }).click();
      await dialog().waitFor({ state: 'hidden' });
      await t.until(() => loginCalls('DELETE') === 1);
      await expect.poll(async () => (await t.admin('GET', '/agents/bot/entries/wechat/login')).json.state).toBe('cancelled');
      // The entry keeps running on the token of the first login.
      await card().getByText('running', { exact: true }).waitFor();
    },
    TIMEOUT,
  );

  it(
    'shows the gateway’s reason when WeChat hands out no QR code, and Try again gets one',
    async () => {
      fake.failNext('get_bot_qrcode', { http: 502 });
      const before = fake.qrSessions.length;
      await card().getByRole('button', { name: 'Log in with WeChat' }).click();
      const reason = dialog().getByRole('alert');
      await reason.waitFor();
      expect(await reason.textContent()).toContain('no QR code');
      expect(await qr().count()).toBe(0);
      await expect.poll(() => responses.some((r) => r.url.endsWith(LOGIN_PATH) && r.status === 502)).toBe(true);

      await dialog().getByRole('button', { name: 'Try again' }).click();
      await qr().waitFor();
      expect(fake.qrSessions).toHaveLength(before + 1);
      expect(await drawnQr()).toBe(qrPath(newestQr()).d);
      expect(await reason.count()).toBe(0);
      await dialog().getByRole('button', { name: 'Cancel' }).click();
      await dialog().waitFor({ state: 'hidden' });
    },
    TIMEOUT,
  );

  it(
    'drew everything in the page: nothing from another host, no CSP violation',
    async () => {
      expect(consoleErrors.filter((text) => /content security policy/i.test(text))).toEqual([]);
      expect(requests.length).toBeGreaterThan(10);
      expect(requests.filter((r) => !r.url.startsWith(`${origin}/`))).toEqual([]);
    },
    TIMEOUT,
  );
});
