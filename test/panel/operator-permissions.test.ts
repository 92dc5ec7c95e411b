import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, chromiumMissing, launchBrowser, logIn, screenshot } from '../helpers/browser.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

/**
 * Operators whose `can` limits them, in a real Chromium: the panel offers each only what the gateway
 * lets them do. A reader sees a message with no reply box and no hand-over button; an answerer gets
 * the reply box, still no hand-over.
 */

const TIMEOUT = 60_000;
const READER = 'reader-operator-token-0123456789';
const ANSWERER = 'answerer-operator-token-012345678';

let t: TestGateway;
let base: string;
let browser: Browser;
let messageId: string;

describe('panel: what an operator may do', () => {
  beforeAll(async () => {
    if (chromiumMissing()) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install chromium) or point COCOCAT_CHROMIUM at one`);
    }
    t = await startTestGateway(
      {
        settings: { operator_tokens: [{ name: 'rita', token: '${READER}', can: [] }, { name: 'ann', token: '${ANSWERER}', can: ['reply'] }] },
        agents: { desk: { profile: { provider: 'echo' }, entries: [webApiEntry()] } },
      },
      { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, READER, ANSWERER } },
    );
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    await t.until(() => t.gateway.keeper.statusOf('desk.web_api')?.state === 'running');
    messageId = (await t.chat('desk.web_api', { userId: 'bo', content: 'where is my parcel?' }, { wait: true })).json.messageId;
    browser = await launchBrowser();
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  /** Logs in with `token` in a fresh browser context and opens the message. */
  async function openMessage(token: string, run: (page: Page) => Promise<void>): Promise<void> {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await logIn(page, base, token);
      await page.goto(`${base}/#/messages?id=${messageId}`);
      await page.getByText('where is my parcel?').first().waitFor();
      await page.getByRole('group', { name: 'Who answers this conversation' }).waitFor();
      await run(page);
    } catch (err) {
      await screenshot(page, `operator-permissions-${token.slice(0, 6)}`).catch(() => undefined);
      throw err;
    } finally {
      await context.close();
    }
  }

  it(
    'shows a reader the message, who answers it, and no control; an answerer the reply box but no hand-over',
    async () => {
      await openMessage(READER, async (page) => {
        const who = page.getByRole('group', { name: 'Who answers this conversation' });
        expect(await who.innerText()).toContain('The agent answers this conversation.');
        expect(await who.getByRole('button').count()).toBe(0);
        expect(await page.getByRole('button', { name: /Send/ }).count()).toBe(0);
        expect(await page.getByRole('button', { name: 'Block sender' }).count()).toBe(0);
      });
      await openMessage(ANSWERER, async (page) => {
        expect(await page.getByRole('group', { name: 'Who answers this conversation' }).getByRole('button').count()).toBe(0);
        await page.getByRole('button', { name: /Send/ }).first().waitFor();
      });
      // The admin has every control.
      await openMessage(ADMIN_TOKEN, async (page) => {
        await page.getByRole('button', { name: 'Hand to a person for an hour' }).waitFor();
        await page.getByRole('button', { name: 'Block sender' }).waitFor();
      });
    },
    TIMEOUT,
  );
});
