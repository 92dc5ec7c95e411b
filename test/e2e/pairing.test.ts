import { describe, expect, it } from 'vitest';
import { pairingCommand } from '../../src/cli/commands/pairing.js';
import { forgetExpiredPairings } from '../../src/core/pairing.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { relayGateway, RELAY_ENTRY } from '../helpers/relay.js';
import { ADMIN_TOKEN, startTestGateway, timeFrom, type TestGateway } from '../helpers/gateway.js';

const opened = closeAfterEach();
const NOTICE = 'This assistant is private.';
const APPROVED = 'Welcome! Ask me anything.';
const CODE = /code: ([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}) \(valid for 30 minutes\)/;

const codeIn = (text: string | undefined) => CODE.exec(text ?? '')?.[1];
const codeOf = (text: string | undefined) => /(?:code: |验证码 )(\S{4}-\S{4})/.exec(text ?? '')![1]!;

async function doneWith(t: TestGateway, userId: string, content: string) {
  return t.until(async () => {
    const m = (await t.gateway.store.listMessages({ userId, limit: 20 })).find((x) => x.content === content);
    return m?.status === 'done' && m;
  });
}

const replied = async (t: TestGateway, id: string) => (await t.gateway.store.getMessage(id))?.timeline.find((e) => e.stage === 'replied')?.detail;

