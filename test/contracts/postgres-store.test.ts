import pg from 'pg';
import { dropSchemas, pgQuery } from '../helpers/postgres.js';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationFiles } from '../../src/store/rows.js';
import { migrate, openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SIGNAL_MAX_BYTES } from '../../src/store/postgres/notifications.js';
import type { InboundItem, InboundResult, NewInbound, NewOutbound, Store } from '../../src/store/store.js';
import { runStoreContract } from './store.contract.js';

const url = process.env.COCOCAT_TEST_PG_URL;
const t0 = 1_700_000_000_000;
const HOUR = 3_600_000;

function inbound(dedup: string, conv = 'c1'): NewInbound {
  return {
    entryKey: 'bot.web', channelType: 'web_api', targetKind: 'agent', targetId: 'bot', dedupKey: dedup,
    conversationKey: `bot.web/${conv}`,
    message: {
      channelType: 'web_api', sceneId: 'bot', userId: `u-${conv}`, conversationId: conv, content: dedup, msgType: 'text',
      msgId: dedup, timestamp: t0, isGroup: false, mentionsBot: true,
    },
  };
}

function result(item: InboundItem, now: number, replies: NewOutbound[] = []): InboundResult {
  const key = { agentId: 'bot', entryKey: item.entryKey, conversationId: item.message.conversationId };
  return { now, status: 'done', replies, history: { key, turns: [{ role: 'user', content: item.message.content, at: now }] } };
}

function reply(item: InboundItem, index: number, count: number, now: number): NewOutbound {
  return {
    entryKey: item.entryKey, channelType: item.channelType, conversationId: item.message.conversationId, userId: item.message.userId,
    idempotencyKey: `${item.id}:${index}`, text: `${item.message.content} ${index}`, format: 'text', chunkIndex: index,
    chunkCount: count, replyTo: item.id, inReplyTo: item.message.msgId, isGroup: false, availableAt: now, expiresAt: now + HOUR,
  };
}

const append = <K, V>(map: Map<K, V[]>, key: K, value: V) => map.set(key, [...(map.get(key) ?? []), value]);
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

