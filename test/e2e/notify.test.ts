import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBody } from '../fakes/http.js';
import { startFakeGroupRobot } from '../fakes/group-robot/server.js';
import { FakeIlink } from '../fakes/ilink/index.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { ADMIN_TOKEN, startTestGateway, timeFrom } from '../helpers/gateway.js';
import { makeWorkspace, removeWorkspace, webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();

describe('notify: the team chat hears what needs a person', () => {
  it('tells a WeCom group robot of a user asking for a person, a stranger asking with a code, and a reply given up on', async () => {
    const robot = opened(await startFakeGroupRobot());
    // A callback receiver that refuses every reply (400): the reply is a dead letter at once.
    const refusing = createServer((req, res) => void readBody(req).then(() => res.writeHead(400).end('no')));
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    opened({ close: () => new Promise<void>((r) => refusing.close(() => r())) });
    const callback = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/replies`;

    const t = opened(
      await startTestGateway({
        settings: { server: { public_url: 'https://bot.example.com' }, notify: { url: '${TEST_ROBOT_URL}', format: 'wecom' } },
        agents: {
          desk: { profile: { provider: 'echo', handoff: {} }, entries: [webApiEntry()] },
          private: { profile: { provider: 'echo', access: { pairing: {} } }, entries: [webApiEntry()] },
          hooked: { profile: { provider: 'echo' }, entries: [webApiEntry({ callback_url: callback, callback_secret: 's'.repeat(32) })] },
        },
      }, { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, TEST_ROBOT_URL: robot.wecomUrl } }),
    );
    await t.until(() => ['desk', 'private', 'hooked'].every((a) => t.gateway.keeper.statusOf(`${a}.web_api`)?.state === 'running'));

    const asked = await t.chat('desk.web_api', { userId: 'ann', userName: 'Ann', content: '转人工' }, { wait: true });
    const stranger = await t.chat('private.web_api', { userId: 'bob', content: 'hi, Bob here' }, { wait: true });
    const code = /code: (\S{4}-\S{4})/.exec(stranger.json.reply.text)![1]!;
    await t.chat('hooked.web_api', { userId: 'cid', content: 'hello' });
    await t.until(() => robot.received.length === 3);

    const texts = robot.received.map((m) => m.text).sort();
    expect(texts).toEqual(
      [
        `[CocoCat] Ann (ann) asked for a person on desk.web_api: "转人工"\nhttps://bot.example.com/#/messages?id=${asked.json.messageId}`,
        `[CocoCat] bob asks to talk to agent private on private.web_api with the code ${code} (cococat pairing approve ${code}): "hi, Bob here"\nhttps://bot.example.com/#/messages?id=${stranger.json.messageId}`,
        expect.stringMatching(/^\[CocoCat\] A reply to cid on hooked\.web_api was not delivered and is a dead letter: .*400.*\nhttps:\/\/bot\.example\.com\/#\/messages\?id=\d+$/),
      ].sort(),
    );
  });

  it('keeps a notice the robot refuses, shows it on the dashboard, and sends it once the key is right, across a restart', async () => {
    const robot = opened(await startFakeGroupRobot());
    const root = makeWorkspace({
      settings: { notify: { url: '${TEST_ROBOT_URL}', format: 'wecom' } },
      agents: { desk: { profile: { provider: 'echo', handoff: {} }, entries: [webApiEntry()] } },
    });
    opened({ close: () => removeWorkspace(root) });
    const env = (url: string) => ({ env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, TEST_ROBOT_URL: url } });
    // The first gateway's clock stands still, so its retry (2 s on) never comes: one refusal, however slow the machine.
    const stopped = Date.now();
    let t = opened(await startTestGateway({ root }, { ...env(`${robot.url}/cgi-bin/webhook/send?key=revoked-key`), clock: timeFrom(() => stopped) }));
    await t.until(() => t.gateway.keeper.statusOf('desk.web_api')?.state === 'running');
    await t.chat('desk.web_api', { userId: 'ann', content: '转人工' }, { wait: true });
    await t.until(() => robot.posts.length === 1);

    const unsent = await t.until(async () => (await t.admin('GET', '/dashboard')).json.unsentNotices);
    expect(unsent).toEqual({ count: 1, since: expect.any(Number), lastError: 'refused: 93000 invalid webhook url' });
    const listed = (await t.admin('GET', '/notices')).json.notices;
    expect(listed).toEqual([
      expect.objectContaining({ event: 'handoff', status: 'waiting', attempts: 1, lastError: 'refused: 93000 invalid webhook url', text: 'ann asked for a person on desk.web_api: "转人工"' }),
    ]);
    // The key is in the URL: never in an answer.
    expect(JSON.stringify(listed)).not.toContain('revoked-key');
    expect((await t.admin('GET', '/notices?limit=0')).status).toBe(400);

    // The key is put right and the gateway restarted: the notice waited in the store and goes out.
    await t.close({ keepWorkspace: true });
    t = opened(await startTestGateway({ root }, env(robot.wecomUrl)));
    await t.until(() => robot.received.length === 1, 15_000);
    expect(robot.received[0]!.text).toBe('[CocoCat] ann asked for a person on desk.web_api: "转人工"');
    // Stored as sent just after the robot took it.
    const sent = await t.until(async () => {
      const notices = (await t.admin('GET', '/notices')).json.notices;
      return notices[0]?.status === 'sent' && notices;
    });
    expect(sent).toEqual([expect.objectContaining({ status: 'sent', attempts: 2 })]);
    expect((await t.admin('GET', '/dashboard')).json.unsentNotices).toBeNull();
  });

  it("gives an agent its own team chat from the admin API: its key kept out of every answer, its notices in its language", async () => {
    const robot = opened(await startFakeGroupRobot({ wecomKey: 'gateway-key' }));
    const sales = opened(await startFakeGroupRobot({ wecomKey: 'sales-secret-key' }));
    const t = opened(
      await startTestGateway(
        {
          settings: { notify: { url: '${TEST_ROBOT_URL}', format: 'wecom', events: ['handoff'] } },
          agents: { desk: { profile: { provider: 'echo', handoff: {} }, entries: [webApiEntry()] }, sales: { profile: { provider: 'echo' }, entries: [webApiEntry()] } },
        },
        { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, TEST_ROBOT_URL: robot.wecomUrl } },
      ),
    );
    const profile = { provider: 'echo', handoff: {}, notify: { url: sales.wecomUrl, format: 'wecom', language: 'zh' } };
    // An event the notices do not know is refused, naming it.
    const refused = await t.admin('PUT', '/agents/sales', { ...profile, notify: { ...profile.notify, events: ['handoff', 'outage'] } });
    expect([refused.status, refused.json.error.field]).toEqual([400, 'notify.events.1']);
    const put = await t.admin('PUT', '/agents/sales', profile);
    expect(put.status).toBe(200);
    expect(put.json.profile.notify).toMatchObject({ url: '********', format: 'wecom', language: 'zh' });
    expect(put.json.secrets['notify.url']).toEqual({ set: true, source: 'stored' });
    // Sent back as shown (masked), the key stays; it is in the vault, not in profile.yaml.
    expect((await t.admin('PUT', '/agents/sales', put.json.profile)).status).toBe(200);
    expect(readFileSync(join(t.root, 'agents', 'sales', 'profile.yaml'), 'utf8')).not.toContain('sales-secret-key');
    expect(JSON.stringify((await t.admin('GET', '/agents')).json)).not.toContain('sales-secret-key');
    await t.until(() => ['desk', 'sales'].every((a) => t.gateway.keeper.statusOf(`${a}.web_api`)?.state === 'running'));

    await t.chat('sales.web_api', { userId: 'ann', content: '转人工' }, { wait: true });
    await t.chat('desk.web_api', { userId: 'bob', content: '转人工' }, { wait: true });
    await t.until(() => sales.received.length === 1 && robot.received.length === 2);
    expect(sales.received[0]!.text).toBe('[CocoCat] ann 在 sales.web_api 请求人工客服：“转人工”');
    expect(robot.received.map((m) => m.text).sort()).toEqual([
      '[CocoCat] ann asked for a person on sales.web_api: "转人工"',
      '[CocoCat] bob asked for a person on desk.web_api: "转人工"',
    ]);
    const listed = (await t.admin('GET', '/notices')).json.notices;
    expect(listed.map((n: { receiver: string; text: string }) => [n.receiver, n.text]).sort()).toEqual([
      ['', 'ann asked for a person on sales.web_api: "转人工"'],
      ['', 'bob asked for a person on desk.web_api: "转人工"'],
      ['agent:sales', 'ann 在 sales.web_api 请求人工客服：“转人工”'],
    ]);
  });

  it("tells a scene's own team chat of its entries' hand-overs; its key is kept in the vault and masked", async () => {
    const front = opened(await startFakeGroupRobot({ feishuToken: 'front-hook-token', feishuSecret: 'front-sign' }));
    const t = opened(
      await startTestGateway({
        agents: { desk: { profile: { provider: 'echo', handoff: {} } } },
        scenes: { front: { scene: { roster: ['desk'] }, entries: [webApiEntry()] } },
      }),
    );
    const scene = { roster: ['desk'], notify: { url: front.feishuUrl, format: 'feishu', secret: 'front-sign' } };
    const put = await t.admin('PUT', '/scenes/front', scene);
    expect(put.status).toBe(200);
    expect(put.json.scene.notify).toMatchObject({ url: '********', secret: '********', format: 'feishu' });
    expect(put.json.secrets).toEqual({ 'notify.url': { set: true, source: 'stored' }, 'notify.secret': { set: true, source: 'stored' } });
    expect(readFileSync(join(t.root, 'scenes', 'front', 'scene.yaml'), 'utf8')).not.toMatch(/front-hook-token|front-sign/);
    await t.until(() => t.gateway.keeper.statusOf('front.web_api')?.state === 'running');

    await t.chat('front.web_api', { userId: 'cy', content: '人工客服' }, { wait: true });
    await t.until(() => front.received.length === 1);
    expect(front.received[0]!.text).toBe('[CocoCat] cy asked for a person on front.web_api: "人工客服"');
    await t.until(async () => (await t.admin('GET', '/notices')).json.notices[0]?.status === 'sent');
    expect((await t.admin('GET', '/notices')).json.notices).toEqual([expect.objectContaining({ receiver: 'scene:front', status: 'sent' })]);

    // Taken out again, its secrets leave the vault.
    expect((await t.admin('PUT', '/scenes/front', { roster: ['desk'] })).status).toBe(200);
    expect(t.gateway.vault.get('scene.front.notify.url')).toBeUndefined();
  });

  it('says the notices in Chinese with language: zh', async () => {
    const robot = opened(await startFakeGroupRobot());
    const t = opened(
      await startTestGateway(
        {
          settings: { notify: { url: '${TEST_ROBOT_URL}', format: 'wecom', language: 'zh' } },
          agents: { desk: { profile: { provider: 'echo', handoff: {} }, entries: [webApiEntry()] } },
        },
        { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, TEST_ROBOT_URL: robot.wecomUrl } },
      ),
    );
    await t.until(() => t.gateway.keeper.statusOf('desk.web_api')?.state === 'running');
    await t.chat('desk.web_api', { userId: 'ann', userName: '安', content: '转人工' }, { wait: true });
    await t.until(() => robot.received.length === 1);
    expect(robot.received[0]!.text).toBe('[CocoCat] 安 (ann) 在 desk.web_api 请求人工客服：“转人工”');
  });

  it('tells the team when a personal WeChat session expires, and when a QR login has the entry working again', async () => {
    const robot = opened(await startFakeGroupRobot());
    const ilink = opened(await FakeIlink.start({ longPollMs: 300, qrPollMs: 300 }));
    // The gateway's clock reads a time the test moves forward; its timers stay real.
    let ahead = 0;
    const t = opened(
      await startTestGateway(
        {
          settings: { server: { public_url: 'https://bot.example.com' }, notify: { url: '${TEST_ROBOT_URL}', format: 'wecom', entry_down_after_minutes: 3 } },
          agents: { bot: { profile: { provider: 'echo' }, entries: [{ type: 'channel', channel: 'wechat_ilink', config: { base_url: ilink.url, bot_token: ilink.botToken } }] } },
        },
        { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, TEST_ROBOT_URL: robot.wecomUrl }, clock: timeFrom(() => Date.now() + ahead), healthCheckMs: 25 },
      ),
    );
    await t.until(() => t.gateway.keeper.statusOf('bot.wechat_ilink')?.state === 'running');

    ilink.expireSession();
    await t.until(() => t.gateway.keeper.statusOf('bot.wechat_ilink')?.transport?.state === 'reconnecting');
    await new Promise((r) => setTimeout(r, 300));
    expect(robot.received).toHaveLength(0); // not yet: a reconnect may end within the time
    ahead += 3 * 60_000;
    await t.until(() => robot.received.length === 1);
    expect(robot.received[0]!.text).toMatch(
      /^\[CocoCat\] Entry bot\.wechat_ilink \(.+, for agent bot\) is down: session expired .*log in again with the QR code.* It has been for 3 min; its users get no answers until it is back\.\nhttps:\/\/bot\.example\.com\/#\/agents\/bot$/,
    );

    await t.admin('POST', '/agents/bot/entries/wechat_ilink/login');
    ilink.confirm();
    await t.until(() => robot.received.length === 2, 15_000);
    expect(robot.received[1]!.text).toMatch(/^\[CocoCat\] Entry bot\.wechat_ilink \(.+\) works again, after 3 min down\.\n/);
    expect(t.gateway.keeper.statusOf('bot.wechat_ilink')).toMatchObject({ state: 'running', transport: { state: 'connected' } });
    // Nothing in the notices gives the token away.
    expect(JSON.stringify(robot.received)).not.toContain(ilink.botToken);
  });

  it("tells the team when an agent fails run after run, even while its failover answers, and when it answers again", async () => {
    const robot = opened(await startFakeGroupRobot());
    const down = opened(await startFakeLlm());
    const up = opened(await startFakeLlm());
    down.failNext(3, { status: 401, message: 'Incorrect API key provided' });
    const t = opened(
      await startTestGateway(
        {
          settings: { notify: { url: '${TEST_ROBOT_URL}', format: 'wecom', events: ['agent_down'] } },
          agents: {
            desk: { profile: { provider: 'openai', model: 'm', base_url: down.url, api_key: 'k', failover: ['backup'] }, entries: [webApiEntry()] },
            backup: { profile: { provider: 'openai', model: 'm', base_url: up.url, api_key: 'k' } },
          },
        },
        { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, TEST_ROBOT_URL: robot.wecomUrl } },
      ),
    );
    await t.until(() => t.gateway.keeper.statusOf('desk.web_api')?.state === 'running');
    for (const content of ['one', 'two', 'three']) {
      const res = await t.chat('desk.web_api', { userId: 'ann', content }, { wait: true });
      expect(res.json.status).toBe('answered'); // by the backup
    }
    await t.until(() => robot.received.length === 1);
    expect(robot.received[0]!.text).toMatch(/^\[CocoCat\] Agent desk failed 3 run\(s\) in a row \(the first 0 min ago\): .*401.*Incorrect API key provided/);
    expect(up.requests).toHaveLength(3);
    // The dashboard lists it too.
    expect((await t.admin('GET', '/dashboard')).json.failingAgents).toEqual([
      { agentId: 'desk', failures: 3, since: expect.any(Number), reason: expect.stringContaining('Incorrect API key provided') },
    ]);

    await t.chat('desk.web_api', { userId: 'ann', content: 'four' }, { wait: true });
    await t.until(() => robot.received.length === 2);
    expect(robot.received[1]!.text).toBe('[CocoCat] Agent desk answers again, after 3 failed run(s) in 0 min.');
    expect(up.requests).toHaveLength(3); // desk answered itself
    expect((await t.admin('GET', '/dashboard')).json.failingAgents).toEqual([]);
  });
});
