import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/core/message.js';
import { RATE_BUCKET_IDLE_MS, type ClaimOptions, type HistoryKey, type InboundItem, type InboundResult, type MessageFilter, type NewInbound, type NewOutbound, type Store } from '../../src/store/store.js';

/**
 * The behaviour every Store must have. Uses only the interface (no SQL), so the SQLite and
 * PostgreSQL implementations run it unchanged. Time is fixed numbers, never the system clock.
 */
const t0 = 1_700_000_000_000;
const LEASE = 30_000;
const DAY = 86_400_000;
const ENTRY = 'bot.web';

const claim = (now: number, limit = 10, leaseMs = LEASE): ClaimOptions => ({ now, leaseMs, limit, owner: 'w1' });

function msg(over: Partial<ChatMessage> = {}): ChatMessage {
  return {
    channelType: 'web_api', sceneId: 'bot', userId: 'u1', conversationId: 'c1', content: 'hello',
    msgType: 'text', msgId: 'm1', timestamp: t0, isGroup: false, mentionsBot: true, ...over,
  };
}

function inbound(dedup: string, o: { entry?: string; conv?: string; user?: string } = {}): NewInbound {
  const entryKey = o.entry ?? ENTRY;
  const conv = o.conv ?? 'c1';
  return {
    entryKey, channelType: 'web_api', targetKind: 'agent', targetId: 'bot', dedupKey: dedup,
    conversationKey: `${entryKey}/${conv}`,
    message: msg({ msgId: dedup, conversationId: conv, userId: o.user ?? `u-${conv}`, content: `text ${dedup}` }),
  };
}

const hkey = (item: InboundItem, agentId = 'bot'): HistoryKey => ({ agentId, entryKey: item.entryKey, conversationId: item.message.conversationId });

function reply(item: InboundItem, index: number, now: number, over: Partial<NewOutbound> = {}): NewOutbound {
  return {
    entryKey: item.entryKey, channelType: item.channelType, conversationId: item.message.conversationId,
    userId: item.message.userId, idempotencyKey: `${item.id}:${index}`, text: `reply ${index}`, format: 'text',
    chunkIndex: index, chunkCount: 3, replyTo: item.id, inReplyTo: item.message.msgId, isGroup: false,
    availableAt: now, expiresAt: now + 60_000, ...over,
  };
}

function result(item: InboundItem, now: number, replies: NewOutbound[] = [], over: Partial<InboundResult> = {}): InboundResult {
  const turns = [
    { role: 'user' as const, content: item.message.content, at: now },
    { role: 'assistant' as const, content: `answer to ${item.message.content}`, at: now },
  ];
  return { now, status: 'done', replies, history: { key: hkey(item), turns }, ...over };
}

const ids = (items: { id: string }[]) => items.map((i) => i.id);