describe('pairing: strangers ask with a code, the owner approves it', () => {
  it('gives a stranger a code, again only after a while, lists it, lets the operator approve it by code and tells the user; full lists fall back to the notice', async () => {
    let now = Date.UTC(2026, 11, 7, 9);
    const profile = {
      provider: 'echo',
      prefix: 'echo: ',
      access: { notice: NOTICE, pairing: { expires_minutes: 30, max_pending: 2, approved_reply: APPROVED } },
    };
    const { fake, t } = await relayGateway(opened, profile, { clock: timeFrom(() => now) });

    fake.push('bob', "hi, it's Bob");
    await t.until(() => fake.received('bob').length === 1);
    const bobsCode = codeIn(fake.received('bob')[0]);
    expect(bobsCode).toBeDefined();
    const first = await doneWith(t, 'bob', "hi, it's Bob");
    expect(await replied(t, first.id)).toBe('not answered: user bob is not in allow_users; pairing code sent');

    // Writing again at once: no second code (a stranger cannot make the bot talk at will).
    fake.push('bob', 'hello?');
    const second = await doneWith(t, 'bob', 'hello?');
    expect(await replied(t, second.id)).toBe(`not answered: user bob is not in allow_users; pairing code sent at ${new Date(now).toISOString()} already; no reply`);
    expect(fake.received('bob')).toHaveLength(1);

    fake.push('carol', 'let me in');
    await t.until(() => fake.received('carol').length === 1);
    const carolsCode = codeIn(fake.received('carol')[0])!;
    expect(carolsCode).not.toBe(bobsCode);
    // max_pending is 2: the third stranger gets the notice instead.
    fake.push('dave', 'me too');
    const daves = await doneWith(t, 'dave', 'me too');
    // Done is stored before the notice reaches the platform: wait for it there.
    await t.until(() => fake.received('dave').length === 1);
    expect(fake.received('dave')).toEqual([NOTICE]);
    expect(await replied(t, daves.id)).toBe('not answered: user dave is not in allow_users; 2 pairing requests wait already; notice sent');

    const listed = await t.admin('GET', '/pairing');
    expect(listed.json.requests).toMatchObject([
      { code: bobsCode, agentId: 'assistant', entryKey: RELAY_ENTRY, userId: 'bob', channel: 'relay', content: "hi, it's Bob", messageId: first.id, expiresAt: now + 30 * 60_000 },
      { code: carolsCode, userId: 'carol', content: 'let me in' },
    ]);

    // Ten minutes on, the same code again.
    now += 10 * 60_000;
    fake.push('bob', 'still waiting');
    await t.until(() => fake.received('bob').length === 2);
    expect(codeIn(fake.received('bob')[1])).toBe(bobsCode);

    // Approved by the code as typed from a phone: lower case, a space for the dash.
    const typed = bobsCode!.toLowerCase().replace('-', ' ');
    const approve = await t.admin('POST', `/pairing/${encodeURIComponent(typed)}/approve`);
    expect(approve).toMatchObject({ status: 200, json: { code: bobsCode, agentId: 'assistant', userId: 'bob', changes: ['added bob to allow_users'], notified: true } });
    await t.until(() => fake.received('bob').length === 3);
    expect(fake.received('bob')[2]).toBe(APPROVED);
    expect((await t.admin('GET', '/agents/assistant')).json.profile.access.allow_users).toEqual(['bob']);
    fake.push('bob', 'and now?');
    await t.until(() => fake.received('bob').length === 4);
    expect(fake.received('bob')[3]).toBe('echo: and now?');

    expect((await t.admin('POST', `/pairing/${bobsCode}/approve`)).status).toBe(404);
    const bad = await t.admin('POST', '/pairing/ABC/approve');
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toContain('code: a pairing code is 8 letters and digits');

    // Rejected: gone from the list; writing again starts a new request with a new code.
    expect((await t.admin('DELETE', `/pairing/${carolsCode}`)).json).toMatchObject({ userId: 'carol', rejected: true });
    expect((await t.admin('DELETE', `/pairing/${carolsCode}`)).status).toBe(404);
    expect((await t.admin('GET', '/pairing')).json.requests).toEqual([]);
    fake.push('carol', 'please?');
    await t.until(() => fake.received('carol').length === 2);
    const carolsNewCode = codeIn(fake.received('carol')[1])!;
    expect(carolsNewCode).not.toBe(carolsCode);

    // Expired: no longer approvable, pruned, and the next message brings a new code.
    now += 31 * 60_000;
    expect((await t.admin('POST', `/pairing/${carolsNewCode}/approve`)).status).toBe(404);
    expect(await forgetExpiredPairings(t.gateway.store, now)).toBe(1);
    fake.push('carol', 'hello again');
    await t.until(() => fake.received('carol').length === 3);
    expect(codeIn(fake.received('carol')[2])).not.toBe(carolsNewCode);

    const counted = (await t.gateway.metrics.pairing.get()).values;
    const count = (event: string) => counted.find((v) => v.labels.event === event)?.value;
    expect([count('requested'), count('approved'), count('rejected')]).toEqual([4, 1, 1]);
  });

  it('closes direct chats even without allow_users, and "allow sender" answers the open request', async () => {
    const profile = { provider: 'echo', prefix: 'echo: ', access: { pairing: {} } };
    const { fake, t } = await relayGateway(opened, profile);
    fake.push('erin', 'hello');
    await t.until(() => fake.received('erin').length === 1);
    expect(fake.received('erin')[0]).toMatch(/^This assistant answers the people its owner has approved\. To ask, send its owner this code: [A-Z2-9]{4}-[A-Z2-9]{4} \(valid for 60 minutes\)\.$/);

    const asked = await doneWith(t, 'erin', 'hello');
    const allowed = await t.admin('POST', `/messages/${asked.id}/allow-sender`);
    expect(allowed.json.changes).toEqual(['added erin to allow_users']);
    expect((await t.admin('GET', '/pairing')).json.requests).toEqual([]);
    fake.push('erin', 'hi again');
    await t.until(() => fake.received('erin').length === 2);
    expect(fake.received('erin')[1]).toBe('echo: hi again');
  });

  it('answers every Web API request of a stranger with their code, and a reply without {code} is refused naming the field', async () => {
    const t = opened(
      await startTestGateway({
        agents: { assistant: { profile: { provider: 'echo', access: { pairing: {} } }, entries: [{ type: 'channel', channel: 'web_api', config: { api_key: 'k'.repeat(32) } }] } },
      }),
    );
    await t.until(() => t.gateway.keeper.statusOf('assistant.web_api')?.state === 'running');
    const ask = async (content: string) => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/chat/assistant.web_api?wait=true',
        headers: { authorization: `Bearer ${'k'.repeat(32)}`, 'content-type': 'application/json' },
        payload: { userId: 'frank', content },
      });
      return res.json() as { status: string; reply: { text: string } | null };
    };
    const one = await ask('hi');
    const two = await ask('hi?');
    expect(one.status).toBe('answered');
    const code = /code: (\S{4}-\S{4})/.exec(one.reply?.text ?? '')?.[1];
    expect(code).toBeDefined();
    expect(two.reply?.text).toContain(code!);

    const refused = await t.admin('PUT', '/agents/assistant', { provider: 'echo', access: { pairing: { reply: 'Ask the owner.' } } });
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toContain('access.pairing.reply');
    expect(refused.json.error.message).toContain('must contain {code}');
  });

  it('cococat pairing lists the requests, approves one by its code as typed, rejects one, and says why a code does not work', async () => {
    const profile = { provider: 'echo', prefix: 'echo: ', access: { pairing: {} } };
    const { fake, t } = await relayGateway(opened, profile);
    fake.push('gus', 'hello, Gus here');
    fake.push('hal', 'me');
    await t.until(() => fake.received('gus').length === 1 && fake.received('hal').length === 1);
    const [gusCode, halCode] = [codeOf(fake.received('gus')[0]), codeOf(fake.received('hal')[0])];
    const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const printed: string[] = [];
    const opts = { workspace: t.root, url, env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN }, print: (l: string) => printed.push(l) };

    expect(await pairingCommand({ ...opts, action: 'list' })).toBe(0);
    expect(printed).toHaveLength(2);
    expect(printed.find((l) => l.startsWith(gusCode))).toMatch(new RegExp(`^${gusCode}  ${RELAY_ENTRY.replace('.', '\\.')}  gus  expires \\S+Z  "hello, Gus here"$`));
    expect(await pairingCommand({ ...opts, action: 'approve', code: gusCode.toLowerCase().replace('-', '') })).toBe(0);
    expect(printed.at(-1)).toBe(`approved gus on ${RELAY_ENTRY} for agent assistant: added gus to allow_users; told them so`);
    expect(await pairingCommand({ ...opts, action: 'reject', code: halCode })).toBe(0);
    expect(printed.at(-1)).toBe(`rejected the request of hal on ${RELAY_ENTRY}`);
    expect(await pairingCommand({ ...opts, action: 'approve', code: halCode })).toBe(1);
    expect(printed.at(-1)).toMatch(/^HTTP 404: no open pairing request has the code .+: it was approved or rejected already, or it expired$/);
    expect(await pairingCommand({ ...opts, action: 'approve', code: 'nope' })).toBe(1);
    expect(printed.at(-1)).toBe('HTTP 400: code: a pairing code is 8 letters and digits, such as ABCD-EFGH');
    expect(await pairingCommand({ ...opts, action: 'list' })).toBe(0);
    expect(printed.at(-1)).toBe('no pairing requests');
    await t.until(() => fake.received('gus').length === 2);
    expect(fake.received('gus')[1]).toBe('You have been approved: send me your message again.');
  });
});