if (!url) {
  describe.skip('PostgresStore: skipped because COCOCAT_TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)', () => {
    it('needs a PostgreSQL server', () => {});
  });
} else {
  const schemas: string[] = [];
  const run = `${process.pid}_${Date.now().toString(36)}`;
  /** One schema per store under test, dropped after the file. */
  const freshSchema = () => {
    const schema = `cc_t_${run}_${schemas.length + 1}`;
    schemas.push(schema);
    return schema;
  };
  const sql = <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => pgQuery<R>(url, text, values);

  afterAll(async () => {
    await dropSchemas(url, schemas);
  });

  runStoreContract('PostgresStore', () => openPostgresStore({ url, schema: freshSchema() }));

  describe('PostgresStore (PostgreSQL specifics)', () => {
    /** Runs `test` on two stores (two pools, as two processes would have) on one fresh schema, then closes both. */
    const withTwoStores = async (test: (a: Store, b: Store) => Promise<void>): Promise<void> => {
      const schema = freshSchema();
      const a = await openPostgresStore({ url, schema });
      const b = await openPostgresStore({ url, schema, poolSize: 5 });
      try {
        await test(a, b);
      } finally {
        await a.close();
        await b.close();
      }
    };

    it("tells a store about feed items the other appended (once each, not its own, not duplicates) and reply chunks it left", async () => {
      await withTwoStores(async (a, b) => {
        const seenByA: unknown[] = [];
        const seenByB: unknown[] = [];
        const stopA = a.onFeedAppended!((e) => seenByA.push(e));
        b.onFeedAppended!((e) => seenByB.push(e));
        const item = (key: string) => ({ entryKey: 'bot.web', conversationId: 'u1', idempotencyKey: key, replyTo: '7', payload: { text: key } });
        // LISTEN is set up in the background: probe each way until a notification comes through.
        for (const [from, seen] of [[b, seenByA], [a, seenByB]] as const) {
          for (let i = 0; seen.length === 0; i++) {
            if (i === 100) throw new Error('no notification within 10 s');
            await from.appendFeed(item(`probe-${from === a ? 'a' : 'b'}-${i}`), t0);
            await new Promise((r) => setTimeout(r, 100));
          }
          seen.length = 0;
        }
        await b.appendFeed(item('k1'), t0);
        await b.appendFeed(item('k1'), t0); // a duplicate stores nothing and tells no one
        await a.appendFeed({ ...item('k2'), conversationId: 'u2', replyTo: '8' }, t0);
        for (let i = 0; seenByA.length === 0 || seenByB.length === 0; i++) {
          if (i === 100) throw new Error('notifications missing after 10 s');
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 200)); // room for any notification that should not come
        expect(seenByA).toEqual([{ entryKey: 'bot.web', conversationId: 'u1', replyTo: '7' }]);
        expect(seenByB).toEqual([{ entryKey: 'bot.web', conversationId: 'u2', replyTo: '8' }]);
        stopA();
        await b.appendFeed(item('k3'), t0);
        await new Promise((r) => setTimeout(r, 200));
        expect(seenByA).toHaveLength(1);

        // Reply chunks b stores without taking them are announced to a; chunks b takes are not.
        const pending: string[] = [];
        a.onOutboxPending!((entryKey) => pending.push(entryKey));
        for (const [dedup, claim] of [['taken', { leaseMs: HOUR, owner: 'b' }], ['left', undefined]] as const) {
          await b.enqueue(inbound(dedup, dedup), t0);
          const [claimed] = await b.claimInbound({ now: t0, leaseMs: HOUR, limit: 1, owner: 'b' });
          await b.completeInbound(claimed!.id, claimed!.leaseToken, { ...result(claimed!, t0, [reply(claimed!, 0, 1, t0)]), claim });
        }
        for (let i = 0; pending.length === 0; i++) {
          if (i === 100) throw new Error('no outbox notification after 10 s');
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 200));
        expect(pending).toEqual(['bot.web']);
      });
    });

    it('hands signals to the other store only, in order, and refuses one too large to notify', async () => {
      await withTwoStores(async (a, b) => {
        const seenByA: unknown[] = [];
        const seenByB: unknown[] = [];
        a.onSignal!((s) => seenByA.push(s));
        b.onSignal!((s) => seenByB.push(s));
        for (let i = 0; seenByA.length === 0; i++) {
          if (i === 100) throw new Error('no signal within 10 s');
          expect(b.signal!('bot.web', 'probe', String(i))).toBe(true);
          await new Promise((r) => setTimeout(r, 100));
        }
        seenByA.length = 0;
        for (let i = 0; i < 20; i++) b.signal!('bot.web', 'partial', `piece ${i} 中文 "quoted"`);
        expect(b.signal!('bot.web', 'partial', 'x'.repeat(SIGNAL_MAX_BYTES))).toBe(false);
        for (let i = 0; seenByA.length < 20; i++) {
          if (i === 100) throw new Error(`only ${seenByA.length} of 20 signals after 10 s`);
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 200)); // room for one that should not come
        expect(seenByA).toEqual(Array.from({ length: 20 }, (_, i) => ({ entryKey: 'bot.web', topic: 'partial', body: `piece ${i} 中文 "quoted"` })));
        // A store does not hear its own signals.
        expect(seenByB).toEqual([]);
      });
    });

    it('two stores claiming at once lease each of 200 messages once, never two of one conversation, in order', async () => {
      await withTwoStores(async (a, b) => {
        const enqueued = new Map<string, string[]>();
        for (let i = 0; i < 200; i++) {
          const item = inbound(`m${i}`, `c${(i * 7) % 20}`);
          append(enqueued, item.conversationKey, (await (i % 2 === 0 ? a : b).enqueue(item, t0 + i)).id);
        }
        const leases = new Map<string, number>();
        const claimedInOrder = new Map<string, string[]>();
        const held = new Set<string>();
        const overlaps: string[] = [];
        let completed = 0;
        const worker = async (store: Store, owner: string) => {
          for (let spin = 0; completed < 200 && spin < 20_000; spin++) {
            const batch = await store.claimInbound({ now: t0 + 1_000, leaseMs: HOUR, limit: 3, owner });
            for (const item of batch) {
              leases.set(item.id, (leases.get(item.id) ?? 0) + 1);
              if (held.has(item.conversationKey)) overlaps.push(`${owner}: ${item.conversationKey}`);
              held.add(item.conversationKey);
              append(claimedInOrder, item.conversationKey, item.id);
            }
            for (const item of batch) {
              // Released before the commit that lets the next message of the conversation be claimed.
              held.delete(item.conversationKey);
              expect(await store.completeInbound(item.id, item.leaseToken, result(item, t0 + 1_001))).toEqual([]);
              completed++;
            }
            if (batch.length === 0) await nextTurn();
          }
        };
        await Promise.all([a, a, a, b, b, b].map((store, i) => worker(store, `w${i}`)));
        expect(overlaps).toEqual([]);
        expect(completed).toBe(200);
        expect(leases.size).toBe(200);
        expect([...leases.values()].every((n) => n === 1)).toBe(true);
        expect(claimedInOrder).toEqual(enqueued);
        expect(await b.stats()).toMatchObject({ inboundQueued: 0, inboundLeased: 0 });
      });
    });

    it('keeps each conversation in id order while both stores enqueue into it and claim from it', async () => {
      // Guards the conversation lock: without it an id drawn before another process's later id
      // commits can be claimed second. That window is one round trip wide, so only some runs
      // would catch a missing lock; a lost head row strands a message and fails every time.
      await withTwoStores(async (a, b) => {
        const PER_PRODUCER = 150;
        const claimed = new Map<string, number[]>();
        let producing = 2;
        const producer = async (store: Store, name: string) => {
          for (let i = 0; i < PER_PRODUCER; i++) await store.enqueue(inbound(`${name}${i}`, `c${i % 8}`), t0);
          producing--;
        };
        const worker = async (store: Store, owner: string) => {
          for (;;) {
            const last = producing === 0; // every enqueue committed before this claim began
            const batch = await store.claimInbound({ now: t0, leaseMs: HOUR, limit: 4, owner });
            for (const item of batch) {
              append(claimed, item.conversationKey, Number(item.id));
              expect(await store.completeInbound(item.id, item.leaseToken, result(item, t0))).toEqual([]);
            }
            if (batch.length > 0) continue;
            if (last) return;
            await nextTurn();
          }
        };
        await Promise.all([producer(a, 'a'), producer(b, 'b'), worker(a, 'wa'), worker(b, 'wb')]);
        expect(await a.stats()).toMatchObject({ inboundQueued: 0, inboundLeased: 0 });
        expect([...claimed.values()].flat()).toHaveLength(2 * PER_PRODUCER);
        for (const ids of claimed.values()) expect(ids).toEqual([...ids].sort((x, y) => x - y));
      });
    });

    it('two stores sending at once deliver each of 100 chunks once, in order per conversation', async () => {
      await withTwoStores(async (a, b) => {
        const expected = new Map<string, string[]>();
        for (let i = 0; i < 20; i++) await a.enqueue(inbound(`m${i}`, `c${i}`), t0);
        for (const item of await a.claimInbound({ now: t0, leaseMs: HOUR, limit: 20, owner: 'w' })) {
          const replies = Array.from({ length: 5 }, (_, k) => reply(item, k, 5, t0));
          replies.forEach((r) => append(expected, r.conversationId, r.text));
          expect(await a.completeInbound(item.id, item.leaseToken, result(item, t0, replies))).toEqual([]);
        }
        const sent = new Map<string, string[]>();
        const sends = new Map<string, number>();
        const held = new Set<string>();
        const overlaps: string[] = [];
        let done = 0;
        const sender = async (store: Store, owner: string) => {
          for (let spin = 0; done < 100 && spin < 20_000; spin++) {
            const batch = await store.claimOutbound({ now: t0 + 1, leaseMs: HOUR, limit: 3, owner });
            for (const o of batch) {
              if (held.has(o.conversationId)) overlaps.push(`${owner}: ${o.conversationId}`);
              held.add(o.conversationId);
              sends.set(o.id, (sends.get(o.id) ?? 0) + 1);
              append(sent, o.conversationId, o.text);
            }
            for (const o of batch) {
              held.delete(o.conversationId);
              expect(await store.markSent(o.id, o.leaseToken, { now: t0 + 2 })).toBe(true);
              done++;
            }
            if (batch.length === 0) await nextTurn();
          }
        };
        await Promise.all([a, a, b, b].map((store, i) => sender(store, `s${i}`)));
        expect(overlaps).toEqual([]);
        expect(sends.size).toBe(100);
        expect([...sends.values()].every((n) => n === 1)).toBe(true);
        expect(sent).toEqual(expected);
        expect(await a.stats()).toMatchObject({ outboundPending: 0, outboundLeased: 0 });
      });
    });

    it('two stores enqueuing one dedup key at once store one row and both answer its id', async () => {
      await withTwoStores(async (a, b) => {
        for (let i = 0; i < 20; i++) {
          const item = inbound(`d${i}`, `c${i % 3}`);
          // Half the time under another conversation key, so the unique index alone decides.
          const other = i % 2 === 0 ? item : { ...item, conversationKey: `${item.conversationKey}/other` };
          const [x, y] = await Promise.all([a.enqueue(item, t0 + i), b.enqueue(other, t0 + i)]);
          expect(x.id).toBe(y.id);
          expect([x.duplicate, y.duplicate].sort()).toEqual([false, true]);
        }
        expect(await a.listMessages({ limit: 100 })).toHaveLength(20);
      });
    });

    it('enqueues made at once share statements, yet one the database refuses fails alone', async () => {
      const schema = freshSchema();
      const store = await openPostgresStore({ url, schema });
      try {
        const enqueueAll = (items: NewInbound[], at: number) => Promise.allSettled(items.map((item, i) => store.enqueue(item, at + i)));
        const rowsOf = (prefix: string) => sql<{ dedup_key: string; id: string; tx: string }>(
          `SELECT dedup_key, id::text, xmin::text AS tx FROM ${schema}.inbound WHERE dedup_key LIKE $1 ORDER BY id`, [`${prefix}%`]);
        const together = Array.from({ length: 40 }, (_, i) => inbound(`t${i}`, `c${i % 4}`));
        const first = await enqueueAll(together, t0);
        expect(first.every((r) => r.status === 'fulfilled' && !r.value.duplicate)).toBe(true);
        const stored = await rowsOf('t');
        expect(stored).toHaveLength(40);
        // Rows written by one transaction share its xmin: far fewer transactions than messages.
        expect(new Set(stored.map((r) => r.tx)).size).toBeLessThan(10);

        // PostgreSQL text cannot hold NUL: this one message is refused, the rest of its batch is stored.
        const mixed = Array.from({ length: 20 }, (_, i) => inbound(`m${i}`, `c${i % 4}`));
        mixed[7] = { ...mixed[7]!, message: { ...mixed[7]!.message, userId: 'u\u0000x' } };
        const second = await enqueueAll(mixed, t0 + 100);
        expect(second.map((r) => r.status)).toEqual(mixed.map((_, i) => (i === 7 ? 'rejected' : 'fulfilled')));
        const kept = (await rowsOf('m')).map((r) => r.dedup_key).sort();
        expect(kept).toEqual(mixed.filter((_, i) => i !== 7).map((x) => x.dedupKey).sort());

        // A repeat, in a batch or not, is answered as the duplicate it is.
        const again = await Promise.all([store.enqueue(inbound('t0', 'c0'), t0 + 200), store.enqueue(inbound('t1', 'c1'), t0 + 200),
          ...[0, 1, 2].map((i) => store.enqueue(inbound('new', 'c0'), t0 + 201 + i))]);
        const idOf = (key: string) => stored.find((r) => r.dedup_key === key)?.id;
        expect(again.slice(0, 2).map((r) => [r.id, r.duplicate])).toEqual([[idOf('t0'), true], [idOf('t1'), true]]);
        expect(again.slice(2).filter((r) => !r.duplicate)).toHaveLength(1);
        expect(new Set(again.slice(2).map((r) => r.id)).size).toBe(1);
      } finally {
        await store.close();
      }
    });

    it('two stores taking from one rate bucket at once share its tokens: never more than it holds', async () => {
      await withTwoStores(async (a, b) => {
        const bucket = { capacity: 30, perSecond: 0.001, now: t0 };
        const takes = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).takeRateTokens('bot.web:requests', 2, bucket)));
        expect(takes.reduce((sum, t) => sum + t.taken, 0)).toBe(30);
        expect(takes.filter((t) => t.taken > 0)).toHaveLength(15);
      });
    });

    it('races a worker completing against another store reclaiming its expired lease: exactly one of them wins', async () => {
      await withTwoStores(async (a, b) => {
        const outcomes = new Set<string>();
        for (let i = 0; i < 30; i++) {
          const { id } = await a.enqueue(inbound(`r${i}`, `c${i}`), t0 + i);
          const [item] = await a.claimInbound({ now: t0 + i, leaseMs: 1, limit: 10, owner: 'slow' });
          expect(item?.id).toBe(id);
          const now = t0 + i + 10;
          const [completed, reclaimed] = await Promise.all([
            a.completeInbound(id, item!.leaseToken, result(item!, now)),
            b.claimInbound({ now, leaseMs: HOUR, limit: 10, owner: 'other' }),
          ]);
          const detail = await a.getMessage(id);
          if (completed === false) {
            outcomes.add('reclaimed');
            expect(reclaimed.map((r) => r.id)).toEqual([id]);
            expect(detail).toMatchObject({ status: 'leased', attempts: 2 });
            expect(await b.completeInbound(id, reclaimed[0]!.leaseToken, result(reclaimed[0]!, now))).toEqual([]);
          } else {
            outcomes.add('completed');
            expect(reclaimed).toEqual([]);
            expect(detail).toMatchObject({ status: 'done', attempts: 1 });
          }
        }
        expect(outcomes.size).toBeGreaterThan(0);
        expect(await a.stats()).toMatchObject({ inboundQueued: 0, inboundLeased: 0 });
      });
    });

    it('migrates once: a second open applies nothing and keeps the data; stores opening together do not race', async () => {
      const files = migrationFiles(new URL('../../src/store/postgres/migrations/', import.meta.url));
      expect(files.length).toBeGreaterThan(0);
      const schema = freshSchema();
      const first = await openPostgresStore({ url, schema });
      const { id } = await first.enqueue(inbound('kept'), t0);
      await first.close();
      const read = () => sql<{ version: number; name: string; applied_at: string }>(
        `SELECT version, name, applied_at FROM ${schema}.schema_migrations ORDER BY version`,
      );
      const applied = await read();
      expect(applied.map((r) => r.name)).toEqual(files.map((f) => f.name));
      const again = await openPostgresStore({ url, schema });
      expect(await again.getMessage(id)).toMatchObject({ status: 'queued', content: 'kept' });
      expect((await again.enqueue(inbound('kept'), t0 + 1)).duplicate).toBe(true);
      await again.close();
      expect(await read()).toEqual(applied);
      const pool = new pg.Pool({ connectionString: url, options: `-c search_path=${schema}` });
      try {
        expect(await migrate(pool, schema)).toBe(0);
      } finally {
        await pool.end();
      }

      // Three processes starting at once on a schema that does not exist yet.
      const fresh = freshSchema();
      const stores = await Promise.all([1, 2, 3].map(() => openPostgresStore({ url, schema: fresh, poolSize: 2 })));
      await Promise.all(stores.map((s) => s.close()));
      const rows = await sql<{ name: string }>(`SELECT name FROM ${fresh}.schema_migrations ORDER BY version`);
      expect(rows.map((r) => r.name)).toEqual(files.map((f) => f.name));
    });

    it('rejects a schema name that is not a plain lowercase identifier, before connecting', async () => {
      for (const schema of ['Public', 'cc-t', 'x; DROP SCHEMA public', '1st', '', 'a'.repeat(64), 'naïve']) {
        await expect(openPostgresStore({ url, schema })).rejects.toThrow(/invalid PostgreSQL schema name/);
      }
      // An unreachable server would be the error otherwise: nothing was attempted.
      await expect(openPostgresStore({ url: 'postgres://nobody@127.0.0.1:1/none', schema: 'Bad' })).rejects.toThrow(/schema name/);
    });

    it('parses int8 as numbers in its own pool only, leaving the process-wide pg parsers alone', async () => {
      const store = await openPostgresStore({ url, schema: freshSchema() });
      try {
        const feed = await store.appendFeed({ entryKey: 'e', conversationId: 'c', idempotencyKey: 'k', replyTo: '1', payload: 1 }, t0);
        expect(typeof feed.seq).toBe('number');
        expect(await store.readFeed('e', 'c', 0, 10)).toEqual([{ seq: feed.seq, entryKey: 'e', conversationId: 'c', replyTo: '1', payload: 1, createdAt: t0 }]);
        expect(pg.types.getTypeParser(20)('42')).toBe('42');
        expect(pg.types.getTypeParser(114)('{"a":1}')).toEqual({ a: 1 });
      } finally {
        await store.close();
      }
    });
  });
}
