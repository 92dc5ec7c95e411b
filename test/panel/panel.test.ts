import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, chromiumMissing, launchBrowser, recordResponses, screenshot, type Recorded } from '../helpers/browser.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The panel in a real browser against a real gateway serving the production bundle: log in,
 * create an agent, connect channels through the forms drawn from their schemas, watch them come
 * up (or fail with a reason), and check that no secret typed into a form ever comes back.
 */

// Secrets typed into the forms; none may appear in any response the browser gets.
const API_KEY = 'sk-panel-secret-0123456789abcdef';
const WECHAT_APP_SECRET = 'wx-app-secret-panel-0123456789';
const WECHAT_TOKEN = 'paneltoken4242';
const WECHAT_AES_KEY = 'PanelAesKey0123456789abcdefghijklmnopqrstuv'; // 43 characters
const OPENAI_KEY = 'sk-openai-panel-0123456789abcdef';
const OPERATOR_TOKEN = 'operator-panel-token-0123456789';
const SECRETS = [API_KEY, WECHAT_APP_SECRET, WECHAT_TOKEN, WECHAT_AES_KEY, OPENAI_KEY, ADMIN_TOKEN, OPERATOR_TOKEN];

const TIMEOUT = 60_000;

// The callbacks passed to page.evaluate run in the browser; the repo's tsconfig has no DOM lib.
declare const document: {
  cookie: string;
  activeElement: { id: string; textContent: string | null; blur(): void } | null;
  documentElement: { scrollWidth: number };
  getElementById(id: string): { textContent: string | null } | null;
};

let t: TestGateway;
let origin: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const recorded: Recorded[][] = [];
const requests: string[] = [];

/** Records what a page sends and receives, for the checks at the end. */
function watch(p: Page): void {
  recorded.push(recordResponses(p));
  p.on('request', (req) => requests.push(req.url()));
}

beforeAll(async () => {
  if (chromiumMissing()) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set COCOCAT_CHROMIUM`);
  }
  // test/global-setup.ts has built the production bundle the gateway serves at `/`.
  t = await startTestGateway({ settings: { operator_tokens: ['${PANEL_OPERATOR}'] } }, { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, PANEL_OPERATOR: OPERATOR_TOKEN } });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.server.address();
  if (!address || typeof address === 'string') throw new Error('gateway is not listening on a port');
  origin = `http://127.0.0.1:${address.port}`;
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  watch(page);
}, TIMEOUT);

// A failed step leaves a picture of the page behind, to see what the browser showed.
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && page && !page.isClosed()) {
    await screenshot(page, `failed-${ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`).catch(() => undefined);
  }
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** The text that screen readers announce with a field: its help, and its error when there is one. */
async function description(field: Locator): Promise<string> {
  return field.evaluate((el) =>
    (el.getAttribute('aria-describedby') ?? '')
      .split(/\s+/)
      .map((id: string) => document.getElementById(id)?.textContent ?? '')
      .join(' | '),
  );
}

function entryCard(id: string): Locator {
  return page.getByRole('listitem', { name: `Entry ${id}` });
}

async function entriesOnDisk(): Promise<{ id: string; config: Record<string, unknown> }[]> {
  const res = await t.admin('GET', '/agents/helper/entries');
  return res.json.entries;
}

