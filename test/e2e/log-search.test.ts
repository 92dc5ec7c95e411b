import { describe, expect, it } from 'vitest';
import { logPage } from '../../src/server/admin/messages.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { NewInbound } from '../../src/store/store.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();

const inbound = (n: number, content: string): NewInbound => ({
  entryKey: 'desk.web_api', channelType: 'web_api', targetKind: 'agent', targetId: 'desk', dedupKey: `m${n}`, conversationKey: `desk.web_api/u${n}`,
  message: { channelType: 'web_api', sceneId: 'desk', userId: `u${n}`, conversationId: `u${n}`, content, msgType: 'text', msgId: `m${n}`, timestamp: 0, isGroup: false, mentionsBot: true },
});

describe('searching the message log', () => {
  it('reads one window of ids per page and says where to go on, until the oldest message', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const ids: string[] = [];
    // 25 messages; every fourth one holds "refund".
    for (let n = 0; n < 25; n++) ids.push((await store.enqueue(inbound(n, n % 4 === 0 ? `refund ${n}` : `hello ${n}`), 1_000 + n)).id);
    const search = { text: 'refund' };
    const first = await logPage(store, search, undefined, 3, 10);
    // Ids 16..25 read: two matches (n = 16, 20, 24 → three), a full page.
    expect(first.messages.map((m) => m.content)).toEqual(['refund 24', 'refund 20', 'refund 16']);
    expect(first.next).toBe(ids[16]);
    const second = await logPage(store, search, first.next!, 3, 10);
    // Ids below n = 16, down to n = 6: refund 12 and 8; the window ended short of a page.
    expect(second.messages.map((m) => m.content)).toEqual(['refund 12', 'refund 8']);
    expect(second.next).toBe(ids[6]);
    const third = await logPage(store, search, second.next!, 3, 10);
    expect(third).toEqual({ messages: [expect.objectContaining({ content: 'refund 4' }), expect.objectContaining({ content: 'refund 0' })], next: null });
    // Without a filter that scans, pages are plain: next is the last id of a full page.
    const plain = await logPage(store, {}, undefined, 20, 10);
    expect([plain.messages.length, plain.next]).toEqual([20, ids[5]]);
    expect((await logPage(store, {}, plain.next!, 20, 10)).next).toBeNull();
    await store.close();
  });

  it('answers GET /messages with the page and its next cursor', async () => {
    const t = opened(await startTestGateway({ agents: { desk: { profile: { provider: 'echo' }, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('desk.web_api')?.state === 'running');
    for (const content of ['refund please', 'hello', 'refund now']) await t.chat('desk.web_api', { userId: 'ann', content }, { wait: true });
    const found = await t.admin('GET', '/messages?text=refund&limit=1');
    expect(found.json.messages.map((m: { content: string }) => m.content)).toEqual(['refund now']);
    const rest = await t.admin('GET', `/messages?text=refund&limit=1&before=${found.json.next}`);
    expect(rest.json.messages.map((m: { content: string }) => m.content)).toEqual(['refund please']);
    expect((await t.admin('GET', `/messages?text=refund&before=${rest.json.next}`)).json).toEqual({ messages: [], next: null });
  });
});