export function runStoreContract(name: string, create: () => Promise<Store>): void {
  describe(name, () => {
    let store: Store;
    beforeEach(async () => {
      store = await create();
    });
    afterEach(async () => {
      await store.close();
    });

    async function enqueueAndClaim(dedup: string, now: number, o?: { entry?: string; conv?: string }): Promise<InboundItem> {
      const { id } = await store.enqueue(inbound(dedup, o), now);
      const claimed = await store.claimInbound(claim(now, 100));
      const item = claimed.find((c) => c.id === id);
      if (!item) throw new Error(`message ${dedup} was not claimable`);
      return item;
    }

    const stages = async (id: string) => (await store.getMessage(id))?.timeline.map((e) => e.stage);

    describe('enqueue', () => {
      it('stores a message, returns a string id and records "received"', async () => {
        const a = await store.enqueue(inbound('a'), t0);
        const b = await store.enqueue(inbound('b'), t0 + 1);
        expect(a.duplicate).toBe(false);
        expect(a.acceptedAt).toBe(t0);
        expect(typeof a.id).toBe('string');
        expect(b.id).not.toBe(a.id);
        const detail = await store.getMessage(a.id);
        expect(detail).toMatchObject({ id: a.id, entryKey: ENTRY, targetKind: 'agent', targetId: 'bot', status: 'queued', attempts: 0, createdAt: t0, content: 'text a', userId: 'u-c1', conversationId: 'c1' });
        expect(detail?.timeline).toEqual([{ at: t0, stage: 'received' }]);
      });

      it('answers a duplicate (entryKey, dedupKey) with the first id and time, and stores nothing', async () => {
        const first = await store.enqueue(inbound('dup'), t0);
        const again = await store.enqueue({ ...inbound('dup'), message: msg({ content: 'changed' }) }, t0 + 5);
        expect(again).toEqual({ id: first.id, duplicate: true, acceptedAt: t0 });
        expect(await store.listMessages()).toHaveLength(1);
        expect((await store.getMessage(first.id))?.content).toBe('text dup');
        expect(await stages(first.id)).toEqual(['received']);
      });

      it('lets exactly one of concurrent duplicate enqueues win', async () => {
        const rs = await Promise.all([1, 2, 3].map(() => store.enqueue(inbound('race'), t0)));
        expect(rs.filter((r) => !r.duplicate)).toHaveLength(1);
        expect(new Set(rs.map((r) => r.id)).size).toBe(1);
        expect((await store.stats()).inboundQueued).toBe(1);
      });

      it('treats the same dedupKey on another entry as another message', async () => {
        const a = await store.enqueue(inbound('x', { entry: 'bot.web' }), t0);
        const b = await store.enqueue(inbound('x', { entry: 'bot.feishu' }), t0);
        expect(b.duplicate).toBe(false);
        expect(b.id).not.toBe(a.id);
      });

      it('round-trips message, replyMeta and payload JSON exactly', async () => {
        const message = msg({
          content: 'héllo 🐱 世界', userName: 'Zoë', replyMeta: { thread: 'r1', n: 0.1, list: [1, 'two', null, { deep: [true] }] },
          media: [{ kind: 'image', ref: 'img-1', mimeType: 'image/png' }], raw: { a: { b: [1, 2, { c: null }] }, 'ключ': '值' },
        });
        const { id } = await store.enqueue({ ...inbound('json'), message }, t0);
        expect((await store.getMessage(id))?.message).toStrictEqual(message);
        const [item] = await store.claimInbound(claim(t0));
        expect(item?.message).toStrictEqual(message);
        const replyMeta = { token: 'tk', nested: { arr: [1, { x: 'y' }], empty: {} } };
        await store.completeInbound(id, item!.leaseToken, result(item!, t0, [reply(item!, 0, t0, { replyMeta })]));
        const [out] = await store.claimOutbound(claim(t0));
        expect(out?.replyMeta).toStrictEqual(replyMeta);
        const payload = { text: 'hi 👋', parts: [{ t: 1 }, [null, false]], n: -1.5 };
        await store.appendFeed({ entryKey: ENTRY, conversationId: 'c1', idempotencyKey: 'k', replyTo: id, payload }, t0);
        expect((await store.readFeed(ENTRY, 'c1', 0, 10))[0]?.payload).toStrictEqual(payload);
      });
    });

    describe('claimInbound', () => {
      it('claims only the head of each conversation, oldest first, and records "claimed"', async () => {
        const a1 = await store.enqueue(inbound('a1', { conv: 'A' }), t0);
        const a2 = await store.enqueue(inbound('a2', { conv: 'A' }), t0 + 1);
        const b1 = await store.enqueue(inbound('b1', { conv: 'B' }), t0 + 2);
        const first = await store.claimInbound(claim(t0 + 10));
        expect(ids(first)).toEqual([a1.id, b1.id]);
        expect(first[0]).toMatchObject({ status: 'leased', attempts: 1, leaseUntil: t0 + 10 + LEASE, dedupKey: 'a1', conversationKey: `${ENTRY}/A` });
        expect(first[0]?.leaseToken).not.toBe(first[1]?.leaseToken);
        expect(await store.claimInbound(claim(t0 + 11))).toEqual([]);
        expect(await stages(a1.id)).toEqual(['received', 'claimed']);
        expect(await store.completeInbound(a1.id, first[0]!.leaseToken, result(first[0]!, t0 + 12))).toEqual([]);
        expect(ids(await store.claimInbound(claim(t0 + 13)))).toEqual([a2.id]);
      });

      it('respects limit, taking the oldest heads', async () => {
        const all = [];
        for (let i = 0; i < 5; i++) all.push((await store.enqueue(inbound(`m${i}`, { conv: `c${i}` }), t0 + i)).id);
        expect(ids(await store.claimInbound(claim(t0 + 10, 3)))).toEqual(all.slice(0, 3));
        expect(ids(await store.claimInbound(claim(t0 + 10, 3)))).toEqual(all.slice(3));
      });

      it('blocks a conversation behind a live lease and reclaims it when the lease expires', async () => {
        const a = await enqueueAndClaim('a', t0);
        const next = await store.enqueue(inbound('a-next'), t0 + 1);
        expect(await store.claimInbound(claim(t0 + LEASE - 1))).toEqual([]);
        const [again] = await store.claimInbound(claim(t0 + LEASE));
        expect(again?.id).toBe(a.id);
        expect(again?.attempts).toBe(2);
        expect(again?.leaseToken).not.toBe(a.leaseToken);
        expect(again?.leaseUntil).toBe(t0 + 2 * LEASE);
        expect(await stages(a.id)).toEqual(['received', 'claimed', 'claimed']);
        expect(ids(await store.claimInbound(claim(t0 + LEASE + 1)))).not.toContain(next.id);
      });

      it('rejects every lease-guarded op with a stale token and writes nothing', async () => {
        const a = await enqueueAndClaim('a', t0);
        const [b] = await store.claimInbound(claim(t0 + LEASE));
        const stale = a.leaseToken;
        const now = t0 + LEASE + 1;
        expect(await store.renewInbound(a.id, stale, now + 99_999)).toBe(false);
        expect(await store.completeInbound(a.id, stale, result(a, now, [reply(a, 0, now)]))).toBe(false);
        expect(await store.retryInbound(a.id, stale, { now, availableAt: now, error: 'x' })).toBe(false);
        expect(await store.deadLetterInbound(a.id, stale, { now, error: 'x' })).toBe(false);
        expect(await store.completeInbound(a.id, 'not-a-token', result(a, now))).toBe(false);
        const d = await store.getMessage(a.id);
        expect(d).toMatchObject({ status: 'leased', attempts: 2, replies: [] });
        expect(d?.lastError).toBeUndefined();
        expect(d?.timeline.map((e) => e.stage)).toEqual(['received', 'claimed', 'claimed']);
        // Each claim's figures as data, for a panel that words them in its own language.
        expect(d?.timeline.filter((e) => e.stage === 'claimed').map((e) => e.facts)).toEqual([{ attempt: 1 }, { attempt: 2, by: 'w1' }]);
        expect(await store.loadHistory(hkey(a), 10)).toEqual([]);
        expect(await store.claimOutbound(claim(now))).toEqual([]);
        // The new holder's lease was not extended by the stale renew: it expires on time.
        expect(ids(await store.claimInbound(claim(b!.leaseUntil)))).toEqual([a.id]);
      });

      it('answers false for unknown ids and for items that are not leased', async () => {
        const { id } = await store.enqueue(inbound('q'), t0);
        expect(await store.renewInbound(id, 'x', t0)).toBe(false);
        expect(await store.completeInbound('987654321', 'x', result((await store.claimInbound(claim(t0)))[0]!, t0))).toBe(false);
        const a = (await store.getMessage(id))!;
        expect(a.status).toBe('leased');
      });

      it('extends a lease with renewInbound', async () => {
        const a = await enqueueAndClaim('a', t0);
        expect(await store.renewInbound(a.id, a.leaseToken, t0 + 2 * LEASE)).toBe(true);
        expect(await store.claimInbound(claim(t0 + LEASE))).toEqual([]);
        expect(ids(await store.claimInbound(claim(t0 + 2 * LEASE)))).toEqual([a.id]);
      });

      it('keeps order behind a retried head that is not yet available', async () => {
        const a = await enqueueAndClaim('a', t0);
        const a2 = await store.enqueue(inbound('a2'), t0 + 1);
        const b = await store.enqueue(inbound('b', { conv: 'B' }), t0 + 2);
        expect(await store.retryInbound(a.id, a.leaseToken, { now: t0 + 3, availableAt: t0 + 1000, error: 'agent timeout' })).toBe(true);
        expect(await store.getMessage(a.id)).toMatchObject({ status: 'queued', attempts: 1, lastError: 'agent timeout' });
        expect((await store.getMessage(a.id))?.timeline.at(-1)).toEqual({ at: t0 + 3, stage: 'retry', detail: 'agent timeout' });
        expect(ids(await store.claimInbound(claim(t0 + 999)))).toEqual([b.id]);
        const [again] = await store.claimInbound(claim(t0 + 1000));
        expect(again).toMatchObject({ id: a.id, attempts: 2, lastError: 'agent timeout' });
        expect(await store.completeInbound(a.id, a.leaseToken, result(a, t0 + 1001))).toBe(false);
        expect(await store.completeInbound(a.id, again!.leaseToken, result(again!, t0 + 1001))).toEqual([]);
        expect(ids(await store.claimInbound(claim(t0 + 1002)))).toEqual([a2.id]);
      });

      it('dead-letters a message and lets its conversation move on', async () => {
        const a = await enqueueAndClaim('a', t0);
        const a2 = await store.enqueue(inbound('a2'), t0 + 1);
        expect(await store.deadLetterInbound(a.id, a.leaseToken, { now: t0 + 5, error: 'poison' })).toBe(true);
        expect(await store.getMessage(a.id)).toMatchObject({ status: 'dead', lastError: 'poison' });
        expect((await store.getMessage(a.id))?.timeline.at(-1)).toEqual({ at: t0 + 5, stage: 'dead', detail: 'poison' });
        expect(await store.deadLetterInbound(a.id, a.leaseToken, { now: t0 + 6, error: 'again' })).toBe(false);
        expect(ids(await store.claimInbound(claim(t0 + 6)))).toEqual([a2.id]);
      });

      it('defers a message without counting the attempt or an error, keeping its conversation waiting until then', async () => {
        const a = await enqueueAndClaim('a', t0);
        const b = await store.enqueue(inbound('b', { conv: 'B' }), t0 + 1);
        expect(await store.deferInbound(a.id, 'stale', { now: t0 + 2, availableAt: t0 + 2_000, why: 'x' })).toBe(false);
        expect(await store.deferInbound(a.id, a.leaseToken, { now: t0 + 2, availableAt: t0 + 2_000, why: 'more may follow' })).toBe(true);
        const d = await store.getMessage(a.id);
        expect(d).toMatchObject({ status: 'queued', attempts: 0 });
        expect(d?.lastError).toBeUndefined();
        expect(d?.timeline.at(-1)).toEqual({ at: t0 + 2, stage: 'waiting', detail: 'more may follow' });
        expect(await store.deferInbound(a.id, a.leaseToken, { now: t0 + 3, availableAt: t0 + 9, why: 'again' })).toBe(false);
        expect(ids(await store.claimInbound(claim(t0 + 1_999)))).toEqual([b.id]);
        const [again] = await store.claimInbound(claim(t0 + 2_000));
        expect(again).toMatchObject({ id: a.id, attempts: 1 });
      });

      it('lists the queued messages after a head, and answers some of them with it in one transaction', async () => {
        const a = await enqueueAndClaim('a', t0);
        const a2 = await store.enqueue(inbound('a2'), t0 + 10);
        const a3 = await store.enqueue(inbound('a3'), t0 + 20);
        const b = await store.enqueue(inbound('b', { conv: 'B' }), t0 + 30);
        const after = await store.queuedAfter(a.conversationKey, a.id, 10);
        expect(after.map((m) => [m.id, m.createdAt, m.message.content])).toEqual([[a2.id, t0 + 10, 'text a2'], [a3.id, t0 + 20, 'text a3']]);
        expect(ids(await store.queuedAfter(a.conversationKey, a.id, 1))).toEqual([a2.id]);
        expect(ids(await store.queuedAfter(a.conversationKey, a2.id, 10))).toEqual([a3.id]);
        expect(await store.queuedAfter(a.conversationKey, 'nope', 10)).toEqual([]);

        const now = t0 + 40;
        const done = await store.completeInbound(a.id, a.leaseToken, result(a, now, [], { absorbed: { ids: [a2.id], detail: `answered with #${a.id}` } }));
        expect(done).toEqual([]);
        expect(await store.getMessage(a.id)).toMatchObject({ status: 'done' });
        const d2 = await store.getMessage(a2.id);
        expect(d2).toMatchObject({ status: 'done', attempts: 0 });
        expect(d2?.timeline.at(-1)).toEqual({ at: now, stage: 'replied', detail: `answered with #${a.id}` });
        // The conversation goes on with the first message not answered.
        expect(ids(await store.claimInbound(claim(now)))).toEqual([a3.id, b.id]);
        expect(await store.queuedAfter(a.conversationKey, a.id, 10)).toEqual([]);
      });

      it('refuses to answer with a message that is not a queued one of the same conversation, writing nothing', async () => {
        const a = await enqueueAndClaim('a', t0);
        const b = await store.enqueue(inbound('b', { conv: 'B' }), t0 + 1);
        const now = t0 + 2;
        await expect(store.completeInbound(a.id, a.leaseToken, result(a, now, [reply(a, 0, now)], { absorbed: { ids: [b.id], detail: 'x' } }))).rejects.toThrow();
        await expect(store.completeInbound(a.id, a.leaseToken, result(a, now, [], { absorbed: { ids: ['987654321'], detail: 'x' } }))).rejects.toThrow();
        expect(await store.getMessage(a.id)).toMatchObject({ status: 'leased', replies: [] });
        expect(await store.getMessage(b.id)).toMatchObject({ status: 'queued' });
        expect(await store.loadHistory(hkey(a), 10)).toEqual([]);
        expect(await store.completeInbound(a.id, a.leaseToken, result(a, now))).toEqual([]);
        expect(ids(await store.claimInbound(claim(now)))).toEqual([b.id]);
      });
    });

    describe('completeInbound', () => {
      it('sets a channel state value with the completion, and not when the lease is lost or the completion fails', async () => {
        const state = (value: string) => ({ channelState: { entryKey: ENTRY, name: 'handoff:c1', value } });
        const a = await enqueueAndClaim('a', t0);
        expect(await store.completeInbound(a.id, 'not-the-token', result(a, t0 + 1, [], state('stale')))).toBe(false);
        expect(await store.getChannelState(ENTRY, 'handoff:c1')).toBeUndefined();
        // A completion that throws (a wrong absorbed id) leaves no state behind either.
        await expect(store.completeInbound(a.id, a.leaseToken, result(a, t0 + 1, [], { ...state('broken'), absorbed: { ids: ['987654321'], detail: 'x' } }))).rejects.toThrow();
        expect(await store.getChannelState(ENTRY, 'handoff:c1')).toBeUndefined();
        expect(await store.completeInbound(a.id, a.leaseToken, result(a, t0 + 2, [reply(a, 0, t0 + 2)], state('{"until":9}')))).toEqual([]);
        expect(await store.getChannelState(ENTRY, 'handoff:c1')).toBe('{"until":9}');
        expect((await store.listChannelState('handoff:'))[0]?.updatedAt).toBe(t0 + 2);
        expect((await store.getMessage(a.id))?.replies).toHaveLength(1);
      });

      it('leases the reply chunks to the caller when asked and nothing of the conversation waits before them', async () => {
        await store.enqueue(inbound('c1', { conv: 'conv' }), t0);
        await store.enqueue(inbound('c2', { conv: 'conv' }), t0);
        const [a] = await store.claimInbound(claim(t0));
        const handed = await store.completeInbound(a!.id, a!.leaseToken, {
          ...result(a!, t0 + 1, [reply(a!, 0, t0 + 1), reply(a!, 1, t0 + 1)]),
          claim: { leaseMs: 1_000, owner: 'w1' },
        });
        expect(handed && handed.map((o) => [o.chunkIndex, o.status, o.attempts, o.leaseUntil])).toEqual([[0, 'leased', 1, t0 + 1_001], [1, 'leased', 1, t0 + 1_001]]);
        expect(await store.claimOutbound(claim(t0 + 2))).toEqual([]);
        // The next message of the conversation finishes while those chunks are still out: its chunk waits behind them.
        const [b] = await store.claimInbound(claim(t0 + 2));
        expect(await store.completeInbound(b!.id, b!.leaseToken, { ...result(b!, t0 + 3, [reply(b!, 0, t0 + 3)]), claim: { leaseMs: 1_000, owner: 'w1' } })).toEqual([]);
        expect(await store.markSent(handed ? handed[0]!.id : '', handed ? handed[0]!.leaseToken : '', { now: t0 + 4 })).toBe(true);
        expect(await store.claimOutbound(claim(t0 + 4))).toEqual([]);
        expect(await store.markSent(handed ? handed[1]!.id : '', handed ? handed[1]!.leaseToken : '', { now: t0 + 4 })).toBe(true);
        const next = await store.claimOutbound(claim(t0 + 5));
        expect(next.map((o) => [o.replyTo, o.chunkIndex])).toEqual([[b!.id, 0]]);
      });

      it('appends the chunks to the feed and stores them as sent, in the same transaction, when they are next in line', async () => {
        await store.enqueue(inbound('f1', { conv: 'conv' }), t0);
        await store.enqueue(inbound('f2', { conv: 'conv' }), t0);
        const [a] = await store.claimInbound(claim(t0));
        const stored = await store.completeInbound(a!.id, a!.leaseToken, {
          ...result(a!, t0 + 1, [reply(a!, 0, t0 + 1, { chunkCount: 2 }), reply(a!, 1, t0 + 1, { chunkCount: 2 })]),
          claim: { leaseMs: 1_000, owner: 'w1' },
          feed: [{ text: 'one' }, { text: 'two' }],
        });
        const feed = await store.feedRepliesTo(ENTRY, a!.id);
        expect(feed.map((f) => [f.conversationId, f.replyTo, f.payload, f.createdAt])).toEqual([
          ['conv', a!.id, { text: 'one' }, t0 + 1],
          ['conv', a!.id, { text: 'two' }, t0 + 1],
        ]);
        expect(feed[1]!.seq).toBeGreaterThan(feed[0]!.seq);
        expect(stored && stored.map((o) => [o.chunkIndex, o.status, o.sentAt, o.platformMessageId])).toEqual([
          [0, 'sent', t0 + 1, String(feed[0]!.seq)],
          [1, 'sent', t0 + 1, String(feed[1]!.seq)],
        ]);
        expect(await store.claimOutbound(claim(t0 + 2))).toEqual([]);
        const d = await store.getMessage(a!.id);
        expect(d?.replies.map((r) => [r.status, r.sentAt, r.platformMessageId])).toEqual([
          ['sent', t0 + 1, String(feed[0]!.seq)],
          ['sent', t0 + 1, String(feed[1]!.seq)],
        ]);
        expect(d?.timeline.filter((e) => e.stage === 'sent').map((e) => [e.detail, e.facts])).toEqual([
          [`chunk 1/2, platform id ${feed[0]!.seq}`, { chunk: 1, of: 2, platformId: String(feed[0]!.seq) }],
          [`chunk 2/2, platform id ${feed[1]!.seq}`, { chunk: 2, of: 2, platformId: String(feed[1]!.seq) }],
        ]);
        // With a chunk of the conversation still waiting in the outbox, the next reply waits behind it, out of the feed.
        const [b] = await store.claimInbound(claim(t0 + 2));
        await store.completeInbound(b!.id, b!.leaseToken, result(b!, t0 + 3, [reply(b!, 0, t0 + 3)]));
        await store.enqueue(inbound('f3', { conv: 'conv' }), t0 + 3);
        const [c] = await store.claimInbound(claim(t0 + 3));
        expect(await store.completeInbound(c!.id, c!.leaseToken, { ...result(c!, t0 + 4, [reply(c!, 0, t0 + 4)]), feed: [{ text: 'three' }] })).toEqual([]);
        expect(await store.feedRepliesTo(ENTRY, c!.id)).toEqual([]);
        expect((await store.claimOutbound(claim(t0 + 5))).map((o) => [o.replyTo, o.status])).toEqual([[b!.id, 'leased']]);
        expect((await store.getMessage(c!.id))?.replies.map((r) => r.status)).toEqual(['pending']);
      });

      it('returns a handed-over chunk to the queue when its worker dies (lease expiry)', async () => {
        await store.enqueue(inbound('h1', { conv: 'conv' }), t0);
        const [a] = await store.claimInbound(claim(t0));
        const handed = await store.completeInbound(a!.id, a!.leaseToken, { ...result(a!, t0, [reply(a!, 0, t0)]), claim: { leaseMs: 1_000, owner: 'dies' } });
        expect(handed).toHaveLength(1);
        expect(await store.claimOutbound(claim(t0 + 999))).toEqual([]);
        const again = await store.claimOutbound(claim(t0 + 1_000));
        expect(again.map((o) => [o.id, o.attempts])).toEqual([[handed ? handed[0]!.id : '', 2]]);
      });

      it('marks done, queues the replies, appends history and records "replied" atomically', async () => {
        const a = await enqueueAndClaim('a', t0);
        const replies = [reply(a, 0, t0 + 5), reply(a, 1, t0 + 5), reply(a, 1, t0 + 5, { text: 'dup key' }), reply(a, 2, t0 + 5)];
        expect(await store.completeInbound(a.id, a.leaseToken, result(a, t0 + 5, replies))).toEqual([]);
        const d = await store.getMessage(a.id);
        expect(d?.status).toBe('done');
        expect(d?.replies.map((r) => [r.text, r.status, r.chunkIndex, r.replyTo, r.createdAt])).toEqual([
          ['reply 0', 'pending', 0, a.id, t0 + 5], ['reply 1', 'pending', 1, a.id, t0 + 5], ['reply 2', 'pending', 2, a.id, t0 + 5],
        ]);
        expect(d?.timeline.map((e) => [e.stage, e.at])).toEqual([['received', t0], ['claimed', t0], ['replied', t0 + 5]]);
        expect(await store.loadHistory(hkey(a), 10)).toEqual(result(a, t0 + 5).history.turns);
        expect(await store.completeInbound(a.id, a.leaseToken, result(a, t0 + 6, [reply(a, 0, t0 + 6)]))).toBe(false);
        expect((await store.getMessage(a.id))?.replies).toHaveLength(3);
        expect(await store.loadHistory(hkey(a), 10)).toHaveLength(2);
      });

      it('ignores a reply whose idempotency key already exists', async () => {
        const a = await enqueueAndClaim('a', t0);
        await store.completeInbound(a.id, a.leaseToken, result(a, t0, [reply(a, 0, t0, { idempotencyKey: 'same' })]));
        const b = await enqueueAndClaim('b', t0 + 1, { conv: 'B' });
        expect(await store.completeInbound(b.id, b.leaseToken, result(b, t0 + 1, [reply(b, 0, t0 + 1, { idempotencyKey: 'same' })]))).toEqual([]);
        expect((await store.getMessage(b.id))?.replies).toEqual([]);
        expect((await store.getMessage(b.id))?.status).toBe('done');
      });

      it('gives a reply\'s attempts and time as data, and the rest of its detail as written', async () => {
        const a = await enqueueAndClaim('a', t0);
        await store.completeInbound(a.id, a.leaseToken, result(a, t0 + 5, [reply(a, 0, t0 + 5)], { detail: '2 attempt(s), 840 ms, 12 + 30 tokens' }));
        const b = await enqueueAndClaim('b', t0 + 6, { conv: 'B' });
        await store.completeInbound(b.id, b.leaseToken, result(b, t0 + 7, [reply(b, 0, t0 + 7)], { detail: '1 attempt(s), 3 ms' }));
        const replied = async (id: string) => (await store.getMessage(id))?.timeline.find((e) => e.stage === 'replied');
        expect(await replied(a.id)).toEqual({ at: t0 + 5, stage: 'replied', detail: '2 attempt(s), 840 ms, 12 + 30 tokens', facts: { attempts: 2, ms: 840, more: ', 12 + 30 tokens' } });
        expect((await replied(b.id))?.facts).toEqual({ attempts: 1, ms: 3 });
      });

      it('records a fallback with its detail', async () => {
        const a = await enqueueAndClaim('a', t0);
        await store.recordEvent(a.id, { at: t0 + 1, stage: 'agent_error', detail: 'HTTP 500' });
        expect(await store.completeInbound(a.id, a.leaseToken, result(a, t0 + 2, [reply(a, 0, t0 + 2)], { status: 'fallback', detail: 'agent failed: HTTP 500' }))).toEqual([]);
        const d = await store.getMessage(a.id);
        expect(d?.status).toBe('fallback');
        expect(d?.timeline.slice(2)).toEqual([
          { at: t0 + 1, stage: 'agent_error', detail: 'HTTP 500' }, { at: t0 + 2, stage: 'fallback', detail: 'agent failed: HTTP 500' },
        ]);
      });
    });

    describe('outbox', () => {
      async function completeWith(dedup: string, now: number, n: number, o: { entry?: string; conv?: string } = {}, over: Partial<NewOutbound> = {}) {
        const a = await enqueueAndClaim(dedup, now, o);
        const replies = Array.from({ length: n }, (_, i) => reply(a, i, now, { chunkCount: n, ...over }));
        expect(await store.completeInbound(a.id, a.leaseToken, result(a, now, replies))).toEqual([]);
        return a;
      }

      it('sends the chunks of a conversation in order, conversations in parallel', async () => {
        await completeWith('a', t0, 3);
        await completeWith('b', t0 + 1, 1, { conv: 'B' });
        await completeWith('c', t0 + 2, 1, { entry: 'bot.other', conv: 'c1' }); // same conversation id, other entry
        const first = await store.claimOutbound(claim(t0 + 10));
        expect(first.map((o) => o.text + '@' + o.conversationId + '@' + o.entryKey)).toEqual(['reply 0@c1@bot.web', 'reply 0@B@bot.web', 'reply 0@c1@bot.other']);
        expect(first[0]).toMatchObject({ status: 'leased', attempts: 1, leaseUntil: t0 + 10 + LEASE, chunkCount: 3, isGroup: false, format: 'text' });
        expect(await store.claimOutbound(claim(t0 + 11))).toEqual([]);
        expect(await store.markSent(first[0]!.id, first[0]!.leaseToken, { now: t0 + 12, platformMessageId: 'p-1' })).toBe(true);
        const [second] = await store.claimOutbound(claim(t0 + 13));
        expect(second?.text).toBe('reply 1');
        // Expired leases are reclaimed with a new token; the old token is then useless.
        const reclaimed = await store.claimOutbound(claim(t0 + 10 + LEASE));
        expect(reclaimed.map((o) => o.text + '@' + o.conversationId)).toEqual(['reply 0@B', 'reply 0@c1']);
        expect(reclaimed[0]).toMatchObject({ attempts: 2 });
        const stale = first[1]!;
        expect(await store.markSent(stale.id, stale.leaseToken, { now: t0 + 10 + LEASE })).toBe(false);
        expect(await store.retryOutbound(stale.id, stale.leaseToken, { now: t0, availableAt: t0, error: 'x' })).toBe(false);
        expect(await store.deadLetterOutbound(stale.id, stale.leaseToken, { now: t0, error: 'x' })).toBe(false);
        expect(await store.markSent(reclaimed[0]!.id, reclaimed[0]!.leaseToken, { now: t0 + 10 + LEASE })).toBe(true);
      });

      it('queues replies added later (an operator\'s) behind what the conversation has pending, each key once', async () => {
        const a = await completeWith('a', t0, 1);
        const later = [0, 1].map((i) => reply(a, i, t0 + 5, { idempotencyKey: `op-1:${i}`, text: `by hand ${i}`, chunkCount: 2, isGroup: true, replyMeta: { token: 't' } }));
        expect(await store.addReplies(later, t0 + 5)).toBe(2);
        expect(await store.addReplies(later, t0 + 6)).toBe(0);
        const [first] = await store.claimOutbound(claim(t0 + 10));
        expect(first?.text).toBe('reply 0');
        expect(await store.markSent(first!.id, first!.leaseToken, { now: t0 + 11 })).toBe(true);
        const [next] = await store.claimOutbound(claim(t0 + 12));
        expect(next).toMatchObject({ text: 'by hand 0', replyTo: a.id, isGroup: true, replyMeta: { token: 't' }, attempts: 1, chunkCount: 2 });
        expect((await store.getMessage(a.id))?.replies.map((r) => r.text)).toEqual(['reply 0', 'by hand 0', 'by hand 1']);
        expect(await store.addReplies([], t0)).toBe(0);
      });

      it('keeps an image chunk\'s image, by URL or as data, through the claim, the hand-over and the message detail', async () => {
        const byUrl = { url: 'https://cdn.example.com/a.png?sig=1', alt: 'chart' };
        const inline = { data: Buffer.from('not really a png').toString('base64'), mimeType: 'image/png' };
        const a = await completeWith('img', t0, 1, {}, { image: byUrl, text: 'chart' });
        const [o] = await store.claimOutbound(claim(t0 + 1));
        expect(o).toMatchObject({ text: 'chart', image: byUrl });
        const b = await enqueueAndClaim('img2', t0 + 2, { conv: 'D' });
        const handed = await store.completeInbound(b.id, b.leaseToken, { ...result(b, t0 + 3, [reply(b, 0, t0 + 3, { chunkCount: 1, image: inline, text: '' })]), claim: { leaseMs: 1_000, owner: 'w1' } });
        expect(handed && handed[0]).toMatchObject({ status: 'leased', image: inline });
        expect((await store.getMessage(a.id))?.replies[0]?.image).toEqual(byUrl);
        expect((await store.getMessage(b.id))?.replies[0]?.image).toEqual(inline);
        const text = await completeWith('plain', t0 + 4, 1, { conv: 'E' });
        expect((await store.getMessage(text.id))?.replies[0]).not.toHaveProperty('image');
      });

      it('leaves the chunks of skipped entries to whoever runs them', async () => {
        await completeWith('a', t0, 1);
        await completeWith('b', t0 + 1, 1, { entry: 'bot.wecom_bot', conv: 'B' });
        await completeWith('c', t0 + 2, 1, { entry: 'bot.feishu', conv: 'C' });
        const skipping = await store.claimOutbound({ ...claim(t0 + 10), skipEntries: ['bot.wecom_bot', 'bot.feishu'] });
        expect(skipping.map((o) => o.entryKey)).toEqual(['bot.web']);
        expect((await store.claimOutbound({ ...claim(t0 + 10), skipEntries: [] })).map((o) => o.entryKey)).toEqual(['bot.wecom_bot', 'bot.feishu']);
      });

      it('marks a chunk sent and records "sent" on the inbound message', async () => {
        const a = await completeWith('a', t0, 1);
        const [o] = await store.claimOutbound(claim(t0 + 1));
        expect(await store.markSent(o!.id, o!.leaseToken, { now: t0 + 2, platformMessageId: 'plat-9' })).toBe(true);
        const d = await store.getMessage(a.id);
        expect(d?.replies[0]).toMatchObject({ status: 'sent', sentAt: t0 + 2, platformMessageId: 'plat-9' });
        expect(d?.timeline.at(-1)).toMatchObject({ at: t0 + 2, stage: 'sent' });
        expect(await store.markSent(o!.id, o!.leaseToken, { now: t0 + 3 })).toBe(false);
        expect(await store.claimOutbound(claim(t0 + 3))).toEqual([]);
      });

      it('retries a chunk later and holds the rest of the conversation back', async () => {
        const a = await completeWith('a', t0, 2);
        const [o] = await store.claimOutbound(claim(t0 + 1));
        expect(await store.retryOutbound(o!.id, o!.leaseToken, { now: t0 + 2, availableAt: t0 + 500, error: 'HTTP 429' })).toBe(true);
        expect(await store.claimOutbound(claim(t0 + 499))).toEqual([]);
        const [again] = await store.claimOutbound(claim(t0 + 500));
        expect(again).toMatchObject({ id: o!.id, attempts: 2, lastError: 'HTTP 429' });
        expect((await store.getMessage(a.id))?.timeline.map((e) => e.stage)).toContain('send_retry');
      });

      it('does not send a chunk before its availableAt', async () => {
        await completeWith('a', t0, 1, {}, { availableAt: t0 + 100 });
        expect(await store.claimOutbound(claim(t0 + 99))).toEqual([]);
        expect(await store.claimOutbound(claim(t0 + 100))).toHaveLength(1);
      });

      it('dead-letters a chunk, records "send_dead" and lets the conversation move on', async () => {
        const a = await completeWith('a', t0, 2);
        const [o] = await store.claimOutbound(claim(t0 + 1));
        expect(await store.deadLetterOutbound(o!.id, o!.leaseToken, { now: t0 + 2, error: 'expired' })).toBe(true);
        expect((await store.getMessage(a.id))?.timeline.at(-1)).toMatchObject({ at: t0 + 2, stage: 'send_dead' });
        const [next] = await store.claimOutbound(claim(t0 + 3));
        expect(next?.text).toBe('reply 1');
      });
    });

    describe('entry leases', () => {
      it('gives an entry to one owner at a time, renews it for that owner, and hands it over on expiry or release', async () => {
        expect(await store.leaseEntry('bot.wecom_bot', 'p1', t0, 1_000)).toBe(true);
        expect(await store.leaseEntry('bot.wecom_bot', 'p2', t0 + 10, 1_000)).toBe(false);
        expect(await store.leaseEntry('bot.other', 'p2', t0 + 10, 1_000)).toBe(true); // per entry
        expect(await store.leaseEntry('bot.wecom_bot', 'p1', t0 + 500, 1_000)).toBe(true); // renewed to t0 + 1 500
        expect(await store.leaseEntry('bot.wecom_bot', 'p2', t0 + 1_499, 1_000)).toBe(false);
        expect(await store.leaseEntry('bot.wecom_bot', 'p2', t0 + 1_500, 1_000)).toBe(true); // p1's ran out
        expect(await store.leaseEntry('bot.wecom_bot', 'p1', t0 + 1_600, 1_000)).toBe(false);
        await store.releaseEntry('bot.wecom_bot', 'p1'); // not p1's any more: no effect
        expect(await store.leaseEntry('bot.wecom_bot', 'p1', t0 + 1_700, 1_000)).toBe(false);
        await store.releaseEntry('bot.wecom_bot', 'p2');
        expect(await store.leaseEntry('bot.wecom_bot', 'p1', t0 + 1_700, 1_000)).toBe(true);
      });

      it('lets exactly one of concurrent owners take a free entry', async () => {
        const won = await Promise.all(['p1', 'p2', 'p3'].map((owner) => store.leaseEntry('bot.race', owner, t0, 1_000)));
        expect(won.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('channel state', () => {
      it('keeps one value per entry and name, the last write winning, and nothing for names never set', async () => {
        expect(await store.getChannelState('bot.ilink', 'cursor')).toBeUndefined();
        await store.setChannelState('bot.ilink', 'cursor', 'c1', t0);
        await store.setChannelState('bot.ilink', 'other', 'x', t0);
        await store.setChannelState('bot.ilink2', 'cursor', 'elsewhere', t0);
        await store.setChannelState('bot.ilink', 'cursor', 'c2', t0 + 1);
        expect(await store.getChannelState('bot.ilink', 'cursor')).toBe('c2');
        expect(await store.getChannelState('bot.ilink', 'other')).toBe('x');
        expect(await store.getChannelState('bot.ilink2', 'cursor')).toBe('elsewhere');
        expect(await store.getChannelState('bot.ilink3', 'cursor')).toBeUndefined();
      });

      it('lists the values whose name starts with a prefix, across entries, the prefix taken literally', async () => {
        await store.setChannelState('bot.b', 'handoff:u2', '{"until":2}', t0 + 2);
        await store.setChannelState('bot.a', 'handoff:u1', '{"until":1}', t0 + 1);
        await store.setChannelState('bot.a', 'handoff', 'no colon', t0);
        await store.setChannelState('bot.a', 'cursor', 'c', t0);
        await store.setChannelState('bot.a', 'hand_off:x', 'underscore', t0);
        await store.setChannelState('bot.a', 'handoff%:y', 'percent', t0);
        expect(await store.listChannelState('handoff:')).toEqual([
          { entryKey: 'bot.a', name: 'handoff:u1', value: '{"until":1}', updatedAt: t0 + 1 },
          { entryKey: 'bot.b', name: 'handoff:u2', value: '{"until":2}', updatedAt: t0 + 2 },
        ]);
        expect((await store.listChannelState('hand_')).map((r) => r.value)).toEqual(['underscore']);
        expect((await store.listChannelState('handoff%')).map((r) => r.value)).toEqual(['percent']);
        expect(await store.listChannelState('nothing:')).toEqual([]);
      });

      it('deletes a value only while it is still the one given', async () => {
        await store.setChannelState('bot.a', 'handoff:u1', 'v1', t0);
        expect(await store.deleteChannelState('bot.a', 'handoff:u1', 'v0')).toBe(false);
        expect(await store.getChannelState('bot.a', 'handoff:u1')).toBe('v1');
        expect(await store.deleteChannelState('bot.b', 'handoff:u1', 'v1')).toBe(false);
        expect(await store.deleteChannelState('bot.a', 'handoff:u1', 'v1')).toBe(true);
        expect(await store.getChannelState('bot.a', 'handoff:u1')).toBeUndefined();
        expect(await store.deleteChannelState('bot.a', 'handoff:u1', 'v1')).toBe(false);
      });

      it('stores a long value exactly, unicode included', async () => {
        const value = `游标-${'x'.repeat(20_000)}-${JSON.stringify({ buf: 'AAEC/+==' })}`;
        await store.setChannelState('bot.ilink', 'cursor', value, t0);
        expect(await store.getChannelState('bot.ilink', 'cursor')).toBe(value);
      });
    });

    describe('rate buckets', () => {
      // 500 tokens per second is 0.5 per ms: every refill below is exact in binary floating point.
      const bucket = (now: number, capacity = 10) => ({ capacity, perSecond: 500, now });

      it('starts full, takes whole tokens up to what is there, refills at the rate up to the capacity, never backwards', async () => {
        expect(await store.takeRateTokens('bot.web:requests', 4, bucket(t0))).toEqual({ taken: 4, left: 6 });
        expect(await store.takeRateTokens('bot.web:requests', 10, bucket(t0))).toEqual({ taken: 6, left: 0 });
        expect(await store.takeRateTokens('bot.web:requests', 1, bucket(t0 + 1))).toEqual({ taken: 0, left: 0.5 });
        expect(await store.takeRateTokens('bot.web:requests', 1, bucket(t0 + 2))).toEqual({ taken: 1, left: 0 });
        expect(await store.takeRateTokens('bot.web:requests', 50, bucket(t0 + 1_000))).toEqual({ taken: 10, left: 0 }); // capped
        // A process whose clock is behind refills nothing, and does not move the bucket's time back.
        expect(await store.takeRateTokens('bot.web:requests', 1, bucket(t0 + 900))).toEqual({ taken: 0, left: 0 });
        expect(await store.takeRateTokens('bot.web:requests', 5, bucket(t0 + 1_002))).toEqual({ taken: 1, left: 0 });
        // Another key is another bucket; a smaller capacity caps what was there before.
        expect(await store.takeRateTokens('bot.other:requests', 3, bucket(t0))).toEqual({ taken: 3, left: 7 });
        expect(await store.takeRateTokens('bot.other:requests', 1, bucket(t0 + 100, 2))).toEqual({ taken: 1, left: 1 });
      });

      it('never hands out more than the bucket holds to concurrent takes', async () => {
        const slow = { capacity: 5, perSecond: 0.001, now: t0 };
        const takes = await Promise.all(Array.from({ length: 20 }, () => store.takeRateTokens('bot.web:burst', 1, slow)));
        expect(takes.reduce((sum, t) => sum + t.taken, 0)).toBe(5);
      });

      it('prunes a bucket idle for RATE_BUCKET_IDLE_MS (it would be full again), and keeps a used one', async () => {
        const daily = (now: number) => ({ capacity: 3, perSecond: 3 / 86_400, now });
        await store.takeRateTokens('user:day:idle', 3, daily(t0));
        await store.takeRateTokens('user:day:busy', 3, daily(t0));
        await store.takeRateTokens('user:day:busy', 3, daily(t0 + RATE_BUCKET_IDLE_MS));
        expect(await store.prune(t0 + RATE_BUCKET_IDLE_MS + 1, { dedupRetentionMs: 365 * DAY, feedRetentionMs: 365 * DAY })).toBe(1);
        // The idle one starts full again, as it would have refilled; the busy one keeps its count.
        expect(await store.takeRateTokens('user:day:idle', 3, daily(t0 + RATE_BUCKET_IDLE_MS + 2))).toMatchObject({ taken: 3 });
        expect(await store.takeRateTokens('user:day:busy', 3, daily(t0 + RATE_BUCKET_IDLE_MS + 2))).toMatchObject({ taken: 0 });
      });
    });

    describe('notices', () => {
      const lease = (now: number) => ({ now, leaseMs: LEASE });

      it('hands out notices oldest first, one lease at a time, and again after a lease expires', async () => {
        await store.addNotice({ event: 'handoff', body: '{"n":1}' }, t0);
        await store.addNotice({ event: 'pairing', body: '{"n":2}' }, t0 + 1);
        const first = await store.claimNotice(lease(t0 + 2));
        expect(first).toMatchObject({ event: 'handoff', body: '{"n":1}', more: 0, attempts: 1, createdAt: t0 });
        const second = await store.claimNotice(lease(t0 + 2));
        expect(second).toMatchObject({ event: 'pairing', attempts: 1 });
        expect(await store.claimNotice(lease(t0 + 3))).toBeUndefined();
        expect((await store.stats()).noticesWaiting).toBe(2);
        // The process sending the first died: after its lease, another takes it, and the old lease is void.
        const again = await store.claimNotice(lease(t0 + 2 + LEASE));
        expect(again).toMatchObject({ id: first!.id, attempts: 2 });
        expect(await store.finishNotice(first!.id, first!.leaseToken, { now: t0 + LEASE + 3, outcome: 'sent' })).toBe(false);
        expect(await store.finishNotice(again!.id, again!.leaseToken, { now: t0 + LEASE + 3, outcome: 'sent' })).toBe(true);
        expect(await store.finishNotice(second!.id, second!.leaseToken, { now: t0 + LEASE + 4, outcome: 'failed', error: 'refused: 93000' })).toBe(true);
        expect(await store.claimNotice(lease(t0 + 10 * LEASE))).toBeUndefined();
        expect((await store.stats()).noticesWaiting).toBe(0);
        expect(await store.listNotices()).toEqual([
          { id: second!.id, receiver: '', event: 'pairing', body: '{"n":2}', more: 0, status: 'failed', attempts: 1, createdAt: t0 + 1, finishedAt: t0 + LEASE + 4, lastError: 'refused: 93000' },
          { id: first!.id, receiver: '', event: 'handoff', body: '{"n":1}', more: 0, status: 'sent', attempts: 2, createdAt: t0, finishedAt: t0 + LEASE + 3, lastError: null },
        ]);
      });

      it('never leases one notice to two concurrent claims', async () => {
        const bodies = Array.from({ length: 10 }, (_, i) => `{"n":${String(i).padStart(2, '0')}}`);
        for (const body of bodies) await store.addNotice({ event: 'handoff', body }, t0);
        // Rounds of concurrent claims (a claim that meets another's lock may come back empty, and tries again later).
        const claimed: string[] = [];
        for (let round = 0; round < 20 && claimed.length < bodies.length; round++) {
          const got = await Promise.all(Array.from({ length: 8 }, () => store.claimNotice(lease(t0))));
          claimed.push(...got.filter((n) => n !== undefined).map((n) => n.body));
        }
        expect(claimed.sort()).toEqual(bodies);
      });

      it('keeps a notice put back to wait until its time, with the error, and those after it behind it', async () => {
        await store.addNotice({ event: 'entry_down', body: '{}' }, t0);
        const n = (await store.claimNotice(lease(t0)))!;
        expect(await store.retryNotice(n.id, 'not-the-token', { availableAt: t0 + 30_000, error: 'HTTP 500' })).toBe(false);
        expect(await store.retryNotice(n.id, n.leaseToken, { availableAt: t0 + 30_000, error: 'HTTP 500' })).toBe(true);
        expect(await store.listNotices()).toMatchObject([{ status: 'waiting', attempts: 1, lastError: 'HTTP 500' }]);
        // A later notice waits behind it: notices go in order.
        await store.addNotice({ event: 'handoff', body: '{"later":true}' }, t0 + 1);
        expect(await store.claimNotice(lease(t0 + 29_999))).toBeUndefined();
        expect(await store.claimNotice(lease(t0 + 30_000))).toMatchObject({ id: n.id, attempts: 2 });
        expect(await store.claimNotice(lease(t0 + 30_000))).toMatchObject({ body: '{"later":true}', attempts: 1 });
      });

      it("keeps each receiver's notices in order apart from the others', and skips the receivers asked", async () => {
        await store.addNotice({ receiver: 'agent:sales', event: 'handoff', body: 's1' }, t0);
        await store.addNotice({ receiver: '', event: 'handoff', body: 'g1' }, t0 + 1);
        await store.addNotice({ receiver: 'agent:sales', event: 'handoff', body: 's2' }, t0 + 2);
        const s1 = (await store.claimNotice(lease(t0 + 3)))!;
        expect(s1).toMatchObject({ receiver: 'agent:sales', body: 's1' });
        await store.retryNotice(s1.id, s1.leaseToken, { availableAt: t0 + 60_000, error: 'HTTP 500' });
        // sales waits for its retry, s2 behind it; the gateway's receiver goes on.
        const g1 = (await store.claimNotice(lease(t0 + 4)))!;
        expect(g1).toMatchObject({ receiver: '', body: 'g1' });
        await store.finishNotice(g1.id, g1.leaseToken, { now: t0 + 4, outcome: 'sent' });
        expect(await store.claimNotice(lease(t0 + 5))).toBeUndefined();
        expect(await store.claimNotice(lease(t0 + 60_000))).toMatchObject({ body: 's1' });
        await store.addNotice({ receiver: '', event: 'pairing', body: 'g2' }, t0 + 60_001);
        expect(await store.claimNotice({ ...lease(t0 + 60_002), skip: [''] })).toMatchObject({ body: 's2' });
        expect(await store.claimNotice({ ...lease(t0 + 60_002), skip: ['agent:sales'] })).toMatchObject({ body: 'g2' });
      });

      it('makes every notice waiting for a retry due at once when asked (the receiver was mended)', async () => {
        await store.addNotice({ event: 'entry_down', body: '{}' }, t0);
        const n = (await store.claimNotice(lease(t0)))!;
        await store.retryNotice(n.id, n.leaseToken, { availableAt: t0 + 300_000, error: 'refused: 93000' });
        expect(await store.claimNotice(lease(t0 + 10))).toBeUndefined();
        expect(await store.retryNoticesNow(t0 + 10)).toBe(1);
        expect(await store.retryNoticesNow(t0 + 10)).toBe(0);
        expect(await store.claimNotice(lease(t0 + 10))).toMatchObject({ id: n.id, attempts: 2 });
      });

      it('folds notices with one key while one waits, not into one being sent, and folds them in when it goes back to wait', async () => {
        for (let i = 0; i < 3; i++) await store.addNotice({ event: 'dead_letter', body: `{"i":${i}}`, foldKey: 'dead_letter/bot.wx' }, t0 + i);
        await store.addNotice({ event: 'dead_letter', body: '{"other":true}', foldKey: 'dead_letter/bot.feishu' }, t0 + 3);
        const folded = (await store.claimNotice(lease(t0 + 4)))!;
        // The first one's body, and the two that came after it.
        expect(folded).toMatchObject({ body: '{"i":0}', more: 2 });
        await store.addNotice({ event: 'dead_letter', body: '{"i":3}', foldKey: 'dead_letter/bot.wx' }, t0 + 5);
        await store.addNotice({ event: 'dead_letter', body: '{"i":4}', foldKey: 'dead_letter/bot.wx' }, t0 + 6);
        expect((await store.listNotices()).map((n) => [n.body, n.more, n.status])).toEqual([
          ['{"i":3}', 1, 'waiting'],
          ['{"other":true}', 0, 'waiting'],
          ['{"i":0}', 2, 'sending'],
        ]);
        // Put back, the first takes in the two that waited: one notice says all five.
        expect(await store.retryNotice(folded.id, folded.leaseToken, { availableAt: t0 + 7, error: 'HTTP 500' })).toBe(true);
        expect((await store.listNotices()).map((n) => [n.body, n.more, n.status])).toEqual([
          ['{"other":true}', 0, 'waiting'],
          ['{"i":0}', 4, 'waiting'],
        ]);
        expect(await store.claimNotice(lease(t0 + 7))).toMatchObject({ id: folded.id, more: 4, attempts: 2 });
      });

      it('prunes finished notices past the dedup retention, never waiting ones', async () => {
        await store.addNotice({ event: 'handoff', body: 'old' }, t0);
        await store.addNotice({ event: 'handoff', body: 'waiting' }, t0);
        const old = (await store.claimNotice(lease(t0)))!;
        await store.finishNotice(old.id, old.leaseToken, { now: t0, outcome: 'sent' });
        expect(await store.prune(t0 + 2 * DAY, { dedupRetentionMs: DAY, feedRetentionMs: 365 * DAY })).toBe(1);
        expect((await store.listNotices()).map((n) => n.body)).toEqual(['waiting']);
      });
    });

    describe('dead letters', () => {
      it('lists both kinds with their error, filtered by kind and entry', async () => {
        const a = await enqueueAndClaim('a', t0, { entry: 'bot.web' });
        await store.deadLetterInbound(a.id, a.leaseToken, { now: t0 + 5, error: 'poison' });
        const b = await enqueueAndClaim('b', t0 + 10, { entry: 'bot.feishu', conv: 'g1' });
        await store.completeInbound(b.id, b.leaseToken, result(b, t0 + 10, [reply(b, 0, t0 + 10)]));
        const [o] = await store.claimOutbound(claim(t0 + 11));
        await store.deadLetterOutbound(o!.id, o!.leaseToken, { now: t0 + 20, error: 'HTTP 400' });
        const all = await store.listDeadLetters();
        expect(all).toHaveLength(2);
        expect(all.find((d) => d.kind === 'inbound')).toMatchObject({
          id: a.id, entryKey: 'bot.web', channelType: 'web_api', conversationId: 'c1', userId: 'u-c1', text: 'text a', attempts: 1, error: 'poison', createdAt: t0, deadAt: t0 + 5,
        });
        expect(all.find((d) => d.kind === 'outbound')).toMatchObject({
          id: o!.id, entryKey: 'bot.feishu', conversationId: 'g1', userId: 'u-g1', text: 'reply 0', attempts: 1, error: 'HTTP 400', createdAt: t0 + 10, deadAt: t0 + 20, replyTo: b.id,
        });
        expect((await store.listDeadLetters({ kind: 'outbound' })).map((d) => d.id)).toEqual([o!.id]);
        expect((await store.listDeadLetters({ kind: 'inbound' })).map((d) => d.id)).toEqual([a.id]);
        expect((await store.listDeadLetters({ entryKey: 'bot.feishu' })).map((d) => d.kind)).toEqual(['outbound']);
        expect(await store.listDeadLetters({ entryKey: 'bot.feishu', kind: 'inbound' })).toEqual([]);
        expect(await store.listDeadLetters({ limit: 1 })).toHaveLength(1);
      });

      it('revives an inbound dead letter: queued, available now, attempts reset', async () => {
        const a = await enqueueAndClaim('a', t0);
        await store.deadLetterInbound(a.id, a.leaseToken, { now: t0 + 1, error: 'poison' });
        expect(await store.reviveDeadLetter('inbound', a.id, t0 + 100)).toBe(true);
        expect(await store.getMessage(a.id)).toMatchObject({ status: 'queued', attempts: 0 });
        expect(await store.listDeadLetters()).toEqual([]);
        expect(await store.reviveDeadLetter('inbound', a.id, t0 + 101)).toBe(false);
        expect(await store.reviveDeadLetter('inbound', '987654321', t0 + 101)).toBe(false);
        const [again] = await store.claimInbound(claim(t0 + 100));
        expect(again).toMatchObject({ id: a.id, attempts: 1 });
      });

      it('revives an outbound dead letter with a fresh expiry of its original max age', async () => {
        const a = await enqueueAndClaim('a', t0);
        await store.completeInbound(a.id, a.leaseToken, result(a, t0 + 10, [reply(a, 0, t0 + 10, { expiresAt: t0 + 10 + 5_000 })]));
        let [o] = await store.claimOutbound(claim(t0 + 20));
        expect(await store.reviveDeadLetter('outbound', o!.id, t0 + 21)).toBe(false); // leased, not dead
        for (const at of [t0 + 9_000, t0 + 50_000]) {
          await store.deadLetterOutbound(o!.id, o!.leaseToken, { now: at - 1, error: 'expired' });
          expect(await store.reviveDeadLetter('outbound', o!.id, at)).toBe(true);
          [o] = await store.claimOutbound(claim(at));
          expect(o).toMatchObject({ attempts: 1, expiresAt: at + 5_000, createdAt: t0 + 10 });
        }
      });
    });

    it('loads the last turns of one conversation with one agent, oldest first', async () => {
      const turnsOf = (n: number) => [{ role: 'user' as const, content: `q${n}`, at: t0 + n }, { role: 'assistant' as const, content: `a${n}`, at: t0 + n }];
      for (let n = 1; n <= 3; n++) {
        const a = await enqueueAndClaim(`m${n}`, t0 + n);
        await store.completeInbound(a.id, a.leaseToken, result(a, t0 + n, [], { history: { key: hkey(a), turns: turnsOf(n) } }));
      }
      const other = await enqueueAndClaim('o', t0 + 9, { conv: 'c2' });
      await store.completeInbound(other.id, other.leaseToken, result(other, t0 + 9, [], { history: { key: hkey(other, 'bot2'), turns: turnsOf(9) } }));
      const key = { agentId: 'bot', entryKey: ENTRY, conversationId: 'c1' };
      expect((await store.loadHistory(key, 3)).map((t) => t.content)).toEqual(['a2', 'q3', 'a3']);
      expect(await store.loadHistory(key, 100)).toHaveLength(6);
      expect(await store.loadHistory({ ...key, agentId: 'bot2' }, 10)).toEqual([]);
      expect(await store.loadHistory({ ...key, agentId: 'bot2', conversationId: 'c2' }, 10)).toEqual(turnsOf(9));
      expect(await store.loadHistory({ ...key, entryKey: 'bot.other' }, 10)).toEqual([]);

      // prune trims each conversation to its newest turns and leaves shorter ones alone.
      await store.prune(t0 + 10, { dedupRetentionMs: 365 * DAY, feedRetentionMs: 365 * DAY, historyTurns: 3 });
      expect((await store.loadHistory(key, 100)).map((t) => t.content)).toEqual(['a2', 'q3', 'a3']);
      expect(await store.loadHistory({ ...key, agentId: 'bot2', conversationId: 'c2' }, 10)).toEqual(turnsOf(9));
    });

    it('forgets the turns of a conversation written before a message, and only those', async () => {
      const turnsOf = (n: number) => [{ role: 'user' as const, content: `q${n}`, at: t0 + n }, { role: 'assistant' as const, content: `a${n}`, at: t0 + n }];
      const done: InboundItem[] = [];
      for (const [n, conv] of [[1, 'c1'], [2, 'c1'], [3, 'c2'], [4, 'c1']] as const) {
        const a = await enqueueAndClaim(`m${n}`, t0 + n, { conv });
        await store.completeInbound(a.id, a.leaseToken, result(a, t0 + n, [], { history: { key: hkey(a), turns: turnsOf(n) } }));
        done.push(a);
      }
      const key = { agentId: 'bot', entryKey: ENTRY, conversationId: 'c1' };
      // A reset sent as the third message of c1 (stored after m1 and m2, before m4).
      expect(await store.clearHistory(key, done[2]!.id)).toBe(4);
      expect(await store.clearHistory(key, done[2]!.id)).toBe(0);
      expect((await store.loadHistory(key, 100)).map((t) => t.content)).toEqual(['q4', 'a4']);
      expect(await store.loadHistory({ ...key, conversationId: 'c2' }, 100)).toEqual(turnsOf(3));
      expect(await store.clearHistory({ ...key, agentId: 'bot2' }, done[3]!.id)).toBe(0);
      expect(await store.clearHistory(key, 'not-an-id')).toBe(0);
    });

    it('writes an operator\'s replies into the history after the turns of the message they answer, once per new reply', async () => {
      const turnsOf = (n: number) => [{ role: 'user' as const, content: `q${n}`, at: t0 + n }, { role: 'assistant' as const, content: `a${n}`, at: t0 + n }];
      const key = { agentId: 'bot', entryKey: ENTRY, conversationId: 'c1' };
      const m1 = await enqueueAndClaim('m1', t0 + 1);
      await store.completeInbound(m1.id, m1.leaseToken, result(m1, t0 + 1, [], { history: { key, turns: turnsOf(1) } }));
      // m2 is still being answered by the agent when the operator replies to it and to m1.
      const m2 = await enqueueAndClaim('m2', t0 + 2);
      const byHand = (to: InboundItem, op: string, text: string) => [reply(to, 0, t0 + 3, { idempotencyKey: `op-${op}:0`, text, chunkCount: 1 })];
      const turn = (content: string, at: number) => ({ key, turns: [{ role: 'assistant' as const, content, at }] });
      expect(await store.addReplies(byHand(m2, 'x', 'person on m2'), t0 + 3, turn('person on m2', t0 + 3))).toBe(1);
      expect(await store.addReplies(byHand(m1, 'y', 'person on m1'), t0 + 4, turn('person on m1', t0 + 4))).toBe(1);
      expect(await store.addReplies(byHand(m1, 'z', 'again on m1'), t0 + 5, turn('again on m1', t0 + 5))).toBe(1);
      // The same request again adds neither a reply nor a turn.
      expect(await store.addReplies(byHand(m1, 'z', 'again on m1'), t0 + 6, turn('again on m1', t0 + 6))).toBe(0);
      await store.completeInbound(m2.id, m2.leaseToken, result(m2, t0 + 7, [], { history: { key, turns: turnsOf(2) } }));
      expect((await store.loadHistory(key, 100)).map((t) => t.content)).toEqual(['q1', 'a1', 'person on m1', 'again on m1', 'q2', 'a2', 'person on m2']);
      expect((await store.loadHistory(key, 100))[2]).toEqual({ role: 'assistant', content: 'person on m1', at: t0 + 4 });
      // Five operators answering one message at the same moment: every reply is a turn of its own.
      const at = (i: number) => t0 + 10 + i;
      expect(await Promise.all([0, 1, 2, 3, 4].map((i) => store.addReplies(byHand(m1, `c${i}`, `same time ${i}`), at(i), turn(`same time ${i}`, at(i)))))).toEqual([1, 1, 1, 1, 1]);
      const sameTime = (await store.loadHistory(key, 100)).filter((t) => t.content.startsWith('same time'));
      expect(sameTime.map((t) => t.content).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `same time ${i}`));
      // A reset at a later message forgets them with the rest.
      const m3 = await enqueueAndClaim('m3', t0 + 8);
      expect(await store.clearHistory(key, m3.id)).toBe(12);
      expect(await store.loadHistory({ ...key, conversationId: 'c2' }, 10)).toEqual([]);
    });

    it("forgets a user's finished messages, replies and direct chat, and keeps what is still in flight and others' data", async () => {
      const done = async (dedup: string, o: { conv?: string; user?: string; group?: boolean }, replies = 1) => {
        const n = inbound(dedup, o);
        if (o.group) n.message = { ...n.message, isGroup: true };
        const { id } = await store.enqueue(n, t0);
        const a = (await store.claimInbound(claim(t0, 100))).find((m) => m.id === id)!;
        const chunks = Array.from({ length: replies }, (_, i) => reply(a, i, t0, { chunkCount: replies }));
        await store.completeInbound(a.id, a.leaseToken, result(a, t0, chunks, { history: { key: hkey(a), turns: result(a, t0).history.turns } }));
        for (const o2 of await store.claimOutbound(claim(t0, 10))) await store.markSent(o2.id, o2.leaseToken, { now: t0 });
        return a;
      };
      const stateOf = (conversationId: string) => [`handoff:${conversationId}`];
      const ann1 = await done('ann-1', { conv: 'ann', user: 'ann' }, 2);
      await done('ann-2', { conv: 'ann', user: 'ann' });
      await done('ann-group', { conv: 'team', user: 'ann', group: true });
      const bob = await done('bob-1', { conv: 'bob', user: 'bob' });
      // In flight: a reply an operator queued for ann's message in another direct chat, not sent yet.
      const waiting = await done('ann-other', { conv: 'ann-2nd', user: 'ann' }, 0);
      await store.addReplies([reply(waiting, 0, t0, { idempotencyKey: 'op:0', chunkCount: 1 })], t0);
      await store.appendFeed({ entryKey: ENTRY, conversationId: 'ann', idempotencyKey: 'f1', replyTo: ann1.id, payload: { text: 'hi' } }, t0);
      await store.setChannelState(ENTRY, 'handoff:ann', '{"until":1}', t0);
      await store.setChannelState(ENTRY, 'handoff:bob', '{"until":1}', t0);

      expect(await store.forgetUser(ENTRY, 'ann', stateOf)).toEqual({ messages: 3, replies: 4, turns: 4, feedItems: 1, kept: 1 });
      expect((await store.listMessages({ userId: 'ann' })).map((m) => m.id)).toEqual([waiting.id]);
      expect(await store.getMessage(ann1.id)).toBeUndefined();
      expect(await store.loadHistory({ agentId: 'bot', entryKey: ENTRY, conversationId: 'ann' }, 10)).toEqual([]);
      // The group's history holds others' words: it stays, as does the direct chat still in flight.
      expect(await store.loadHistory({ agentId: 'bot', entryKey: ENTRY, conversationId: 'team' }, 10)).toHaveLength(2);
      expect(await store.loadHistory({ agentId: 'bot', entryKey: ENTRY, conversationId: 'ann-2nd' }, 10)).toHaveLength(2);
      expect(await store.readFeed(ENTRY, 'ann', 0, 10)).toEqual([]);
      expect(await store.getChannelState(ENTRY, 'handoff:ann')).toBeUndefined();
      // Bob is untouched.
      expect((await store.getMessage(bob.id))?.replies).toHaveLength(1);
      expect(await store.loadHistory(hkey(bob), 10)).toHaveLength(2);
      expect(await store.getChannelState(ENTRY, 'handoff:bob')).toBe('{"until":1}');
      // Once the last reply went out, asking again forgets the rest.
      const [left] = await store.claimOutbound(claim(t0 + 1, 10));
      await store.markSent(left!.id, left!.leaseToken, { now: t0 + 1 });
      expect(await store.forgetUser(ENTRY, 'ann', stateOf)).toEqual({ messages: 1, replies: 1, turns: 2, feedItems: 0, kept: 0 });
      expect(await store.forgetUser(ENTRY, 'ann', stateOf)).toEqual({ messages: 0, replies: 0, turns: 0, feedItems: 0, kept: 0 });
      expect(await store.forgetUser('bot.other', 'bob', stateOf)).toMatchObject({ messages: 0 });
    });

    describe('message log', () => {
      it('replaces the media of a message not finished yet, keeping the rest of it, and of no finished one', async () => {
        const withImage = inbound('m1');
        withImage.message = { ...withImage.message, msgType: 'image', media: [{ kind: 'image', ref: 'https://x.example/a?sig=1', key: 'k1' }] };
        const { id } = await store.enqueue(withImage, t0);
        const kept = [{ kind: 'image' as const, ref: 'data:image/png;base64,iVBORw0KGgo=', mimeType: 'image/png' }];
        expect(await store.keepMedia(id, kept)).toBe(true);
        const [claimed] = await store.claimInbound(claim(t0 + 1));
        expect(claimed?.message).toEqual({ ...withImage.message, media: kept });
        expect(await store.keepMedia(id, [])).toBe(true); // leased: still unfinished
        await store.completeInbound(id, claimed!.leaseToken, result(claimed!, t0 + 2));
        expect(await store.keepMedia(id, kept)).toBe(false);
        expect((await store.getMessage(id))?.message.media).toEqual([]);
        expect(await store.keepMedia('999999', kept)).toBe(false);
        expect(await store.keepMedia('nope', kept)).toBe(false);
      });

      it('lists newest first with filters, paging and limits', async () => {
        const made: string[] = [];
        for (let i = 0; i < 520; i++) {
          const o = { entry: i % 2 === 0 ? 'bot.web' : 'bot.feishu', conv: `c${i % 3}`, user: `u${i % 5}` };
          made.push((await store.enqueue(inbound(`m${i}`, o), t0 + i)).id);
        }
        const newest = [...made].reverse();
        expect(ids(await store.listMessages())).toEqual(newest.slice(0, 50));
        expect(await store.listMessages({ limit: 10_000 })).toHaveLength(500);
        const page = await store.listMessages({ limit: 10, before: newest[9] });
        expect(ids(page)).toEqual(newest.slice(10, 20));
        const web = await store.listMessages({ entryKey: 'bot.web', limit: 500 });
        expect(web).toHaveLength(260);
        expect(web.every((m) => m.entryKey === 'bot.web')).toBe(true);
        expect((await store.listMessages({ userId: 'u3', limit: 500 })).every((m) => m.userId === 'u3')).toBe(true);
        expect(await store.listMessages({ userId: 'u3', limit: 500 })).toHaveLength(104);
        // Messages i with i % 2 = 0 and i % 3 = 1: i = 4, 10, 16, … (86 of them below 520).
        const conv = await store.listMessages({ entryKey: 'bot.web', conversationId: 'c1', limit: 500 });
        expect(conv).toHaveLength(86);
        expect(conv[0]).toMatchObject({ id: made[514], conversationId: 'c1', entryKey: 'bot.web' });
        await store.claimInbound(claim(t0 + 1000, 2));
        const leased = await store.listMessages({ status: 'leased' });
        expect(ids(leased)).toEqual([made[1], made[0]]);
        expect(ids(await store.listMessages({ status: 'leased', before: made[1] }))).toEqual([made[0]]);
        expect(await store.listMessages({ entryKey: 'nope' })).toEqual([]);
      });

      it('lists a window of ids with after and before, and tells the range of ids stored', async () => {
        expect(await store.messageIdRange()).toBeUndefined();
        const made: string[] = [];
        for (let i = 0; i < 10; i++) made.push((await store.enqueue(inbound(`w${i}`, { conv: `c${i % 2}` }), t0 + i)).id);
        expect(await store.messageIdRange()).toEqual({ first: made[0], last: made[9] });
        expect(ids(await store.listMessages({ after: made[6] }))).toEqual([made[9], made[8], made[7]]);
        expect(ids(await store.listMessages({ after: made[2], before: made[6], conversationId: 'c1', entryKey: ENTRY }))).toEqual([made[5], made[3]]);
        expect(ids(await store.listMessages({ after: made[2], before: made[6], text: 'w4' }))).toEqual([made[4]]);
        expect(await store.listMessages({ after: 'nope' })).toEqual([]);
      });

      it('finds messages by their text: literally (% and _ are no wildcards), Latin letters in any case, with the other filters', async () => {
        const texts = ['Refund please', 'where is my REFUND?', '100% sure', '100 percent', 'snake_case', 'snakeXcase', '退款怎么申请', 'back\\slash'];
        const made: string[] = [];
        for (const [i, content] of texts.entries()) {
          const item = inbound(`t${i}`, { entry: i === 1 ? 'bot.feishu' : ENTRY });
          item.message = { ...item.message, content };
          made.push((await store.enqueue(item, t0 + i)).id);
        }
        const found = async (text: string, more: Omit<MessageFilter, 'text'> = {}) => (await store.listMessages({ text, ...more })).map((m) => m.content);
        expect(await found('refund')).toEqual(['where is my REFUND?', 'Refund please']);
        expect(await found('refund', { entryKey: ENTRY })).toEqual(['Refund please']);
        expect(await found('refund', { before: made[1] })).toEqual(['Refund please']);
        expect(await found('0%')).toEqual(['100% sure']);
        expect(await found('e_c')).toEqual(['snake_case']);
        expect(await found('退款')).toEqual(['退款怎么申请']);
        expect(await found('k\\s')).toEqual(['back\\slash']);
        expect(await found('nothing like it')).toEqual([]);
        expect(await store.listMessages({ text: '' })).toHaveLength(texts.length);
      });

      it('returns one message with its timeline in time order (insertion order on ties) and its replies', async () => {
        expect(await store.getMessage('987654321')).toBeUndefined();
        const { id } = await store.enqueue(inbound('a'), t0);
        await store.recordEvent(id, { at: t0 + 5, stage: 'b' });
        await store.recordEvent(id, { at: t0 + 2, stage: 'a', detail: 'early' });
        await store.recordEvent(id, { at: t0 + 5, stage: 'c' });
        await store.recordEvent(id, { at: t0, stage: 'same-ms' });
        await store.recordEvent(id, { at: t0 - 1, stage: 'platform-sent' });
        expect((await store.getMessage(id))?.timeline).toEqual([
          { at: t0 - 1, stage: 'platform-sent' }, { at: t0, stage: 'received' }, { at: t0, stage: 'same-ms' }, { at: t0 + 2, stage: 'a', detail: 'early' }, { at: t0 + 5, stage: 'b' }, { at: t0 + 5, stage: 'c' },
        ]);
      });
    });

    it('appends feed items once, with a store-wide seq, and reads them back', async () => {
      const add = (conv: string, key: string, replyTo: string, entry = ENTRY) => store.appendFeed({ entryKey: entry, conversationId: conv, idempotencyKey: key, replyTo, payload: { key } }, t0 + 1);
      const s1 = await add('c1', 'k1', 'm1');
      const s2 = await add('c2', 'k2', 'm1');
      const s3 = await add('c1', 'k3', 'm2', 'bot.other');
      const s4 = await add('c1', 'k4', 'm1');
      expect([s1, s2, s3, s4].every((s) => !s.duplicate)).toBe(true);
      expect(s1.seq < s2.seq && s2.seq < s3.seq && s3.seq < s4.seq).toBe(true);
      expect(await add('c1', 'k1', 'm9')).toEqual({ seq: s1.seq, duplicate: true });
      expect((await add('c1', 'k1', 'm9', 'bot.other')).duplicate).toBe(false);
      const c1 = await store.readFeed(ENTRY, 'c1', 0, 10);
      expect(c1).toEqual([
        { seq: s1.seq, entryKey: ENTRY, conversationId: 'c1', replyTo: 'm1', payload: { key: 'k1' }, createdAt: t0 + 1 },
        { seq: s4.seq, entryKey: ENTRY, conversationId: 'c1', replyTo: 'm1', payload: { key: 'k4' }, createdAt: t0 + 1 },
      ]);
      expect((await store.readFeed(ENTRY, 'c1', s1.seq, 10)).map((f) => f.seq)).toEqual([s4.seq]);
      expect((await store.readFeed(ENTRY, 'c1', 0, 1)).map((f) => f.seq)).toEqual([s1.seq]);
      expect((await store.feedRepliesTo(ENTRY, 'm1')).map((f) => f.seq)).toEqual([s1.seq, s2.seq, s4.seq]);
      expect(await store.feedRepliesTo(ENTRY, 'm2')).toEqual([]);
    });

    it('counts queued, leased and dead items in stats', async () => {
      expect(await store.stats()).toEqual({ inboundQueued: 0, inboundLeased: 0, inboundDead: 0, outboundPending: 0, outboundLeased: 0, outboundDead: 0, noticesWaiting: 0 });
      const a = await enqueueAndClaim('a', t0);
      await store.completeInbound(a.id, a.leaseToken, result(a, t0, [reply(a, 0, t0), reply(a, 1, t0)]));
      const b = await enqueueAndClaim('b', t0, { conv: 'B' });
      await store.deadLetterInbound(b.id, b.leaseToken, { now: t0, error: 'x' });
      await enqueueAndClaim('c', t0, { conv: 'C' }); // stays leased
      await store.enqueue(inbound('d', { conv: 'C' }), t0); // queued behind c
      const f = await enqueueAndClaim('f', t0 + 2, { conv: 'F' });
      await store.completeInbound(f.id, f.leaseToken, result(f, t0, [reply(f, 0, t0)]));
      await store.enqueue(inbound('e', { conv: 'E' }), t0 + 3);
      const [o] = await store.claimOutbound(claim(t0, 1));
      await store.deadLetterOutbound(o!.id, o!.leaseToken, { now: t0, error: 'x' });
      await store.claimOutbound(claim(t0, 1)); // a's second chunk; f's chunk stays pending
      expect(await store.stats()).toEqual({ inboundQueued: 2, inboundLeased: 1, inboundDead: 1, outboundPending: 1, outboundLeased: 1, outboundDead: 1, noticesWaiting: 0 });
    });

    it('counts messages by period, entry and status, with the time the finished ones took', async () => {
      const H = 3_600_000;
      // Day 0: two answered (10 s and 30 s), one fallback (5 s), one on another entry not finished.
      const a = await enqueueAndClaim('a', t0);
      await store.completeInbound(a.id, a.leaseToken, result(a, t0 + 10_000));
      const b = await enqueueAndClaim('b', t0 + H, { conv: 'B' });
      await store.completeInbound(b.id, b.leaseToken, result(b, t0 + H + 30_000));
      const c = await enqueueAndClaim('c', t0 + 2 * H, { conv: 'C' });
      await store.completeInbound(c.id, c.leaseToken, result(c, t0 + 2 * H + 5_000, [], { status: 'fallback' }));
      await store.enqueue(inbound('d', { entry: 'bot.feishu' }), t0 + 3 * H);
      // Day 1: a dead letter; day 2: nothing; past the last bound: not counted.
      const e = await enqueueAndClaim('e', t0 + DAY + H, { conv: 'E' });
      await store.deadLetterInbound(e.id, e.leaseToken, { now: t0 + DAY + 2 * H, error: 'x' });
      await store.enqueue(inbound('f', { conv: 'F' }), t0 + 3 * DAY);
      // Before the first bound: not counted either.
      await store.enqueue(inbound('g', { conv: 'G' }), t0 - 1);

      const counts = await store.countMessages([t0, t0 + DAY, t0 + 2 * DAY, t0 + 3 * DAY]);
      const sorted = [...counts].sort((x, y) => x.period - y.period || x.entryKey.localeCompare(y.entryKey) || x.status.localeCompare(y.status));
      expect(sorted).toEqual([
        { period: 0, entryKey: 'bot.feishu', status: 'leased', count: 1, finished: 0, finishedMs: 0 }, // claimed with e
        { period: 0, entryKey: ENTRY, status: 'done', count: 2, finished: 2, finishedMs: 40_000 },
        { period: 0, entryKey: ENTRY, status: 'fallback', count: 1, finished: 1, finishedMs: 5_000 },
        { period: 1, entryKey: ENTRY, status: 'dead', count: 1, finished: 1, finishedMs: H },
      ]);
      // One period; bounds that are not ascending are refused.
      expect((await store.countMessages([t0 + DAY, t0 + 2 * DAY])).map((x) => [x.period, x.status, x.count])).toEqual([[0, 'dead', 1]]);
      expect(await store.countMessages([t0 + 10 * DAY, t0 + 11 * DAY])).toEqual([]);
      await expect(store.countMessages([t0, t0])).rejects.toThrow(/ascending/);
    });

    it('tells when the oldest unfinished message arrived and the oldest undelivered chunk was stored', async () => {
      const oldest = async () => {
        const o = await store.oldestWaiting();
        return [o.inboundAt, o.outboundAt];
      };
      const x = await enqueueAndClaim('x', t0 + 5);
      const y = await store.enqueue(inbound('y', { conv: 'Y' }), t0 + 9);
      await store.enqueue(inbound('x2'), t0 + 12); // behind x
      expect(await oldest()).toEqual([t0 + 5, null]);
      await store.completeInbound(x.id, x.leaseToken, result(x, t0 + 20, [reply(x, 0, t0 + 20)]));
      expect(await oldest()).toEqual([t0 + 9, t0 + 20]);
      const [o] = await store.claimOutbound(claim(t0 + 21, 1));
      expect(await oldest()).toEqual([t0 + 9, t0 + 20]);
      await store.markSent(o!.id, o!.leaseToken, { now: t0 + 22 });
      const claimed = (await store.claimInbound(claim(t0 + 30))).find((m) => m.id === y.id)!;
      await store.completeInbound(claimed.id, claimed.leaseToken, result(claimed, t0 + 30));
      expect(await oldest()).toEqual([t0 + 12, null]);
    });

    it('tells each entry\'s mailbox depth (queued and leased) and dead letters (inbound and outbound)', async () => {
      expect(await store.entryBacklog()).toEqual(new Map());
      await enqueueAndClaim('a', t0, { entry: 'bot.web' }); // leased
      await store.enqueue(inbound('b', { entry: 'bot.web' }), t0); // queued behind a
      const c = await enqueueAndClaim('c', t0, { entry: 'bot.feishu', conv: 'g1' });
      await store.deadLetterInbound(c.id, c.leaseToken, { now: t0, error: 'x' });
      const d = await enqueueAndClaim('d', t0, { entry: 'bot.feishu', conv: 'g2' });
      await store.completeInbound(d.id, d.leaseToken, result(d, t0, [reply(d, 0, t0)]));
      const [o] = await store.claimOutbound(claim(t0, 1));
      await store.deadLetterOutbound(o!.id, o!.leaseToken, { now: t0, error: 'x' });
      const e = await enqueueAndClaim('e', t0, { entry: 'bot.done', conv: 'z' });
      await store.completeInbound(e.id, e.leaseToken, result(e, t0));
      expect(await store.entryBacklog()).toEqual(
        new Map([
          ['bot.web', { mailbox: 2, dead: 0 }],
          ['bot.feishu', { mailbox: 0, dead: 2 }],
        ]),
      );
    });

    it('tells what waits on each entry, answers and deliveries, and since when the oldest of each', async () => {
      expect(await store.entryWaits()).toEqual(new Map());
      await enqueueAndClaim('a', t0, { entry: 'bot.web' }); // being answered
      await store.enqueue(inbound('b', { entry: 'bot.web' }), t0 + 5); // queued behind a
      const c = await enqueueAndClaim('c', t0 + 1, { entry: 'bot.feishu', conv: 'g1' });
      await store.completeInbound(c.id, c.leaseToken, result(c, t0 + 2, [reply(c, 0, t0 + 2, { chunkCount: 2 }), reply(c, 1, t0 + 2, { chunkCount: 2 })]));
      const d = await enqueueAndClaim('d', t0 + 3, { entry: 'bot.feishu', conv: 'g2' });
      await store.deadLetterInbound(d.id, d.leaseToken, { now: t0 + 3, error: 'x' }); // dead: waits no more
      const e = await enqueueAndClaim('e', t0 + 4, { entry: 'bot.done', conv: 'z' });
      await store.completeInbound(e.id, e.leaseToken, result(e, t0 + 4)); // answered without a reply
      expect(await store.entryWaits()).toEqual(
        new Map([
          ['bot.web', { inbound: 2, inboundSince: t0, outbound: 0, outboundSince: null }],
          ['bot.feishu', { inbound: 0, inboundSince: null, outbound: 2, outboundSince: t0 + 2 }],
        ]),
      );
      // Delivered: nothing waits on the entry any more.
      for (let claimed = await store.claimOutbound(claim(t0 + 6)); claimed.length > 0; claimed = await store.claimOutbound(claim(t0 + 6))) {
        for (const o of claimed) await store.markSent(o.id, o.leaseToken, { now: t0 + 6 });
      }
      expect((await store.entryWaits()).get('bot.feishu')).toBeUndefined();
    });

    it('lists an entry\'s conversations, most recent first, with their count and latest message, within the scan bound', async () => {
      await store.enqueue(inbound('a1', { conv: 'A', user: 'alice' }), t0);
      await store.enqueue(inbound('b1', { conv: 'B', user: 'bob' }), t0 + 1);
      const a2 = await store.enqueue(inbound('a2', { conv: 'A', user: 'alice' }), t0 + 2);
      await store.enqueue(inbound('x1', { entry: 'bot.other', conv: 'A', user: 'alice' }), t0 + 3);
      const all = await store.listConversations(ENTRY);
      expect(all).toEqual([
        { userId: 'alice', conversationId: 'A', messages: 2, lastMessageId: a2.id, lastAt: t0 + 2, lastText: 'text a2' },
        expect.objectContaining({ userId: 'bob', conversationId: 'B', messages: 1, lastText: 'text b1' }),
      ]);
      expect(await store.listConversations(ENTRY, { limit: 1 })).toHaveLength(1);
      // Only the newest two messages are looked at: bob's and alice's last.
      expect((await store.listConversations(ENTRY, { scan: 2 })).map((c) => [c.userId, c.messages])).toEqual([
        ['alice', 1],
        ['bob', 1],
      ]);
      expect(await store.listConversations('bot.nobody')).toEqual([]);
    });

    it('prunes old finished messages with their sent replies, and old feed items, but keeps the rest', async () => {
      const doneSent = await enqueueAndClaim('done-sent', t0, { conv: 'A' });
      await store.completeInbound(doneSent.id, doneSent.leaseToken, result(doneSent, t0, [reply(doneSent, 0, t0)]));
      const [o] = await store.claimOutbound(claim(t0));
      await store.markSent(o!.id, o!.leaseToken, { now: t0 });
      const fallback = await enqueueAndClaim('fallback', t0, { conv: 'B' });
      await store.completeInbound(fallback.id, fallback.leaseToken, result(fallback, t0, [], { status: 'fallback' }));
      const dead = await enqueueAndClaim('dead', t0, { conv: 'C' });
      await store.deadLetterInbound(dead.id, dead.leaseToken, { now: t0, error: 'x' });
      // Done, but its reply is a dead letter: the message stays while its dead reply points at it.
      const deadReply = await enqueueAndClaim('dead-reply', t0, { conv: 'D' });
      await store.completeInbound(deadReply.id, deadReply.leaseToken, result(deadReply, t0, [reply(deadReply, 0, t0)]));
      const [o2] = await store.claimOutbound(claim(t0));
      await store.deadLetterOutbound(o2!.id, o2!.leaseToken, { now: t0, error: 'HTTP 400' });
      const recent = await enqueueAndClaim('recent', t0 + 8 * DAY, { conv: 'F' });
      await store.completeInbound(recent.id, recent.leaseToken, result(recent, t0 + 8 * DAY));
      const queued = await store.enqueue(inbound('queued', { conv: 'E' }), t0 + 1);
      const feed = (key: string, at: number) => store.appendFeed({ entryKey: ENTRY, conversationId: 'c1', idempotencyKey: key, replyTo: doneSent.id, payload: key }, at);
      await feed('old', t0);
      const young = await feed('young', t0 + 9 * DAY);

      const deleted = await store.prune(t0 + 10 * DAY, { dedupRetentionMs: 5 * DAY, feedRetentionMs: 5 * DAY });
      // doneSent + its sent reply + fallback + the old feed item (timeline events are not counted).
      expect(deleted).toBe(4);
      expect(await store.getMessage(doneSent.id)).toBeUndefined();
      expect(await store.getMessage(fallback.id)).toBeUndefined();
      expect((await store.getMessage(dead.id))?.status).toBe('dead');
      expect((await store.getMessage(deadReply.id))?.replies.map((r) => r.status)).toEqual(['dead']);
      expect((await store.listDeadLetters()).map((d) => d.kind).sort()).toEqual(['inbound', 'outbound']);
      expect((await store.getMessage(queued.id))?.status).toBe('queued');
      expect((await store.getMessage(recent.id))?.status).toBe('done');
      expect((await store.readFeed(ENTRY, 'c1', 0, 10)).map((f) => f.seq)).toEqual([young.seq]);
      // The retention horizon: a pruned dedup key is new again; a retained one is still a duplicate.
      const re = await store.enqueue(inbound('done-sent', { conv: 'A' }), t0 + 10 * DAY);
      expect(re.duplicate).toBe(false);
      expect([doneSent.id, fallback.id, dead.id, deadReply.id, queued.id, recent.id]).not.toContain(re.id);
      expect((await store.enqueue(inbound('dead', { conv: 'C' }), t0 + 10 * DAY)).duplicate).toBe(true);
      expect((await store.enqueue(inbound('recent', { conv: 'F' }), t0 + 10 * DAY)).duplicate).toBe(true);
      expect(await store.prune(t0 + 10 * DAY, { dedupRetentionMs: 5 * DAY, feedRetentionMs: 5 * DAY })).toBe(0);
    });

    it('closes idempotently', async () => {
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
    });

    it('drains 2000 messages over 200 conversations in per-conversation order', async () => {
      const order = new Map<string, string[]>(); // conversationKey -> ids in enqueue order
      for (let i = 0; i < 2000; i++) {
        const item = inbound(`m${i}`, { conv: `c${(i * 7) % 200}` });
        const { id } = await store.enqueue(item, t0 + i);
        order.set(item.conversationKey, [...(order.get(item.conversationKey) ?? []), id]);
      }
      const completed = new Map<string, string[]>();
      const leased = new Map<string, InboundItem>();
      let now = t0 + 10_000;
      for (let round = 0; round < 500 && [...completed.values()].flat().length < 2000; round++) {
        now += 1;
        const batch = await store.claimInbound(claim(now, 50, 10 * DAY));
        expect(batch.length).toBeLessThanOrEqual(50);
        expect(new Set(batch.map((b) => b.conversationKey)).size).toBe(batch.length);
        const heldConvs = new Set([...leased.values()].map((l) => l.conversationKey));
        for (const b of batch) {
          expect(leased.has(b.id)).toBe(false);
          expect(heldConvs.has(b.conversationKey)).toBe(false);
        }
        // Finish what was held since the last round; hold every other new item for one round.
        const finish = [...leased.values(), ...batch.filter((_, i) => i % 2 === 0)];
        leased.clear();
        batch.filter((_, i) => i % 2 === 1).forEach((b) => leased.set(b.id, b));
        for (const f of finish) {
          expect(await store.completeInbound(f.id, f.leaseToken, result(f, now))).toEqual([]);
          completed.set(f.conversationKey, [...(completed.get(f.conversationKey) ?? []), f.id]);
        }
      }
      expect(completed).toEqual(order);
      expect(await store.stats()).toMatchObject({ inboundQueued: 0, inboundLeased: 0 });
    }, 60_000);
  });
}