describe('owners approve in a chat with the agent', () => {
  it('lists the open codes and approves one when an owner sends "approve CODE"; owners are always answered; a wrong code says why', async () => {
    const profile = { provider: 'echo', prefix: 'echo: ', access: { pairing: {}, owners: ['olivia'] } };
    const { fake, t } = await relayGateway(opened, profile);
    fake.push('bob', 'hi, Bob here');
    await t.until(() => fake.received('bob').length === 1);
    const code = codeOf(fake.received('bob')[0]);

    // The owner is answered though not on allow_users; her commands are the gateway's, not the agent's.
    fake.push('olivia', 'hello');
    fake.push('olivia', '/pairing');
    await t.until(() => fake.received('olivia').length === 2);
    expect(fake.received('olivia')[0]).toBe('echo: hello');
    expect(fake.received('olivia')[1]).toMatch(new RegExp(`^Open pairing requests \\(reply "approve CODE" or "reject CODE"\\):\\n${code}  bob on ${RELAY_ENTRY.replace('.', '\\.')}, until \\d\\d:\\d\\d UTC$`));

    fake.push('olivia', `approve ${code.toLowerCase().replace('-', ' ')}`);
    await t.until(() => fake.received('olivia').length === 3 && fake.received('bob').length === 2);
    expect(fake.received('olivia')[2]).toBe(`Approved bob on ${RELAY_ENTRY}: added bob to allow_users; told them so.`);
    expect(fake.received('bob')[1]).toBe('You have been approved: send me your message again.');
    fake.push('bob', 'thanks');
    await t.until(() => fake.received('bob').length === 3);
    expect(fake.received('bob')[2]).toBe('echo: thanks');

    fake.push('olivia', `approve ${code}`);
    fake.push('olivia', 'pairing');
    await t.until(() => fake.received('olivia').length === 5);
    expect(fake.received('olivia').slice(3)).toEqual([
      `no open pairing request has the code ${code}: it was approved or rejected already, or it expired`,
      'No open pairing requests.',
    ]);
    // Someone who is not an owner sending the command is a stranger asking with words.
    fake.push('mallory', `approve ${code}`);
    await t.until(() => fake.received('mallory').length === 1);
    expect(fake.received('mallory')[0]).toMatch(/^This assistant answers the people its owner has approved/);
    const [olivias] = await t.gateway.store.listMessages({ userId: 'olivia', limit: 1 });
    expect((await t.gateway.store.getMessage(olivias!.id))?.timeline.find((e) => e.stage === 'replied')?.detail).toBe("owner's command: list the pairing requests");
  });

  it('answers an owner in Chinese with language: zh', async () => {
    const profile = { provider: 'echo', language: 'zh', access: { pairing: {}, owners: ['olivia'] } };
    const { fake, t } = await relayGateway(opened, profile);
    fake.push('bob', '你好');
    await t.until(() => fake.received('bob').length === 1);
    const code = codeOf(fake.received('bob')[0]);
    fake.push('olivia', '配对');
    await t.until(() => fake.received('olivia').length === 1);
    expect(fake.received('olivia')[0]).toMatch(new RegExp(`^待处理的配对请求（回复“批准 验证码”或“拒绝 验证码”）：\\n${code}  bob，入口 ${RELAY_ENTRY.replace('.', '\\.')}，有效至 \\d\\d:\\d\\d UTC$`));
    fake.push('olivia', `批准${code}`);
    await t.until(() => fake.received('olivia').length === 2 && fake.received('bob').length === 2);
    expect(fake.received('olivia')[1]).toBe(`已批准 bob（入口 ${RELAY_ENTRY}）：added bob to allow_users；已通知对方。`);
    expect(fake.received('bob')[1]).toBe('你已通过验证，请再发一次你的消息。');
    fake.push('olivia', `拒绝 ${code}`);
    fake.push('olivia', '配对');
    await t.until(() => fake.received('olivia').length === 4);
    expect(fake.received('olivia').slice(2)).toEqual([
      `没有验证码为 ${code} 的待处理请求：可能已被批准或拒绝，或已过期。验证码是 8 位字母和数字，例如 ABCD-EFGH。`,
      '没有待处理的配对请求。',
    ]);
  });

  it('rejects a code when an owner sends "拒绝 CODE", and never acts on a code of an agent the sender does not own', async () => {
    const profile = { provider: 'echo', prefix: 'echo: ', access: { pairing: {}, owners: ['olivia'] } };
    const { fake, t } = await relayGateway(opened, profile);
    // A second agent, owned by someone else, on its own entry.
    const other = await t.admin('PUT', '/agents/shop', { provider: 'echo', access: { pairing: {}, owners: ['sam'] } });
    expect(other.status).toBe(201);
    const shopEntry = await t.admin('POST', '/agents/shop/entries', { id: 'web', channel: 'web_api', config: { api_key: 'shop-key-0123456789abcdef' } });
    expect(shopEntry.status).toBe(201);
    await t.until(() => t.gateway.keeper.statusOf('shop.web')?.state === 'running');
    const asked = await t.chat('shop.web', { userId: 'walter', content: 'hi shop' }, { wait: true, key: 'shop-key-0123456789abcdef' });
    const shopCode = codeOf(asked.json.reply.text);

    fake.push('bob', 'hi, Bob here');
    await t.until(() => fake.received('bob').length === 1);
    const code = codeOf(fake.received('bob')[0]);

    // Olivia owns the relay's agent, not the shop: the shop's code is not hers to approve or see.
    fake.push('olivia', `批准${shopCode}`);
    fake.push('olivia', '配对');
    await t.until(() => fake.received('olivia').length === 2);
    expect(fake.received('olivia')[0]).toBe(`no open pairing request has the code ${shopCode}: it was approved or rejected already, or it expired`);
    expect(fake.received('olivia')[1]).not.toContain(shopCode);
    expect(fake.received('olivia')[1]).toContain(code);
    expect((await t.admin('GET', '/pairing')).json.requests.map((r: { code: string }) => r.code).sort()).toEqual([code, shopCode].sort());

    fake.push('olivia', `拒绝 ${code}`);
    await t.until(() => fake.received('olivia').length === 3);
    expect(fake.received('olivia')[2]).toBe(`Rejected bob on ${RELAY_ENTRY}; they were not told.`);
    expect((await t.admin('GET', '/pairing')).json.requests.map((r: { code: string }) => r.code)).toEqual([shopCode]);
    expect(fake.received('bob')).toHaveLength(1);
    expect((await t.admin('GET', '/agents/assistant')).json.profile.access.allow_users ?? []).not.toContain('bob');
    expect((await t.gateway.metrics.pairing.get()).values.find((v) => v.labels.event === 'rejected')?.value).toBe(1);
  });
});
