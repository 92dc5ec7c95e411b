import { describe, expect, it } from 'vitest';
import { forgetCommand, restartCommand, statusCommand } from '../../src/cli/commands/entries.js';
import { startFakeGroupRobot } from '../fakes/group-robot/server.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { ADMIN_TOKEN, startTestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();

/** A running Web API entry, a personal WeChat entry that waits for its QR login (error), and a disabled one. */
async function setup() {
  const entries = [
    webApiEntry(),
    { type: 'channel', channel: 'wechat_ilink', config: { base_url: 'http://127.0.0.1:9' } },
    webApiEntry({}, 'spare'),
  ];
  (entries[2] as { enabled: boolean }).enabled = false;
  const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'echo' }, entries } } }));
  await t.until(() => t.gateway.keeper.statusOf('bot.wechat_ilink')?.state === 'error' && t.gateway.keeper.statusOf('bot.web_api')?.state === 'running');
  const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  const printed: string[] = [];
  const opts = { workspace: t.root, url, env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN }, print: (l: string) => printed.push(l) };
  return { t, opts, printed };
}

describe('cococat status and restart', () => {
  it('lists every entry with its state, traffic and error, and exits 1 while an enabled entry is in error', async () => {
    const { t, opts, printed } = await setup();
    await t.chat('bot.web_api', { userId: 'u', content: 'hi' }, { wait: true });
    expect(await statusCommand(opts)).toBe(1);
    expect(printed).toHaveLength(3);
    expect(printed.find((l) => l.startsWith('bot.web_api '))).toMatch(/^bot\.web_api\s+web_api\s+running\s+1 in \/ 1 out$/);
    expect(printed.find((l) => l.startsWith('bot.wechat_ilink'))).toMatch(/wechat_ilink\s+error\s+0 in \/ 0 out\s+COCO_ERR_LOGIN_REQUIRED: /);
    expect(printed.find((l) => l.startsWith('bot.spare'))).toMatch(/web_api\s+disabled/);

    // Without the failing entry, all is well.
    await t.admin('POST', '/agents/bot/entries/wechat_ilink/disable');
    await t.until(() => t.gateway.keeper.statusOf('bot.wechat_ilink')?.state === 'stopped');
    expect(await statusCommand({ ...opts, print: () => undefined })).toBe(0);
  });

  it('names an agent that fails run after run, and exits 1 until it answers again', async () => {
    const llm = opened(await startFakeLlm());
    llm.failNext(3, { status: 401, message: 'Incorrect API key provided' });
    const t = opened(
      await startTestGateway({ agents: { desk: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' }, entries: [webApiEntry()] } } }),
    );
    await t.until(() => t.gateway.keeper.statusOf('desk.web_api')?.state === 'running');
    const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const printed: string[] = [];
    const opts = { workspace: t.root, url, env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN }, print: (l: string) => printed.push(l) };
    for (const content of ['one', 'two', 'three']) await t.chat('desk.web_api', { userId: 'ann', content }, { wait: true });
    expect(await statusCommand(opts)).toBe(1);
    expect(printed).toEqual([
      expect.stringMatching(/^desk\.web_api\s+web_api\s+running\s+3 in \/ 3 out$/),
      expect.stringMatching(/^agent desk failing: its last 3 runs failed, the first at \d{4}-\d\d-\d\dT[\d:.]+Z: .*Incorrect API key provided/),
    ]);
    await t.chat('desk.web_api', { userId: 'ann', content: 'four' }, { wait: true });
    expect(await statusCommand({ ...opts, print: () => undefined })).toBe(0);
  });

  it("says when the team's chat does not take the notices, and exits 1 until they go out", async () => {
    const robot = opened(await startFakeGroupRobot());
    const env = { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, TEST_ROBOT_URL: `${robot.url}/cgi-bin/webhook/send?key=revoked-key` };
    const t = opened(
      await startTestGateway(
        {
          settings: { notify: { url: '${TEST_ROBOT_URL}', format: 'wecom' } },
          agents: { desk: { profile: { provider: 'echo', handoff: {} }, entries: [webApiEntry()] } },
        },
        { env },
      ),
    );
    await t.until(() => t.gateway.keeper.statusOf('desk.web_api')?.state === 'running');
    const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const printed: string[] = [];
    const opts = { workspace: t.root, url, env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN }, print: (l: string) => printed.push(l) };
    await t.chat('desk.web_api', { userId: 'ann', content: '转人工' }, { wait: true });
    await t.until(() => robot.posts.length === 1);
    await t.until(async () => (await t.admin('GET', '/dashboard')).json.unsentNotices);
    expect(await statusCommand(opts)).toBe(1);
    expect(printed.at(-1)).toMatch(/^notices: 1 not sent yet, the oldest from \d{4}-\d\d-\d\dT[\d:.]+Z: refused: 93000 invalid webhook url$/);

    // The right key: a new URL is tried at once.
    env.TEST_ROBOT_URL = robot.wecomUrl;
    await t.until(() => robot.received.length === 1);
    await t.until(async () => (await t.admin('GET', '/dashboard')).json.unsentNotices === null);
    expect(await statusCommand({ ...opts, print: () => undefined })).toBe(0);
  });

  it('restarts one entry and follows it: running is 0, an entry that fails again is 1 with the reason, an unknown one 2', async () => {
    const { t, opts, printed } = await setup();
    const before = t.gateway.keeper.statusOf('bot.web_api')!.since;
    expect(await restartCommand({ ...opts, entryKey: 'bot.web_api', pollMs: 20 })).toBe(0);
    expect(printed.slice(-2)).toEqual(['restarting bot.web_api…', 'bot.web_api is running']);
    expect(t.gateway.keeper.statusOf('bot.web_api')!.since).toBeGreaterThan(before);

    expect(await restartCommand({ ...opts, entryKey: 'bot.wechat_ilink', pollMs: 20 })).toBe(1);
    expect(printed.at(-1)).toMatch(/^bot\.wechat_ilink is error: .*log/i);

    expect(await restartCommand({ ...opts, entryKey: 'bot.nope', pollMs: 20 })).toBe(2);
    expect(printed.at(-1)).toBe('HTTP 404: entry "bot.nope" does not exist');
  });

  it("forgets a user: 0 when nothing of theirs is left, 2 for an unknown entry", async () => {
    const { t, opts, printed } = await setup();
    await t.chat('bot.web_api', { userId: 'ann', content: 'hi' }, { wait: true });
    await t.chat('bot.web_api', { userId: 'bob', content: 'hi' }, { wait: true });
    expect(await forgetCommand({ ...opts, entryKey: 'bot.web_api', userId: 'ann' })).toBe(0);
    expect(printed.at(-1)).toBe('forgot ann on bot.web_api: 1 message(s), 1 reply chunk(s), 0 history turn(s), 1 feed item(s)');
    expect((await t.gateway.store.listMessages({})).map((m) => m.userId)).toEqual(['bob']);
    expect(await forgetCommand({ ...opts, entryKey: 'bot.nope', userId: 'ann' })).toBe(2);
    expect(printed.at(-1)).toBe('HTTP 404: entry "bot.nope" does not exist');
  });

  it('says what is missing: the admin token, or a gateway to talk to', async () => {
    const { opts, printed } = await setup();
    expect(await statusCommand({ ...opts, env: {} })).toBe(2);
    expect(printed.at(-1)).toMatch(/COCOCAT_ADMIN_TOKEN/);
    expect(await statusCommand({ ...opts, url: 'http://127.0.0.1:9' })).toBe(2);
    expect(printed.at(-1)).toMatch(/^cannot reach the gateway at http:\/\/127\.0\.0\.1:9: .*Is "cococat start" running\?$/);
  });
});
