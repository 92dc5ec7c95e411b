import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readBody } from '../fakes/http.js';
import { startFakeGroupRobot } from '../fakes/group-robot/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { ADMIN_TOKEN, startTestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

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
});
