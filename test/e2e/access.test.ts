import { describe, expect, it } from 'vitest';
import { FakeFeishu, type SentMessage } from '../fakes/feishu/index.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { relayGateway } from '../helpers/relay.js';
import { feishuEntryConfig } from '../helpers/feishu.js';
import { startTestGateway, timeFrom, type TestGateway } from '../helpers/gateway.js';

const opened = closeAfterEach();
const NOTICE = 'This assistant is private.';
const textOf = (m: SentMessage | undefined) => (m?.content as { text?: string } | undefined)?.text;

async function settled(t: TestGateway, n: number) {
  return t.until(async () => {
    const list = await t.gateway.store.listMessages({ limit: 50 });
    return list.length === n && list.every((m) => m.status === 'done') && list;
  });
}

const replied = async (t: TestGateway, id: string) => (await t.gateway.store.getMessage(id))?.timeline.find((e) => e.stage === 'replied')?.detail;

describe('access: who an agent answers', () => {
  it('in direct chats answers allow_users only, tells a stranger once a day, ignores a blocked user, and follows an edit at once', async () => {
    let now = Date.UTC(2026, 11, 7, 9);
    const profile = { provider: 'echo', prefix: 'echo: ', access: { allow_users: ['alice', 'mallory'], block_users: ['mallory'], notice: NOTICE } };
    const { fake, t } = await relayGateway(opened, profile, { clock: timeFrom(() => now) });

    fake.push('alice', 'hi');
    fake.push('bob', 'hello?');
    fake.push('bob', 'anyone?');
    fake.push('mallory', 'let me in');
    const list = await settled(t, 4);
    expect(fake.received('alice')).toEqual(['echo: hi']);
    // The notice once (the second message in the same day gets nothing); the blocked user nothing, though also allowed.
    expect(fake.received('bob')).toEqual([NOTICE]);
    expect(fake.received('mallory')).toEqual([]);
    const byText = new Map(list.map((m) => [m.content, m.id]));
    expect(await replied(t, byText.get('hello?')!)).toBe('not answered: user bob is not in allow_users; notice sent');
    expect(await replied(t, byText.get('anyone?')!)).toBe('not answered: user bob is not in allow_users; no reply');
    expect(await replied(t, byText.get('let me in')!)).toBe('not answered: user mallory is blocked; no reply');
    const refused = (await t.gateway.metrics.refused.get()).values.find((v) => v.labels.channel === 'relay');
    expect(refused?.value).toBe(3);

    // A day later the stranger is told again.
    now += 86_400_000;
    fake.push('bob', 'hello again');
    await settled(t, 5);
    await t.until(() => fake.received('bob').length === 2);

    // Allowed through the admin API: answered from the next message on, no restart.
    const edit = await t.admin('PUT', '/agents/assistant', { ...profile, access: { allow_users: ['alice', 'bob'] } });
    expect(edit.status).toBe(200);
    fake.push('bob', 'and now?');
    await t.until(() => fake.received('bob').length === 3);
    expect(fake.received('bob')[2]).toBe('echo: and now?');

    // The operator blocks a sender from one of their messages (the message log's "block sender").
    const bobsMessage = (await t.gateway.store.listMessages({ userId: 'bob', limit: 1 }))[0]!;
    const block = await t.admin('POST', `/messages/${bobsMessage.id}/block-sender`);
    expect(block).toMatchObject({ status: 200, json: { agentId: 'assistant', userId: 'bob', blocked: true, alreadyBlocked: false } });
    expect((await t.admin('POST', `/messages/${bobsMessage.id}/block-sender`)).json.alreadyBlocked).toBe(true);
    expect((await t.admin('POST', '/messages/987654/block-sender')).status).toBe(404);
    const stored = (await t.admin('GET', '/agents/assistant')).json.profile;
    expect(stored.access).toEqual({ allow_users: ['alice', 'bob'], block_users: ['bob'] });
    fake.push('bob', 'still there?');
    const last = await t.until(async () => {
      const [m] = await t.gateway.store.listMessages({ userId: 'bob', limit: 1 });
      return m?.content === 'still there?' && m.status === 'done' && m;
    });
    expect(await replied(t, last.id)).toBe('not answered: user bob is blocked; no reply');
    expect(fake.received('bob')).toHaveLength(3);
  });

  it("lets the operator allow a refused sender from their message: off the block list, onto the allow list, and no list where there was none", async () => {
    const profile = { provider: 'echo', prefix: 'echo: ', access: { allow_users: ['alice'], block_users: ['mallory', 'alice'] } };
    const { fake, t } = await relayGateway(opened, profile);
    fake.push('carol', 'hello?');
    fake.push('alice', 'hi');
    const byText = new Map((await settled(t, 2)).map((m) => [m.content, m.id]));
    const detail = async (text: string) => (await t.admin('GET', `/messages/${byText.get(text)}`)).json;

    // The message detail says, from the profile as it is now, whether and why the sender is refused.
    expect((await detail('hello?')).senderAccess).toEqual({ agentId: 'assistant', refused: 'user carol is not in allow_users', blocked: false });
    expect((await detail('hi')).senderAccess).toEqual({ agentId: 'assistant', refused: 'user alice is blocked', blocked: true });

    const allowCarol = await t.admin('POST', `/messages/${byText.get('hello?')}/allow-sender`);
    expect(allowCarol.json).toEqual({ agentId: 'assistant', userId: 'carol', conversationId: 'carol', changes: ['added carol to allow_users'] });
    expect((await t.admin('POST', `/messages/${byText.get('hello?')}/allow-sender`)).json.changes).toEqual([]);
    expect((await detail('hello?')).senderAccess.refused).toBeNull();
    expect((await t.admin('POST', `/messages/${byText.get('hi')}/allow-sender`)).json.changes).toEqual(['took alice off block_users']);
    expect((await t.admin('GET', '/agents/assistant')).json.profile.access).toEqual({ allow_users: ['alice', 'carol'], block_users: ['mallory'] });
    fake.push('carol', 'and now?');
    fake.push('alice', 'back?');
    await t.until(() => fake.received('carol').length === 1 && fake.received('alice').length === 1);
    expect([fake.received('carol'), fake.received('alice')]).toEqual([['echo: and now?'], ['echo: back?']]);
    expect((await t.admin('POST', '/messages/987654/allow-sender')).status).toBe(404);

    // Without an allow list, direct chats are open to everyone: unblocking adds no list that would shut the others out.
    await t.admin('PUT', '/agents/assistant', { provider: 'echo', prefix: 'echo: ', access: { block_users: ['carol'] } });
    expect((await t.admin('POST', `/messages/${byText.get('hello?')}/allow-sender`)).json.changes).toEqual(['took carol off block_users']);
    expect((await t.admin('GET', '/agents/assistant')).json.profile.access).toEqual({ block_users: [] });
  });

  it('in groups answers allow_groups only, never sends the notice there, and a blocked member ends a burst before their message', async () => {
    const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000 }));
    const ann = 'ou_ann00000000000000000000000000';
    const ben = 'ou_ben00000000000000000000000000';
    const open = fake.textEvent('is the shop open?', { chatType: 'group', mentionBot: true, from: ann });
    const team = open.event.message.chat_id;
    const profile = { provider: 'echo', debounce: { quiet_ms: 1_000 }, access: { allow_groups: [team], block_users: [ben], notice: NOTICE } };
    const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [{ type: 'channel', channel: 'feishu', config: feishuEntryConfig(fake) }] } } }));
    await t.until(() => t.gateway.keeper.statusOf('bot.feishu')?.state === 'running');

    const spam = fake.textEvent('buy my stuff', { chatType: 'group', mentionBot: true, from: ben });
    const more = fake.textEvent('and on Sunday?', { chatType: 'group', mentionBot: true, from: ann });
    const elsewhere = fake.textEvent('hello from outside', { chatType: 'group', chatId: 'oc_other0000000000000000000000000', mentionBot: true, from: ann });
    for (const e of [open, spam, more, elsewhere]) await fake.pushEvent(e).done;

    const list = await settled(t, 4);
    await t.until(() => fake.messagesIn(team).length === 2);
    // Ann's two questions are answered on their own: Ben's message between them is not the agent's to read.
    expect(fake.messagesIn(team).map(textOf)).toEqual(['is the shop open?', 'and on Sunday?']);
    expect(fake.messagesIn('oc_other0000000000000000000000000')).toEqual([]);
    const byText = new Map(list.map((m) => [m.content, m.id]));
    expect(await replied(t, byText.get('buy my stuff')!)).toBe(`not answered: user ${ben} is blocked; no reply`);
    expect(await replied(t, byText.get('hello from outside')!)).toBe('not answered: group oc_other0000000000000000000000000 is not in allow_groups; no reply');

    // Allowing the sender of a group message allows the group.
    const allowed = await t.admin('POST', `/messages/${byText.get('hello from outside')}/allow-sender`);
    expect(allowed.json.changes).toEqual(['added oc_other0000000000000000000000000 to allow_groups']);
    expect((await t.admin('GET', '/agents/bot')).json.profile.access.allow_groups).toEqual([team, 'oc_other0000000000000000000000000']);
  });
});
