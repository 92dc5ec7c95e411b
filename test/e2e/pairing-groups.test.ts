import { describe, expect, it } from 'vitest';
import { FakeFeishu } from '../fakes/feishu/index.js';
import { startFakeGroupRobot } from '../fakes/group-robot/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { feishuEntryConfig } from '../helpers/feishu.js';
import { ADMIN_TOKEN, startTestGateway } from '../helpers/gateway.js';

/**
 * Group pairing (`access.pairing.groups`): an agent added to a Feishu group it was not approved for
 * answers a member who addresses it with the group's code; the owner approves it and the group goes
 * onto allow_groups, and from then on the agent answers there. Direct chats pair as before.
 */

const ENTRY = 'desk.feishu';
const opened = closeAfterEach();
const GROUP = 'oc_sales_team_0000000000000000000';
const OTHER = 'oc_other_group_000000000000000000';
const ANN = 'ou_ann_00000000000000000000000000';
const CODE = /code: ([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})/;
const CODE_ZH = /([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})/;
const OWNER = 'ou_owner_0000000000000000000000000';

/** The text of a message the bot sent. */
const textOf = (content: unknown) => (content as { text?: string }).text ?? JSON.stringify(content);

describe('pairing groups', () => {
  it('gives a group addressed in its code, lets the owner approve the group, and answers there from then on', async () => {
    const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000 }));
    const robot = opened(await startFakeGroupRobot());
    const profile = { provider: 'echo', prefix: 'echo: ', access: { pairing: { groups: true, expires_minutes: 30 } } };
    const t = opened(
      await startTestGateway(
        {
          settings: { notify: { url: '${TEST_ROBOT_URL}', format: 'wecom', events: ['pairing'] } },
          agents: { desk: { profile, entries: [{ type: 'channel', channel: 'feishu', config: feishuEntryConfig(fake, undefined, { show_typing: false }) }] } },
        },
        { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, TEST_ROBOT_URL: robot.wecomUrl } },
      ),
    );
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');

    // Addressed in a group it was not approved for: the group gets its code, in the group.
    await fake.pushEvent(fake.textEvent('@bot what is our quota?', { chatType: 'group', chatId: GROUP, from: ANN, mentionBot: true })).done;
    await t.until(() => fake.messagesIn(GROUP).length === 1);
    const sent = textOf(fake.messagesIn(GROUP)[0]!.content);
    expect(sent).toMatch(/^This assistant works in the groups its owner has approved\. To ask for this group, send its owner this code: \S{4}-\S{4} \(valid for 30 minutes\)\.$/);
    const code = CODE.exec(sent)![1]!;
    // The team hears it as the group's request.
    await t.until(() => robot.received.length === 1);
    expect(robot.received[0]!.text).toContain(`in group ${GROUP} asks for the group to talk to agent desk on ${ENTRY} with the code ${code}`);

    // Another member addressing it in the same group a moment later: the same request, no second code.
    await fake.pushEvent(fake.textEvent('@bot hello?', { chatType: 'group', chatId: GROUP, from: 'ou_bob_00000000000000000000000000', mentionBot: true })).done;
    await t.until(async () => (await t.gateway.store.listMessages({ conversationId: GROUP, limit: 10 })).filter((m) => m.status === 'done').length === 2);
    expect(fake.messagesIn(GROUP)).toHaveLength(1);

    const listed = (await t.admin('GET', '/pairing')).json.requests;
    expect(listed).toMatchObject([{ code, agentId: 'desk', entryKey: ENTRY, group: true, conversationId: GROUP, userId: ANN, content: '@bot what is our quota?' }]);

    const approved = await t.admin('POST', `/pairing/${code}/approve`);
    expect(approved.json).toMatchObject({ code, group: true, conversationId: GROUP, changes: [`added ${GROUP} to allow_groups`], notified: true });
    await t.until(() => fake.messagesIn(GROUP).length === 2);
    expect(textOf(fake.messagesIn(GROUP)[1]!.content)).toBe('This group has been approved: mention me again with your question.');
    expect((await t.admin('GET', '/agents/desk')).json.profile.access.allow_groups).toEqual([GROUP]);

    // Answered there from now on; another group is still closed (its own code), direct chats pair as before.
    await fake.pushEvent(fake.textEvent('@bot what is our quota?', { chatType: 'group', chatId: GROUP, from: ANN, mentionBot: true })).done;
    await t.until(() => fake.messagesIn(GROUP).length === 3);
    expect(textOf(fake.messagesIn(GROUP)[2]!.content)).toContain('echo: ');
    await fake.pushEvent(fake.textEvent('@bot hi', { chatType: 'group', chatId: OTHER, from: ANN, mentionBot: true })).done;
    await t.until(() => fake.messagesIn(OTHER).length === 1);
    expect(CODE.exec(textOf(fake.messagesIn(OTHER)[0]!.content))?.[1]).not.toBe(code);
    const direct = fake.textEvent('hello', { from: ANN });
    await fake.pushEvent(direct).done;
    await t.until(() => fake.messages.filter((m) => m.chatId === direct.event.message.chat_id).length === 1);
    expect(textOf(fake.messages.find((m) => m.chatId === direct.event.message.chat_id)!.content)).toMatch(/^This assistant answers the people its owner has approved/);
  });

  it('lets an owner approve the group from the group itself, and only that group\'s code there', async () => {
    const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000 }));
    const profile = { provider: 'echo', prefix: 'echo: ', language: 'zh', access: { owners: [OWNER], pairing: { groups: true } } };
    const t = opened(
      await startTestGateway({ agents: { desk: { profile, entries: [{ type: 'channel', channel: 'feishu', config: feishuEntryConfig(fake, undefined, { show_typing: false }) }] } } }),
    );
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const group = (text: string, chatId: string, from: string) => fake.pushEvent(fake.textEvent(text, { chatType: 'group', chatId, from, mentionBot: true })).done;
    const said = (chatId: string) => fake.messagesIn(chatId).map((m) => textOf(m.content));

    // Two groups ask; each hears its own code.
    await group('@bot 你好', GROUP, ANN);
    await group('@bot 你好', OTHER, ANN);
    await t.until(() => said(GROUP).length === 1 && said(OTHER).length === 1);
    const code = CODE_ZH.exec(said(GROUP)[0]!)![1]!;
    const otherCode = CODE_ZH.exec(said(OTHER)[0]!)![1]!;

    // A member who is not an owner cannot approve: the group is still closed (no answer, the code was just sent).
    await group(`@bot 批准 ${code}`, GROUP, ANN);
    await t.until(async () => (await t.gateway.store.listMessages({ conversationId: GROUP, limit: 10 })).filter((m) => m.status === 'done').length === 2);
    expect((await t.admin('GET', '/agents/desk')).json.profile.access.allow_groups).toBeUndefined();

    // The owner, in this group, with the other group's code: refused, and the other group stays closed.
    await group(`@bot 批准 ${otherCode}`, GROUP, OWNER);
    await t.until(() => said(GROUP).length === 2);
    expect(said(GROUP)[1]).toBe(`${otherCode} 不是本群的配对码。其他请求请在与我的单聊中批准或拒绝。`);
    expect((await t.admin('GET', '/pairing')).json.requests.map((r: { code: string }) => r.code).sort()).toEqual([code, otherCode].sort());

    // The list is for a direct chat: in the group "配对" goes to the agent.
    await group('@bot 配对', GROUP, OWNER);
    await t.until(() => said(GROUP).length === 3);
    expect(said(GROUP)[2]).toBe('echo: @bot 配对');

    // This group's code: approved, and the group hears only that it was (no second answer to the owner).
    await group(`@bot 批准 ${code}`, GROUP, OWNER);
    await t.until(() => said(GROUP).length === 4);
    expect(said(GROUP)[3]).toBe('本群已通过验证，请再 @我 提问。');
    expect((await t.admin('GET', '/agents/desk')).json.profile.access.allow_groups).toEqual([GROUP]);
    await t.until(async () => (await t.gateway.store.listMessages({ conversationId: GROUP, limit: 10 })).every((m) => m.status === 'done'));
    await group('@bot 现在呢？', GROUP, ANN);
    await t.until(() => said(GROUP).length === 5);
    expect(said(GROUP)).toHaveLength(5);
    expect(said(GROUP)[4]).toBe('echo: @bot 现在呢？');

    // The other group's request is rejected from that group by the owner; it stays closed.
    await group(`@bot 拒绝 ${otherCode}`, OTHER, OWNER);
    await t.until(() => said(OTHER).length === 2);
    expect(said(OTHER)[1]).toBe(`已拒绝本群的配对请求（${otherCode}）。`);
    expect((await t.admin('GET', '/pairing')).json.requests).toEqual([]);
    expect((await t.admin('GET', '/agents/desk')).json.profile.access.allow_groups).toEqual([GROUP]);
  });

  it('leaves groups to allow_groups without groups: true: no code, nothing said in the group', async () => {
    const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000 }));
    const profile = { provider: 'echo', access: { allow_groups: ['oc_known'], pairing: {} } };
    const t = opened(
      await startTestGateway({ agents: { desk: { profile, entries: [{ type: 'channel', channel: 'feishu', config: feishuEntryConfig(fake, undefined, { show_typing: false }) }] } } }),
    );
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    await fake.pushEvent(fake.textEvent('@bot hi', { chatType: 'group', chatId: GROUP, from: ANN, mentionBot: true })).done;
    const done = await t.until(async () => (await t.gateway.store.listMessages({ conversationId: GROUP, limit: 5 })).find((m) => m.status === 'done'));
    const detail = await t.gateway.store.getMessage(done.id);
    expect(detail?.timeline.find((e) => e.stage === 'replied')?.detail).toBe(`not answered: group ${GROUP} is not in allow_groups; no reply`);
    expect(fake.messagesIn(GROUP)).toEqual([]);
    expect((await t.admin('GET', '/pairing')).json.requests).toEqual([]);
  });
});
