import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, chromiumMissing, launchBrowser, logIn, screenshot } from '../helpers/browser.js';
import { ADMIN_TOKEN, startTestGateway, timeFrom, type TestGateway } from '../helpers/gateway.js';
import { startFakeGroupRobot, type FakeGroupRobot } from '../fakes/group-robot/server.js';
import { webApiEntry } from '../helpers/workspace.js';

/**
 * A team chat that does not take the notices (the robot's key was revoked) would leave nobody to
 * hear that a user asked for a person: the dashboard says so, in a real Chromium, with the robot's
 * own answer, offers to try at once, and the banner goes once the notice is through.
 */

const TIMEOUT = 60_000;

let t: TestGateway;
let robot: FakeGroupRobot;
let base: string;
let browser: Browser;
const stopped = Date.now();

describe('panel: notices the team chat does not take', () => {
  beforeAll(async () => {
    if (chromiumMissing()) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install chromium) or point COCOCAT_CHROMIUM at one`);
    }
    robot = await startFakeGroupRobot();
    t = await startTestGateway(
      {
        settings: { notify: { url: '${TEST_ROBOT_URL}', format: 'wecom' } },
        agents: { desk: { profile: { provider: 'echo', handoff: {} }, entries: [webApiEntry()] } },
      },
      // The gateway's clock stands still: the notice is tried only when the test makes it (its 2 s retry never comes).
      { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, TEST_ROBOT_URL: `${robot.url}/cgi-bin/webhook/send?key=revoked-key` }, clock: timeFrom(() => stopped) },
    );
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    await t.until(() => t.gateway.keeper.statusOf('desk.web_api')?.state === 'running');
    browser = await launchBrowser();
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await robot?.close();
  });

  it(
    'shows that a notice waits, with the robot’s refusal, tries it again on request, goes once it went out, and lists it as sent',
    async () => {
      await t.chat('desk.web_api', { userId: 'ann', content: '转人工' }, { wait: true });
      await t.until(() => robot.posts.length === 1);
      const page = await browser.newPage();
      try {
        await logIn(page, base, ADMIN_TOKEN);
        const banner = page.getByRole('alert').filter({ hasText: 'not sent yet' });
        await banner.waitFor();
        expect(await banner.innerText()).toMatch(/^1 notice to the team not sent yet \(the oldest .+\): refused: 93000 invalid webhook url\. They are tried again/);
        expect(await page.content()).not.toContain('revoked-key');

        // "Try now" tries at once, not after the wait: refused again.
        await page.getByRole('button', { name: 'Try now' }).click();
        await page.getByText('Trying again now.').waitFor();
        await t.until(() => robot.posts.length === 2);
        expect(robot.posts.map((p) => p.code)).toEqual([93000, 93000]);

        // The key is put right (cococat.yaml names the variable): a new URL is tried at once, and the banner goes.
        t.gateway.env.TEST_ROBOT_URL = robot.wecomUrl;
        await t.until(() => robot.received.length === 1, 15_000);
        expect(robot.received[0]!.text).toBe('[CocoCat] ann asked for a person on desk.web_api: "转人工"');
        await banner.waitFor({ state: 'detached', timeout: 15_000 });

        // The dashboard's list of notices says what the team was told, and that it went through on the third try.
        await t.until(async () => (await t.admin('GET', '/notices')).json.notices[0]?.status === 'sent');
        await page.reload();
        const latest = page.getByRole('list', { name: 'Latest notices' }).getByRole('listitem');
        await latest.first().waitFor();
        expect(await latest.count()).toBe(1);
        const item = await latest.first().innerText();
        expect(item).toContain('handoff · team chat');
        expect(item).toContain('ann asked for a person on desk.web_api: "转人工"');
        expect(item).toContain('sent (try 3)');
      } catch (err) {
        await screenshot(page, 'unsent-notices').catch(() => undefined);
        throw err;
      } finally {
        await page.close();
      }
    },
    TIMEOUT,
  );
});
