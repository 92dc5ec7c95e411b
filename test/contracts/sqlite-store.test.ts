import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { startWalCheckpointer } from '../../src/store/sqlite/wal-checkpointer.js';
import type { NewInbound } from '../../src/store/store.js';
import { runStoreContract } from './store.contract.js';

const t0 = 1_700_000_000_000;
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'cococat-sqlite-'));
let fileCount = 0;
const tmpFile = () => path.join(tmpRoot, `store-${++fileCount}.db`);

afterAll(() => {
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

runStoreContract('SqliteStore (:memory:)', async () => openSqliteStore({ path: ':memory:' }));
runStoreContract('SqliteStore (file)', async () => openSqliteStore({ path: tmpFile() }));

function inbound(dedup: string, conv = 'c1'): NewInbound {
  return {
    entryKey: 'bot.web', channelType: 'web_api', targetKind: 'agent', targetId: 'bot', dedupKey: dedup,
    conversationKey: `bot.web/${conv}`,
    message: {
      channelType: 'web_api', sceneId: 'bot', userId: 'u1', conversationId: conv, content: dedup, msgType: 'text',
      msgId: dedup, timestamp: t0, isGroup: false, mentionsBot: true,
    },
  };
}

const migrationFiles = () =>
  fs.readdirSync(new URL('../../src/store/sqlite/migrations/', import.meta.url)).filter((f) => /^\d+_.*\.sql$/.test(f));

describe('SqliteStore (SQLite specifics)', () => {
  it('keeps queued, leased and outbox rows and notices across close and reopen; an old lease is reclaimable once expired', async () => {
    const file = tmpFile();
    let store = openSqliteStore({ path: file });
    const a = await store.enqueue(inbound('a'), t0);
    const b = await store.enqueue(inbound('b', 'c2'), t0 + 1);
    const q = await store.enqueue(inbound('q', 'c3'), t0 + 2);
    const [ca, cb] = await store.claimInbound({ now: t0 + 10, leaseMs: 30_000, limit: 2, owner: 'w1' });
    expect([ca?.id, cb?.id]).toEqual([a.id, b.id]);
    const replies = [0, 1].map((i) => ({
      entryKey: 'bot.web', channelType: 'web_api', conversationId: 'c2', userId: 'u1', idempotencyKey: `${b.id}:${i}`,
      text: `r${i}`, format: 'markdown' as const, chunkIndex: i, chunkCount: 2, replyTo: b.id, inReplyTo: 'b',
      isGroup: true, replyMeta: { thread: 't' }, availableAt: t0 + 20, expiresAt: t0 + 60_000,
    }));
    const history = { key: { agentId: 'bot', entryKey: 'bot.web', conversationId: 'c2' }, turns: [{ role: 'user' as const, content: 'b', at: t0 + 20 }] };
    expect(await store.completeInbound(b.id, cb!.leaseToken, { now: t0 + 20, status: 'done', replies, history })).toEqual([]);
    await store.addNotice({ event: 'handoff', body: '{"text":"a person, please"}' }, t0 + 21);
    await store.close(); // stands in for the crash: nothing else is flushed by the test

    store = openSqliteStore({ path: file });
    expect(await store.stats()).toEqual({ inboundQueued: 1, inboundLeased: 1, inboundDead: 0, outboundPending: 2, outboundLeased: 0, outboundDead: 0, noticesWaiting: 1 });
    expect(await store.claimNotice({ now: t0 + 22, leaseMs: 30_000 })).toMatchObject({ event: 'handoff', body: '{"text":"a person, please"}' });
    expect(await store.getMessage(q.id)).toMatchObject({ status: 'queued', content: 'q' });
    expect((await store.getMessage(b.id))?.replies.map((r) => [r.text, r.format, r.isGroup, r.replyMeta])).toEqual([
      ['r0', 'markdown', true, { thread: 't' }], ['r1', 'markdown', true, { thread: 't' }],
    ]);
    expect(await store.loadHistory(history.key, 10)).toEqual(history.turns);
    expect(await store.enqueue(inbound('a'), t0 + 30)).toEqual({ id: a.id, duplicate: true, acceptedAt: t0 });
    // a's lease (until t0 + 30 010) belonged to the "crashed" process: blocked until it expires.
    expect((await store.claimInbound({ now: t0 + 30_009, leaseMs: 30_000, limit: 10, owner: 'w2' })).map((i) => i.id)).toEqual([q.id]);
    const [again] = await store.claimInbound({ now: t0 + 30_010, leaseMs: 30_000, limit: 10, owner: 'w2' });
    expect(again).toMatchObject({ id: a.id, attempts: 2 });
    expect(again?.leaseToken).not.toBe(ca?.leaseToken);
    expect(await store.completeInbound(a.id, ca!.leaseToken, { now: t0 + 30_011, status: 'done', replies: [], history })).toBe(false);
    expect((await store.claimOutbound({ now: t0 + 30_011, leaseMs: 1000, limit: 10, owner: 'w2' })).map((o) => o.text)).toEqual(['r0']);
    await store.close();
  });

  it('applies each migration once and records it in schema_migrations', async () => {
    const file = tmpFile();
    const files = migrationFiles();
    expect(files.length).toBeGreaterThan(0);
    await openSqliteStore({ path: file }).close();
    const read = () => {
      const db = new Database(file, { readonly: true });
      try {
        return db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as { version: number; name: string; applied_at: number }[];
      } finally {
        db.close();
      }
    };
    const first = read();
    expect(first.map((r) => r.name)).toEqual([...files].sort());
    expect(first.map((r) => r.version)).toEqual(files.map((f) => Number(f.split('_')[0])).sort((x, y) => x - y));
    // Reopening must not re-run the DDL (it would fail on CREATE TABLE) nor add rows.
    const store = openSqliteStore({ path: file });
    await store.enqueue(inbound('after-reopen'), t0);
    await store.close();
    expect(read()).toEqual(first);
  });

  it('runs in WAL mode with the requested synchronous level and foreign keys on', async () => {
    const file = tmpFile();
    for (const [sync, level] of [['normal', 1], ['full', 2]] as const) {
      const store = openSqliteStore({ path: file, synchronous: sync });
      const db = (store as unknown as { db: Database.Database }).db;
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(level);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      await store.close();
    }
    const other = new Database(file, { readonly: true });
    expect(other.pragma('journal_mode', { simple: true })).toBe('wal'); // persistent in the file
    other.close();
  });

  it('never leases a message its head row wrongly calls due: the claim skips it and mends the head', async () => {
    const file = tmpFile();
    const store = openSqliteStore({ path: file });
    const done = await store.enqueue(inbound('done', 'c1'), t0);
    const [item] = await store.claimInbound({ now: t0, leaseMs: 60_000, limit: 1, owner: 'w' });
    await store.completeInbound(done.id, item!.leaseToken, { now: t0, status: 'done', replies: [], history: { key: { agentId: 'bot', entryKey: 'bot.web', conversationId: 'c1' }, turns: [] } });
    const leased = await store.enqueue(inbound('leased', 'c2'), t0);
    const [held] = await store.claimInbound({ now: t0, leaseMs: 60_000, limit: 1, owner: 'w' });
    expect(held?.id).toBe(leased.id);
    const queued = await store.enqueue(inbound('queued', 'c3'), t0);
    // Corrupt the head table from another connection: a finished message, a live lease and a
    // vanished row all claim to be due now.
    const other = new Database(file);
    other.prepare('INSERT INTO inbound_heads (conversation_key, head_id, ready_at) VALUES (?, ?, 0)').run('bot.web/c1', Number(done.id));
    other.prepare('UPDATE inbound_heads SET ready_at = 0 WHERE head_id = ?').run(Number(leased.id));
    other.prepare('INSERT INTO inbound_heads (conversation_key, head_id, ready_at) VALUES (?, ?, 0)').run('bot.web/gone', 999_999);
    other.close();

    const claimed = await store.claimInbound({ now: t0 + 1, leaseMs: 60_000, limit: 10, owner: 'w2' });
    expect(claimed.map((c) => c.id)).toEqual([queued.id]);
    expect((await store.getMessage(done.id))?.status).toBe('done');
    expect((await store.getMessage(leased.id))?.attempts).toBe(1);
    const check = new Database(file, { readonly: true });
    const heads = check.prepare('SELECT conversation_key, head_id, ready_at FROM inbound_heads ORDER BY head_id').all();
    check.close();
    // Mended: no head for the finished message or the vanished row; the lease's head is due when it runs out.
    expect(heads).toEqual([
      { conversation_key: 'bot.web/c2', head_id: Number(leased.id), ready_at: t0 + 60_000 },
      { conversation_key: 'bot.web/c3', head_id: Number(queued.id), ready_at: t0 + 60_000 + 1 },
    ]);
    await store.close();
  });

  it('prunes by id range: an old message stored after a younger one (a clock set back) waits until that one is old too', async () => {
    const store = openSqliteStore({ path: tmpFile() });
    const DAY = 86_400_000;
    const finish = async (dedup: string, conv: string, at: number) => {
      const { id } = await store.enqueue(inbound(dedup, conv), at);
      const [item] = await store.claimInbound({ now: at, leaseMs: 60_000, limit: 1, owner: 'w' });
      await store.completeInbound(id, item!.leaseToken, { now: at, status: 'done', replies: [], history: { key: { agentId: 'bot', entryKey: 'bot.web', conversationId: conv }, turns: [] } });
      return id;
    };
    const old = await finish('old', 'c1', t0);
    const young = await finish('young', 'c2', t0 + 8 * DAY);
    const setBack = await finish('set-back', 'c3', t0 + DAY);
    const retention = { dedupRetentionMs: 5 * DAY, feedRetentionMs: 5 * DAY };
    expect(await store.prune(t0 + 10 * DAY, retention)).toBe(1);
    expect(await store.getMessage(old)).toBeUndefined();
    expect((await store.getMessage(setBack))?.status).toBe('done');
    expect(await store.prune(t0 + 14 * DAY, retention)).toBe(2);
    expect(await store.getMessage(young)).toBeUndefined();
    expect(await store.getMessage(setBack)).toBeUndefined();
    await store.close();
  });

  it('a multi-statement write that fails inside a group commit leaves no partial rows and fails alone', async () => {
    const store = openSqliteStore({ path: tmpFile() });
    const a = await store.enqueue(inbound('a'), t0);
    const [item] = await store.claimInbound({ now: t0, leaseMs: 60_000, limit: 1, owner: 'w' });
    const reply = {
      entryKey: 'bot.web', channelType: 'web_api', conversationId: 'c1', userId: 'u1', idempotencyKey: `${a.id}:0`,
      text: 'r', format: 'text' as const, chunkIndex: 0, chunkCount: 1, replyTo: a.id, inReplyTo: 'a',
      isGroup: false, availableAt: t0, expiresAt: t0 + 60_000,
    };
    // The history check throws after the finish mark and the outbox row were written.
    const tooMany = Array.from({ length: 1025 }, () => ({ role: 'user' as const, content: 'x', at: t0 }));
    const history = { key: { agentId: 'bot', entryKey: 'bot.web', conversationId: 'c1' }, turns: tooMany };
    const [bad, other] = await Promise.allSettled([
      store.completeInbound(a.id, item!.leaseToken, { now: t0 + 1, status: 'done', replies: [reply], history }),
      store.enqueue(inbound('b', 'c2'), t0 + 1),
    ]);
    expect(bad.status).toBe('rejected');
    expect(other).toMatchObject({ status: 'fulfilled', value: { duplicate: false } });
    expect(await store.getMessage(a.id)).toMatchObject({ status: 'leased', replies: [] });
    expect(await store.stats()).toMatchObject({ inboundQueued: 1, inboundLeased: 1, outboundPending: 0, outboundLeased: 0 });
    await store.close();
  });

  it('group-commits concurrent enqueues: call order kept, a bad item fails alone, close flushes', async () => {
    const store = openSqliteStore({ path: tmpFile() });
    const bad = { ...inbound('bad'), targetKind: 'nope' as 'agent' }; // violates a CHECK constraint
    const settled = await Promise.allSettled([inbound('x1'), bad, inbound('x2'), inbound('x1')].map((i) => store.enqueue(i, t0)));
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const [x1, , x2, dup] = settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    expect(dup).toEqual({ id: x1?.id, duplicate: true, acceptedAt: t0 });
    expect((await store.claimInbound({ now: t0, leaseMs: 1000, limit: 10, owner: 'w' })).map((i) => i.id)).toEqual([x1?.id]);
    const late = store.enqueue(inbound('late', 'c9'), t0 + 1);
    await store.close();
    expect((await late).duplicate).toBe(false);
    expect(x2?.duplicate).toBe(false);
    await expect(store.enqueue(inbound('after-close'), t0 + 2)).rejects.toThrow();
  });

  it('checkpoints the WAL from a worker thread, and removes the WAL on close', async () => {
    const file = tmpFile();
    const store = openSqliteStore({ path: file });
    const db = (store as unknown as { db: Database.Database }).db;
    // The gateway's own connection would only checkpoint past ~200 MB of WAL.
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(50_000);
    const before = fs.statSync(file).size;
    const body = 'x'.repeat(1_000);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.enqueue({ ...inbound(`m${batch}-${i}`, `c${i}`), message: { ...inbound('m').message, content: body } }, t0)));
    }
    // ~3 MB of WAL, far below the backstop: only the worker can have copied it into the file.
    const deadline = Date.now() + 10_000;
    while (fs.statSync(file).size < before + 2_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fs.statSync(file).size).toBeGreaterThan(before + 2_000_000);
    expect(fs.existsSync(`${file}-wal`)).toBe(true);
    await store.close();
    // Removed only if the worker's connection closed first (the last connection cleans up).
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    const check = new Database(file, { readonly: true });
    expect(check.prepare('SELECT count(*) FROM inbound').pluck().get()).toBe(2_000);
    check.close();
  });

  it('finishes close() in a process with nothing else to wait for (the worker alone keeps it alive then)', () => {
    const file = tmpFile();
    const store = new URL('../../src/store/sqlite/index.ts', import.meta.url).href;
    const script = `const { openSqliteStore } = await import(${JSON.stringify(store)});
      const s = openSqliteStore({ path: ${JSON.stringify(file)} });
      await s.prune(Date.now(), { dedupRetentionMs: 1, feedRetentionMs: 1 });
      await s.close();
      console.log('closed');`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).not.toMatch(/Error/);
    expect([run.status, run.stdout.trim()]).toEqual([0, 'closed']);
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
  });

  it('reports a checkpoint worker that cannot open the database', async () => {
    const failures: Error[] = [];
    const checkpointer = startWalCheckpointer({ path: path.join(tmpRoot, 'missing.db'), synchronous: 'NORMAL', onFailure: (err) => failures.push(err) });
    await checkpointer.stop();
    expect(failures).toHaveLength(1);
    expect(failures[0]?.message).toMatch(/unable to open|does not exist|directory does not exist/i);
  });
});