describe('web panel', () => {
  it(
    'logs in with the admin token, and shows the server’s message for a wrong one',
    async () => {
      await page.goto(`${origin}/`);
      const token = page.getByLabel('Admin token');
      await token.fill('not-the-admin-token-0000');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('alert').waitFor();
      expect(await description(token)).toMatch(/token/i);

      await token.fill(ADMIN_TOKEN);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).waitFor();
      // The session is an HttpOnly cookie: page scripts cannot read it.
      const cookies = await context.cookies(origin);
      expect(cookies.length).toBeGreaterThan(0);
      expect(cookies.every((c) => c.httpOnly && c.sameSite === 'Strict')).toBe(true);
      expect(await page.evaluate(() => document.cookie)).toBe('');

      // Keyboard: the first Tab reaches "Skip to content", whose Enter moves focus to the page.
      await page.evaluate(() => document.activeElement?.blur());
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Skip to content');
      await page.keyboard.press('Enter');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    },
    TIMEOUT,
  );

  it(
    'creates an agent from the profile form',
    async () => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
      await page.getByRole('link', { name: 'New agent' }).click();
      await page.getByLabel('Agent ID').fill('helper');
      await page.getByLabel('Provider').selectOption('echo');
      await page.getByLabel('Name', { exact: true }).fill('Helper');
      await page.getByRole('button', { name: 'Create agent' }).click();
      await page.getByRole('heading', { name: /Helper/, level: 1 }).waitFor();
      const res = await t.admin('GET', '/agents/helper');
      expect(res.status).toBe(200);
      expect(res.json.profile).toMatchObject({ provider: 'echo', name: 'Helper' });
    },
    TIMEOUT,
  );

  it(
    'adds a web_api entry through the form drawn from its schema and sees it running',
    async () => {
      await page.getByRole('link', { name: 'Add entry' }).click();
      await page.getByLabel('Channel', { exact: true }).selectOption('web_api');
      // Defaults come from the schema.
      expect(await page.getByLabel('Rate limit per minute').inputValue()).toBe('600');
      await page.getByLabel('API key').fill(API_KEY);
      expect(await page.getByLabel('API key').getAttribute('type')).toBe('password');
      await screenshot(page, 'entry-form');
      await page.getByRole('button', { name: 'Add entry' }).click();
      await entryCard('web_api').getByText('running', { exact: true }).waitFor();
      await entryCard('web_api').getByText('set', { exact: true }).waitFor();
      expect((await entriesOnDisk()).map((e) => e.id)).toEqual(['web_api']);
    },
    TIMEOUT,
  );

  it(
    'shows what is wrong with a config next to the field and saves nothing',
    async () => {
      await page.getByRole('link', { name: 'Add entry' }).click();
      await page.getByLabel('Channel', { exact: true }).selectOption('web_api');
      await page.getByLabel('Entry ID').fill('second');
      await page.getByLabel('API key').fill('too-short');
      await page.getByLabel('Rate limit per minute').fill('0');
      await page.getByRole('button', { name: 'Add entry' }).click();
      await page.getByText('must be at least 1', { exact: true }).waitFor();
      expect(await description(page.getByLabel('Rate limit per minute'))).toContain('must be at least 1');
      expect(await page.getByLabel('Rate limit per minute').getAttribute('aria-invalid')).toBe('true');
      expect(await description(page.getByLabel('API key'))).toContain('must be at least 16 characters');
      expect((await entriesOnDisk()).map((e) => e.id)).toEqual(['web_api']);
      await page.getByRole('button', { name: 'Cancel' }).click();
    },
    TIMEOUT,
  );

  it(
    'shows the server’s field error inline, then the entry’s error state when the channel cannot start',
    async () => {
      await page.getByRole('link', { name: 'Add entry' }).click();
      await page.getByLabel('Channel', { exact: true }).selectOption('wechat_mp');
      await page.getByLabel('App ID').fill('wx0123456789abcdef');
      await page.getByLabel('App secret').fill(WECHAT_APP_SECRET);
      await page.getByLabel('Token', { exact: true }).fill(WECHAT_TOKEN);
      // Closed port: the channel's start fetches an access token there and fails.
      await page.getByLabel('API base URL').fill('http://127.0.0.1:9');
      // Safe mode (the default) needs the AES key: only the server knows that rule.
      await page.getByRole('button', { name: 'Add entry' }).click();
      await page.getByText('is required in safe mode').waitFor();
      expect(await description(page.getByLabel('Encoding AES key'))).toContain('is required in safe mode');
      expect((await entriesOnDisk()).map((e) => e.id)).toEqual(['web_api']);

      await page.getByLabel('Encoding AES key').fill(WECHAT_AES_KEY);
      await page.getByRole('button', { name: 'Add entry' }).click();
      const card = entryCard('wechat_mp');
      await card.getByText('error', { exact: true }).waitFor({ timeout: 30_000 });
      const reason = await card.locator('.status-reason').textContent();
      expect(reason?.trim().length).toBeGreaterThan(0);
      // The webhook URL to paste into the WeChat console, with a copy button.
      await card.getByRole('button', { name: 'Copy URL' }).waitFor();
      expect(await card.locator('.webhook code').textContent()).toContain(origin.replace('http://', ''));
    },
    TIMEOUT,
  );

  it(
    'edits an entry without touching its secret, and the secret still works',
    async () => {
      await page.getByRole('link', { name: 'Edit web_api' }).click();
      const form = page.getByRole('region', { name: 'Edit entry web_api' });
      // Never prefilled: the field offers Replace and says the key is set.
      await form.getByRole('button', { name: 'Replace API key' }).waitFor();
      expect(await description(form.getByRole('button', { name: 'Replace API key' }))).toContain('set');
      // The only password input is the unset callback secret's, and it is empty: no stored value reaches the page.
      const secretInputs = form.locator('input[type=password]');
      expect(await secretInputs.count()).toBe(1);
      expect(await secretInputs.inputValue()).toBe('');
      expect(await description(secretInputs)).toContain('not set');
      await form.getByLabel('Rate limit per minute').fill('100');
      await form.getByRole('button', { name: 'Save entry' }).click();
      await form.waitFor({ state: 'detached' });

      await t.until(async () => (await entriesOnDisk()).find((e) => e.id === 'web_api')?.config.rate_limit_per_minute === 100);
      await entryCard('web_api').getByText('running', { exact: true }).waitFor();
      await entryCard('web_api').getByText('set', { exact: true }).waitFor();
      const res = await fetch(`${origin}/api/v1/chat/helper.web_api`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'alice', content: 'still there?' }),
      });
      expect(res.status).toBe(202);
    },
    TIMEOUT,
  );

  it(
    'shows every entry live on the dashboard, at 1280 px and on a phone',
    async () => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
      await page.getByRole('link', { name: 'helper.web_api' }).waitFor();
      await page.getByRole('link', { name: 'helper.wechat_mp' }).waitFor();
      await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
      await page.getByRole('img', { name: /Messages over the last 60 minutes/ }).waitFor();
      // The last week's days, newest first, in the browser's time zone, as the admin API counts them.
      const days = page.getByRole('region', { name: 'Last 7 days' });
      await days.getByRole('table').waitFor();
      const zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
      const counted = (await t.admin('GET', `/stats/days?days=7&timezone=${encodeURIComponent(zone)}`)).json.days as { date: string; received: number }[];
      const rows = days.getByRole('row');
      expect(await rows.count()).toBe(8); // the heading row and 7 days
      expect(await rows.nth(1).getByRole('rowheader').textContent()).toBe(counted.at(-1)!.date);
      expect(await rows.nth(1).getByRole('cell').first().textContent()).toBe(String(counted.at(-1)!.received));
      expect(await rows.nth(7).getByRole('rowheader').textContent()).toBe(counted[0]!.date);
      await screenshot(page, 'dashboard');

      const phone = await context.newPage();
      watch(phone);
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(`${origin}/#/dashboard`);
      await phone.getByRole('link', { name: 'helper.web_api' }).waitFor();
      // The nav folds into a menu button; no sideways scrolling.
      const nav = phone.getByRole('navigation', { name: 'Main' });
      expect(await nav.isVisible()).toBe(false);
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await screenshot(phone, 'dashboard-phone');
      // Escape folds the open menu again and puts focus back on its button.
      const menu = phone.getByRole('button', { name: 'Menu' });
      await menu.click();
      await nav.getByRole('link', { name: 'Agents' }).waitFor();
      await phone.keyboard.press('Escape');
      await expect.poll(() => nav.isVisible()).toBe(false);
      expect(await menu.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
      await menu.click();
      await nav.getByRole('link', { name: 'Agents' }).click();
      await phone.getByRole('heading', { name: 'Agents', level: 1 }).waitFor();
      // The entry form fits the phone too.
      await phone.goto(`${origin}/#/agents/helper?edit=web_api`);
      await phone.getByRole('button', { name: 'Save entry' }).waitFor();
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await screenshot(phone, 'entry-form-phone');
      await phone.close();

      // A file broken on disk shows on the dashboard, naming the file and field, until it is fixed.
      const broken = join(t.root, 'agents', 'broken', 'profile.yaml');
      mkdirSync(dirname(broken), { recursive: true });
      writeFileSync(broken, 'provider: echo\nhistory_window: many\n');
      t.gateway.reload();
      const problems = page.getByRole('alert').filter({ hasText: 'The workspace has 1 problem' });
      await problems.waitFor();
      expect(await problems.textContent()).toContain('agents/broken/profile.yaml');
      expect(await problems.textContent()).toContain('history_window');
      rmSync(dirname(broken), { recursive: true });
      t.gateway.reload();
      await problems.waitFor({ state: 'detached' });
    },
    TIMEOUT,
  );

  it(
    'creates a scene, and deletes it only after confirming',
    async () => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
      await page.getByRole('link', { name: 'New scene' }).click();
      // The roster is a pick-list of the agents, kept in the order they are ticked (the first leads).
      expect((await t.admin('PUT', '/agents/second', { provider: 'echo' })).status).toBe(201);
      await page.reload();
      await page.getByLabel('Scene ID').fill('team');
      const roster = page.getByRole('group', { name: 'Roster' });
      await roster.getByRole('checkbox', { name: 'second' }).check();
      await roster.getByRole('checkbox', { name: 'helper' }).check();
      await expect.poll(() => roster.getByText('#2').count()).toBe(1);
      await page.getByRole('button', { name: 'Create scene' }).click();
      await page.getByRole('heading', { name: 'team', level: 1 }).waitFor();
      expect((await t.admin('GET', '/scenes/team')).json.scene.roster).toEqual(['second', 'helper']);

      // Escape closes the dialog and deletes nothing.
      await page.getByRole('button', { name: 'Delete scene' }).click();
      const dialog = page.getByRole('dialog', { name: 'Delete scene "team"?' });
      await dialog.waitFor();
      expect(await dialog.getByRole('button', { name: 'Cancel' }).evaluate((el) => el === document.activeElement)).toBe(true);
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      expect((await t.admin('GET', '/scenes/team')).status).toBe(200);

      await page.getByRole('button', { name: 'Delete scene' }).click();
      await dialog.getByRole('button', { name: 'Delete scene' }).click();
      await page.getByRole('heading', { name: 'Agents', level: 1 }).waitFor();
      expect((await t.admin('GET', '/scenes/team')).status).toBe(404);
    },
    TIMEOUT,
  );

  it(
    'keeps an agent\'s API key write-only: stored in the vault, shown as set, never prefilled',
    async () => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
      await page.getByRole('link', { name: 'New agent' }).click();
      await page.getByLabel('Agent ID').fill('writer');
      await page.getByLabel('Provider').selectOption('openai');
      await page.getByLabel('Model', { exact: true }).fill('gpt-test');
      const key = page.getByLabel('API key', { exact: true });
      expect(await key.getAttribute('type')).toBe('password');
      await key.fill(OPENAI_KEY);
      await page.getByRole('button', { name: 'Create agent' }).click();
      await page.getByRole('heading', { name: 'writer', level: 1 }).waitFor();

      // The file holds a reference; the key itself is in data/secrets.json.
      const profile = readFileSync(join(t.root, 'agents', 'writer', 'profile.yaml'), 'utf8');
      expect(profile).not.toContain(OPENAI_KEY);
      expect(profile).toContain('${secret:agent.writer.api_key}');
      expect(readFileSync(join(t.root, 'data', 'secrets.json'), 'utf8')).toContain(OPENAI_KEY);
      // The profile form offers Replace and says the key is set; no input holds it.
      const replace = page.getByRole('button', { name: 'Replace API key' });
      await replace.waitFor();
      expect(await description(replace)).toContain('set');
      expect(await page.locator('input[type=password]').count()).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'logs out back to the login page',
    async () => {
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByLabel('Admin token').waitFor();
      const res = await page.evaluate(async () => (await fetch('/api/admin/agents')).status);
      expect(res).toBe(401);
    },
    TIMEOUT,
  );

  it(
    'lets an operator in, marked as one, with the setup shown read-only',
    async () => {
      const operatorContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const p = await operatorContext.newPage();
      p.setDefaultTimeout(15_000);
      watch(p);
      await p.goto(`${origin}/`);
      await p.getByLabel('Admin token').fill(OPERATOR_TOKEN);
      await p.getByRole('button', { name: 'Log in' }).click();
      await p.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
      await p.getByText('Operator', { exact: true }).waitFor();
      expect(await page.getByText('Operator', { exact: true }).count()).toBe(0);
      await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
      await p.getByText(/^Read only: changing agents, scenes and entries needs the admin token/).waitFor();
      expect(await p.getByRole('link', { name: 'New agent' }).count()).toBe(0);
      expect(await p.getByRole('link', { name: 'New scene' }).count()).toBe(0);

      // An agent's page: its entries with their status and links to read, and its profile, nothing to change.
      await p.goto(`${origin}/#/agents/helper`);
      await p.getByRole('heading', { name: 'helper', level: 1 }).waitFor();
      const card = p.getByRole('listitem', { name: /^Entry / }).first();
      await card.getByRole('link', { name: 'Messages' }).waitFor();
      expect(await card.getByRole('link', { name: /^Edit / }).count()).toBe(0);
      expect(await card.getByRole('button').count()).toBe(0); // no enable/disable, reconnect, log in or delete
      expect(await p.getByRole('link', { name: 'Add entry' }).count()).toBe(0);
      expect(await p.getByRole('button', { name: 'Delete agent' }).count()).toBe(0);
      expect(await p.getByRole('button', { name: 'Save profile' }).count()).toBe(0);
      expect(await p.getByLabel('Provider').isDisabled()).toBe(true);

      // A link to the new-agent form shows no form to an operator.
      await p.goto(`${origin}/#/agents?new=agent`);
      await p.getByRole('heading', { name: 'New agent', level: 1 }).waitFor();
      await p.getByText(/^Read only/).waitFor();
      expect(await p.getByLabel('Agent ID').count()).toBe(0);
      await operatorContext.close();
    },
    TIMEOUT,
  );

  it(
    'never sends a secret back to the browser, and talks to no other host',
    async () => {
      await page.close();
      const responses = recorded.flat();
      expect(responses.length).toBeGreaterThan(10);
      expect(responses.some((r) => r.url.includes('/api/admin/agents/helper/entries') && r.body.includes('"set":true'))).toBe(true);
      for (const r of responses) {
        for (const secret of SECRETS) expect(r.body, `${r.url} holds a secret`).not.toContain(secret);
      }
      expect(requests.length).toBeGreaterThan(10);
      const foreign = requests.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:'));
      expect(foreign).toEqual([]);
    },
    TIMEOUT,
  );
});
