import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../helpers/cleanup.js';
import { relayGateway } from '../helpers/relay.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();

describe("an operator's reply to a message", () => {
  it('goes to the user through the channel, after the agent\'s answer, split to the channel\'s limit, and shows in the message\'s timeline', async () => {
    const { fake, t } = await relayGateway(opened, { provider: 'echo', prefix: 'echo: ' });
    fake.push('alice', 'my order never came');
    await t.until(() => fake.received('alice').length === 1);
    const [message] = await t.gateway.store.listMessages({ limit: 1 });

    const res = await t.admin('POST', `/messages/${message!.id}/reply`, { text: 'A person here: I am looking into it.' });
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ messageId: message!.id, chunks: 1 });
    await t.until(() => fake.received('alice').length === 2);
    expect(fake.received('alice')[1]).toBe('A person here: I am looking into it.');

    // The relay takes 4 000 bytes per message: a longer reply goes in two, in order.
    const long = `${'a'.repeat(3_000)} ${'b'.repeat(3_000)}`;
    expect((await t.admin('POST', `/messages/${message!.id}/reply`, { text: long })).json.chunks).toBe(2);
    await t.until(() => fake.received('alice').length === 4);
    expect(fake.received('alice').slice(2).join(' ')).toBe(long);

    // The fake has the last chunk a moment before the store marks it sent.
    const detail = await t.until(async () => {
      const json = (await t.admin('GET', `/messages/${message!.id}`)).json;
      return json.replies.every((r: { status: string }) => r.status === 'sent') && json;
    });
    expect(detail.timeline.filter((e: { stage: string }) => e.stage === 'operator_reply').map((e: { detail: string }) => e.detail)).toEqual(['1 chunk(s) by admin', '2 chunk(s) by admin']);
    expect(detail.replies.map((r: { status: string }) => r.status)).toEqual(['sent', 'sent', 'sent', 'sent']);

    // The conversation as alice saw it, for whoever takes it over: who wrote what, oldest first.
    fake.push('alice', 'thanks');
    await t.until(() => fake.received('alice').length === 5);
    const url = '/entries/assistant.relay/conversations/alice/transcript';
    // Delivered, and marked so (the fake has it a moment before the store says sent).
    const { turns } = await t.until(async () => {
      const json = (await t.admin('GET', url)).json;
      return json.turns.length === 7 && json.turns.every((x: { status: string }) => x.status === 'sent' || x.status === 'done') && json;
    });
    expect(turns.map((x: { role: string; by?: string; text: string; status: string }) => [x.role, x.by ?? 'alice', x.text.slice(0, 40), x.status])).toEqual([
      ['user', 'alice', 'my order never came', 'done'],
      ['bot', 'agent', 'echo: my order never came', 'sent'],
      ['bot', 'operator', 'A person here: I am looking into it.', 'sent'],
      ['bot', 'operator', 'a'.repeat(40), 'sent'],
      ['bot', 'operator', 'b'.repeat(40), 'sent'],
      ['user', 'alice', 'thanks', 'done'],
      ['bot', 'agent', 'echo: thanks', 'sent'],
    ]);
    expect((await t.admin('GET', `${url}?limit=1`)).json.turns.map((x: { text: string }) => x.text)).toEqual(['thanks', 'echo: thanks']);
    expect((await t.admin('GET', '/entries/assistant.relay/conversations/nobody/transcript')).json.turns).toEqual([]);
    expect((await t.admin('GET', '/entries/assistant.nope/conversations/alice/transcript')).status).toBe(404);
    const bad = await t.admin('GET', `${url}?limit=500`);
    expect([bad.status, bad.json.error.field]).toEqual([400, 'limit']);
  });

  it('refuses an empty text or an unknown field naming it, and an unknown message, writing nothing', async () => {
    const t = opened(await startTestGateway({ agents: { assistant: { profile: { provider: 'echo' }, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('assistant.web_api')?.state === 'running');
    const sent = await t.chat('assistant.web_api', { userId: 'bob', content: 'hi' }, { wait: true });
    const id = sent.json.messageId;
    const empty = await t.admin('POST', `/messages/${id}/reply`, { text: '   ' });
    expect(empty.status).toBe(400);
    expect(empty.json.error.field).toBe('text');
    expect((await t.admin('POST', `/messages/${id}/reply`, { text: 'x', to: 'someone' })).status).toBe(400);
    expect((await t.admin('POST', '/messages/987654/reply', { text: 'x' })).status).toBe(404);
    const longKey = await t.admin('POST', `/messages/${id}/reply`, { text: 'x' }, { 'idempotency-key': 'k'.repeat(129) });
    expect(longKey.status).toBe(400);
    expect(longKey.json.error.field).toBe('Idempotency-Key');
    expect((await t.gateway.store.getMessage(id))!.replies).toHaveLength(1);

    // On the Web API the reply reaches the client's stream like an answer.
    expect((await t.admin('POST', `/messages/${id}/reply`, { text: 'from a person' })).status).toBe(202);
    await t.until(async () => (await t.gateway.store.getMessage(id))!.replies.map((r) => `${r.text}:${r.status}`).join() === 'hi:sent,from a person:sent');
    const feed = await t.gateway.store.readFeed('assistant.web_api', 'bob', 0, 10);
    expect(feed.map((f) => (f.payload as { text?: string }).text)).toEqual(['hi', 'from a person']);
  });

  it('sends a reply repeated with the same Idempotency-Key once, and one with another key again', async () => {
    const { fake, t } = await relayGateway(opened, { provider: 'echo' });
    fake.push('alice', 'hello');
    await t.until(() => fake.received('alice').length === 1);
    const [message] = await t.gateway.store.listMessages({ limit: 1 });
    const url = `/messages/${message!.id}/reply`;
    // A panel that lost the first response and sent the request again, three times at once.
    const sent = await Promise.all([0, 1, 2].map(() => t.admin('POST', url, { text: 'one moment' }, { 'idempotency-key': 'compose-1' })));
    expect(sent.map((r) => r.status)).toEqual([202, 202, 202]);
    expect(sent.filter((r) => r.json.duplicate === false)).toHaveLength(1);
    expect(new Set(sent.map((r) => r.json.idempotencyKeys[0])).size).toBe(1);
    expect((await t.admin('POST', url, { text: 'one moment' }, { 'idempotency-key': 'compose-2' })).json.duplicate).toBe(false);
    await t.until(() => fake.received('alice').length === 3);
    expect(fake.received('alice')).toEqual(['hello', 'one moment', 'one moment']);
    const detail = await t.gateway.store.getMessage(message!.id);
    expect(detail!.timeline.filter((e) => e.stage === 'operator_reply')).toHaveLength(2);
  });

  it('sends the images an operator attaches after the text, and refuses one that is not an image, naming it', async () => {
    const t = opened(await startTestGateway({ agents: { assistant: { profile: { provider: 'echo' }, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('assistant.web_api')?.state === 'running');
    const id = (await t.chat('assistant.web_api', { userId: 'ivy', content: 'where do I click?' }, { wait: true })).json.messageId;
    const png = solidPng(8, 8, [200, 30, 30]).toString('base64');
    const bad = await t.admin('POST', `/messages/${id}/reply`, { text: 'see', images: [{ data_base64: Buffer.from('not an image').toString('base64') }] });
    expect([bad.status, bad.json.error.field]).toEqual([400, 'images.0.data_base64']);
    const res = await t.admin('POST', `/messages/${id}/reply`, { text: 'Here, the red button:', images: [{ data_base64: png }] });
    expect(res.json).toMatchObject({ chunks: 2, duplicate: false });
    // An image alone is a reply too.
    expect((await t.admin('POST', `/messages/${id}/reply`, { images: [{ data_base64: png }] })).json.chunks).toBe(1);
    await t.until(async () => (await t.gateway.store.readFeed('assistant.web_api', 'ivy', 0, 10)).length === 4);
    const feed = (await t.gateway.store.readFeed('assistant.web_api', 'ivy', 0, 10)).map((f) => f.payload as { text: string; image?: { url: string } });
    expect(feed.map((p) => [p.text, p.image?.url.slice(0, 22)])).toEqual([
      ['where do I click?', undefined],
      ['Here, the red button:', undefined],
      ['', 'data:image/png;base64,'],
      ['', 'data:image/png;base64,'],
    ]);
    expect(feed[2]!.image!.url).toBe(`data:image/png;base64,${png}`);
  });
});
