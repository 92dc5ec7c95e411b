import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type {
  ChannelStateRow, ClaimOptions, ConversationSummary, ForgottenUser, OldestWaiting, Enqueued, DeadLetter, DeadLetterKind, FeedItem, HistoryKey, HistoryTurn, InboundItem, InboundResult,
  InboundStatus, MessageDetail, MessageFilter, MessageSummary, NewFeedItem, NewInbound, NewNotice, NewOutbound, NoticeItem, NoticeSummary, OutboundItem,
  EntryBacklog, EntryWaits, OutboundStatus, PeriodCount, QueuedMessage, RateBucket, Store, StoreStats,
} from '../store.js';
import type { ChatMessage, MediaRef } from '../../core/message.js';
import { RATE_BUCKET_IDLE_MS } from '../store.js';
import {
  type EventRow,
  type FeedRow,
  type ClaimRow,
  type InboundRow,
  type OutboundRow,
  TURNS_PER_MESSAGE,
  laterTurnRange,
  chunkOf,
  claimable,
  clampLimit,
  firstRateTake,
  checkPeriodBounds,
  horizonSql,
  messagesQuery,
  PERIOD_COUNTS,
  type PeriodCountRow,
  migrationFiles,
  outboxParams,
  type OutboxState,
  parseId,
  prunableSql,
  storedChunk,
  toConversation,
  toDeadLetters,
  toDetail,
  toFeed,
  toInbound,
  toNoticeItem,
  toNoticeSummary,
  type NoticeRow,
  toOutbound,
  toPeriodCount,
  toQueued,
  toSummary,
  waitsByEntry,
} from '../rows.js';
import { startWalCheckpointer, type WalCheckpointer } from './wal-checkpointer.js';

type Db = Database.Database;
type Stmt<R = unknown> = Database.Statement<unknown[], R>;

// Captured at load, so fake timers a test installs later cannot stall the enqueue group commit.
const nextTurn = setImmediate;

/** The .sql files; the build copies them next to the compiled js, vitest reads them from src. */
const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

export interface SqliteStoreOptions {
  /** File path, or ':memory:'. */
  path: string;
  /** "normal" (default) survives a process crash; "full" also survives a power loss. */
  synchronous?: 'normal' | 'full';
}

export function openSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  const db = new Database(opts.path);
  const synchronous = opts.synchronous === 'full' ? 'FULL' : 'NORMAL';
  try {
    // busy_timeout first, so the journal-mode switch waits for other connections.
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma('foreign_keys = ON');
    // The default 2 MB page cache thrashes once the mailbox holds a few thousand messages.
    db.pragma('cache_size = -16384');
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  if (db.memory) return new SqliteStore(db);
  // Checkpoints run on a worker thread. Under steady writes its passes never catch up with the very
  // last commit, and only a checkpoint that does lets the log restart from its beginning: this
  // connection's own checkpoint, every ~200 MB of WAL, copies the little that is left and restarts
  // it (the file is then cut back to 64 MB). If the worker fails, this connection checkpoints every
  // ~40 MB again, copying everything itself (each time stalling the event loop on its fsyncs).
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
  db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  const checkpointer = startWalCheckpointer({
    path: db.name,
    synchronous,
    onFailure: (err) => {
      if (!db.open) return;
      db.pragma(`wal_autocheckpoint = ${OWN_CHECKPOINT_PAGES}`);
      process.emitWarning(`${err.message}; the gateway's connection checkpoints the WAL itself from now on`, { code: 'COCO_SQLITE_CHECKPOINTER' });
    },
  });
  return new SqliteStore(db, checkpointer);
}

const BACKSTOP_CHECKPOINT_PAGES = 50_000;
const OWN_CHECKPOINT_PAGES = 10_000;

/** Applies the pending numbered migrations in order, in one IMMEDIATE transaction. Returns how many. */
export function migrate(db: Db, dir: URL = MIGRATIONS_DIR): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
  const files = migrationFiles(dir);
  const run = db.transaction(() => {
    // Read inside the lock: another process may have migrated while we waited.
    const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
    const record = db.prepare(
      // Migration bookkeeping only; store semantics never read the database clock.
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
    );
    let count = 0;
    for (const f of files) {
      if (applied.has(f.version)) continue;
      db.exec(readFileSync(new URL(f.name, dir), 'utf8'));
      record.run(f.version, f.name);
      count++;
    }
    return count;
  });
  return run.immediate();
}

// A head's ready_at is its message's available_at (queued) or lease_until (leased), kept in step by
// every mailbox write, so due heads come straight off the covering index, ids only: a join to
// check the rows and read every column cost about twice as much per claim. The claim reads each
// row by id and checks it again before leasing it.
const INBOUND_HEADS = (limit: number) => `SELECT head_id FROM inbound_heads WHERE ready_at <= ? ORDER BY head_id LIMIT ${limit}`;
// The outbox drains quickly, so its unfinished set stays small: MIN(id) per conversation over the
// partial index of unfinished rows is enough there. Filters repeat the index's WHERE so it is used.
const OUTBOUND_HEADS = (limit: number, skip = '') => `
  SELECT o.* FROM (SELECT MIN(id) AS id FROM outbox WHERE status IN ('pending', 'leased')${skip}
                   GROUP BY entry_key, conversation_id) h
  JOIN outbox o ON o.id = h.id
  WHERE (o.status = 'pending' AND o.available_at <= @now) OR (o.status = 'leased' AND o.lease_until <= @now)
  ORDER BY o.id LIMIT ${limit}`;

/**
 * A statement per LIMIT value, the limit written into the SQL. SQLite re-prepares a statement whose
 * LIMIT is a bound parameter at every call (about 3 µs each, measured on SQLite 3.53); the reads on
 * every message's path take a few distinct limits (claim sizes, history windows, feed pages).
 */
function byLimit<R>(db: Db, sql: (limit: number) => string, pluck = false): (limit: number) => Stmt<R> {
  const prepared = new Map<number, Stmt<R>>();
  return (limit) => {
    const n = Math.max(1, Math.trunc(limit));
    let st = prepared.get(n);
    if (!st) {
      st = db.prepare(sql(n)) as Stmt<R>;
      if (pluck) st.pluck();
      prepared.set(n, st);
    }
    return st;
  };
}

/** A write waiting for the next group commit. */
interface QueuedWrite {
  run: () => unknown;
  resolve: (value: never) => void;
  reject: (err: unknown) => void;
}

const PRUNABLE = prunableSql('@horizon');
/** A rate bucket's tokens refilled up to now (`CAST … AS INTEGER` of it is the whole tokens). */
const RATE_AVAILABLE = 'min(@capacity, rate_buckets.tokens + max(0, @now - rate_buckets.updated_at) * @perMs)';

const LEASED = `WHERE id = @id AND status = 'leased' AND lease_token = @token`;
/** The same guard with positional parameters (id, then token), for statements on every message's path. */
const LEASED_BY_POSITION = `WHERE id = ? AND status = 'leased' AND lease_token = ?`;

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  /** One gateway process per database file. */
  readonly shared = false;
  private readonly s;
  private readonly tx;
  private readonly dynamic = new Map<string, Stmt>();
  private queue: QueuedWrite[] = [];

  constructor(
    private readonly db: Db,
    private readonly checkpointer?: WalCheckpointer,
  ) {
    const p = <R>(sql: string) => db.prepare(sql) as Stmt<R>;
    // Statements on the path of every message bind positional parameters, with no object built per
    // call (the outbox insert's 22-key parameter object alone cost ~14 µs per message, bench k).
    const s = {
      insertInbound: p(`INSERT INTO inbound (entry_key, channel_type, target_kind, target_id, dedup_key,
          conversation_key, user_id, conversation_id, message, status, available_at, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)
        ON CONFLICT (entry_key, dedup_key) DO NOTHING`),
      inboundByDedup: p<{ id: number; created_at: number }>('SELECT id, created_at FROM inbound WHERE entry_key = ? AND dedup_key = ?'),
      inboundById: p<InboundRow>('SELECT * FROM inbound WHERE id = ?'),
      // What a claim needs of a row (every column costs a conversion to a JS value).
      claimRow: p<ClaimRow>(`SELECT id, entry_key, channel_type, target_kind, target_id, dedup_key, conversation_key, message,
          status, attempts, available_at, lease_token, lease_until, last_error, created_at, first_claimed_at FROM inbound WHERE id = ?`),
      inboundHeads: byLimit<number>(db, INBOUND_HEADS, true),
      inboundLease: p(`UPDATE inbound SET status = 'leased', attempts = attempts + 1, lease_token = ?,
          lease_until = ?, lease_owner = ?, first_claimed_at = coalesce(first_claimed_at, ?) WHERE id = ?`),
      inboundRenew: p(`UPDATE inbound SET lease_until = @until ${LEASED}`),
      inboundConv: p<string>('SELECT conversation_key FROM inbound WHERE id = ?').pluck(),
      // A new message is the head only of a conversation that had none (its id is the newest).
      headInsert: p(`INSERT INTO inbound_heads (conversation_key, head_id, ready_at) VALUES (?, ?, ?)
        ON CONFLICT (conversation_key) DO NOTHING`),
      headDelete: p('DELETE FROM inbound_heads WHERE conversation_key = ?'),
      headDeleteById: p('DELETE FROM inbound_heads WHERE head_id = ?'),
      headFromMailbox: p(`INSERT INTO inbound_heads (conversation_key, head_id, ready_at)
        SELECT conversation_key, id, CASE status WHEN 'queued' THEN available_at ELSE lease_until END
        FROM inbound WHERE conversation_key = ? AND status IN ('queued', 'leased') ORDER BY id LIMIT 1`),
      headRenew: p('UPDATE inbound_heads SET ready_at = ? WHERE head_id = ?'),
      // The same by primary key, when the conversation is at hand (a claim): no index lookup first.
      headRenewByKey: p('UPDATE inbound_heads SET ready_at = ? WHERE conversation_key = ?'),
      inboundFinish: p(`UPDATE inbound SET status = ?, finished_at = ?, finish_detail = ?, lease_token = NULL,
          lease_until = NULL ${LEASED_BY_POSITION}`),
      inboundRetry: p(`UPDATE inbound SET status = 'queued', available_at = @availableAt, last_error = @error,
          lease_token = NULL, lease_until = NULL ${LEASED}`),
      inboundDefer: p(`UPDATE inbound SET status = 'queued', available_at = @availableAt, attempts = attempts - 1,
          lease_token = NULL, lease_until = NULL ${LEASED}`),
      // The status terms match the partial index inbound_unfinished (only the head can be leased).
      queuedAfter: p<{ id: number; created_at: number; message: string }>(`SELECT id, created_at, message FROM inbound
        WHERE conversation_key = ? AND status IN ('queued', 'leased') AND status = 'queued' AND id > ? ORDER BY id LIMIT ?`),
      inboundAbsorb: p(`UPDATE inbound SET status = ?, finished_at = ?, finish_detail = ?
        WHERE id = ? AND conversation_key = ? AND status = 'queued'`),
      inboundDead: p(`UPDATE inbound SET status = 'dead', last_error = @error, finished_at = @now,
          lease_token = NULL, lease_until = NULL ${LEASED}`),
      inboundRevive: p(`UPDATE inbound SET status = 'queued', available_at = @now, attempts = 0,
          finished_at = NULL WHERE id = @id AND status = 'dead'`),
      // Events go only to existing messages (markSent's replyTo is not guaranteed to be one).
      keepMedia: p(`UPDATE inbound SET message = json_set(message, '$.media', json(?))
        WHERE id = ? AND status IN ('queued', 'leased')`),
      event: p(`INSERT INTO inbound_events (message_id, at, stage, detail)
        SELECT id, @at, @stage, @detail FROM inbound WHERE id = @id`),
      events: p<EventRow>(
        'SELECT at, stage, detail FROM inbound_events WHERE message_id = ? ORDER BY at, id',
      ),
      // Pending, or already leased (lease-on-insert: the completing worker delivers it itself).
      // Parameters in the column order of outboxParams.
      insertOutbox: p(`INSERT INTO outbox (entry_key, channel_type, conversation_id, user_id, idempotency_key,
          text, format, chunk_index, chunk_count, reply_to, in_reply_to, is_group, reply_meta, status,
          attempts, lease_token, lease_until, lease_owner, available_at, expires_at, max_age_ms, created_at, sent_at, platform_message_id, image)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (idempotency_key) DO NOTHING`),
      outboxBusy: p<number>(`SELECT 1 FROM outbox WHERE entry_key = ? AND conversation_id = ?
          AND status IN ('pending', 'leased') LIMIT 1`).pluck(),
      outboxById: p<OutboundRow>('SELECT * FROM outbox WHERE id = ?'),
      outboxByReply: p<OutboundRow>('SELECT * FROM outbox WHERE reply_to = ? ORDER BY id'),
      outboxHeads: byLimit<OutboundRow>(db, OUTBOUND_HEADS),
      outboxHeadsSkipping: byLimit<OutboundRow>(db, (limit) => OUTBOUND_HEADS(limit, ' AND entry_key NOT IN (SELECT value FROM json_each(@skip))')),
      // Taken when free, expired or already ours; otherwise the row stays as it is (no change).
      leaseEntry: p(`INSERT INTO entry_leases (entry_key, owner, lease_until) VALUES (@entry, @owner, @until)
        ON CONFLICT (entry_key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
        WHERE entry_leases.owner = excluded.owner OR entry_leases.lease_until <= @now`),
      releaseEntry: p('DELETE FROM entry_leases WHERE entry_key = ? AND owner = ?'),
      getChannelState: p<string>('SELECT value FROM channel_state WHERE entry_key = ? AND name = ?').pluck(),
      deleteChannelState: p('DELETE FROM channel_state WHERE entry_key = ? AND name = ? AND value = ?'),
      // A user's data (forgetUser): finished messages with no reply chunk still to go out.
      forgettable: p<{ id: number; conversation_id: string; message: string }>(`SELECT i.id, i.conversation_id, i.message FROM inbound i
        WHERE i.entry_key = ? AND i.user_id = ? AND i.status IN ('done', 'fallback', 'dead')
          AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.reply_to = CAST(i.id AS TEXT) AND o.status IN ('pending', 'leased'))`),
      userMessagesLeft: p<number>('SELECT count(*) FROM inbound WHERE entry_key = ? AND user_id = ?').pluck(),
      conversationBusy: p<number>(`SELECT 1 FROM inbound WHERE conversation_key = ? AND status IN ('queued', 'leased') LIMIT 1`).pluck(),
      deleteMessageEvents: p('DELETE FROM inbound_events WHERE message_id = ?'),
      deleteMessageReplies: p('DELETE FROM outbox WHERE reply_to = ?'),
      deleteMessage: p('DELETE FROM inbound WHERE id = ?'),
      deleteConversationHistory: p('DELETE FROM history WHERE entry_key = ? AND conversation_id = ?'),
      deleteConversationFeed: p('DELETE FROM feed WHERE entry_key = ? AND conversation_id = ?'),
      deleteStateNamed: p('DELETE FROM channel_state WHERE entry_key = ? AND name = ?'),
      listChannelState: p<{ entryKey: string; name: string; value: string; updatedAt: number }>(`SELECT entry_key AS entryKey, name, value,
        updated_at AS updatedAt FROM channel_state WHERE substr(name, 1, length(@prefix)) = @prefix ORDER BY entry_key, name`),
      setChannelState: p(`INSERT INTO channel_state (entry_key, name, value, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (entry_key, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
      takeRateTokens: p<{ taken: number; tokens: number }>(`INSERT INTO rate_buckets (bucket_key, tokens, taken, updated_at)
        VALUES (@key, @firstLeft, @firstTaken, @now)
        ON CONFLICT (bucket_key) DO UPDATE SET
          taken = min(@want, CAST(${RATE_AVAILABLE} AS INTEGER)),
          tokens = ${RATE_AVAILABLE} - min(@want, CAST(${RATE_AVAILABLE} AS INTEGER)),
          updated_at = max(rate_buckets.updated_at, @now)
        RETURNING taken, tokens`),
      outboxLease: p(`UPDATE outbox SET status = 'leased', attempts = attempts + 1, lease_token = @token,
          lease_until = @until, lease_owner = @owner WHERE id = @id`),
      outboxSent: p(`UPDATE outbox SET status = 'sent', sent_at = ?, platform_message_id = ?,
          lease_token = NULL, lease_until = NULL ${LEASED_BY_POSITION}`),
      outboxRetry: p(`UPDATE outbox SET status = 'pending', available_at = @availableAt, last_error = @error,
          lease_token = NULL, lease_until = NULL ${LEASED}`),
      outboxDead: p(`UPDATE outbox SET status = 'dead', last_error = @error, dead_at = @now,
          lease_token = NULL, lease_until = NULL ${LEASED}`),
      outboxRevive: p(`UPDATE outbox SET status = 'pending', available_at = @now, attempts = 0,
          expires_at = @now + max_age_ms, dead_at = NULL WHERE id = @id AND status = 'dead'`),
      insertHistory: p(`INSERT INTO history (agent_id, entry_key, conversation_id, turn, role, content, at)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
      // Newest first straight off the index; the caller reverses (no temp b-tree).
      loadHistory: byLimit<{ role: 'user' | 'assistant'; content: string; at: number }>(db, (limit) => `SELECT role, content, at
        FROM history WHERE agent_id = ? AND entry_key = ? AND conversation_id = ? ORDER BY turn DESC LIMIT ${limit}`),
      // A message's turns are numbered from its id * TURNS_PER_MESSAGE: "before a message" is a turn bound.
      clearHistory: p('DELETE FROM history WHERE agent_id = ? AND entry_key = ? AND conversation_id = ? AND turn < ?'),
      nextLaterTurn: p<number>(`SELECT COALESCE(MAX(turn) + 1, @from) FROM history
        WHERE agent_id = @agentId AND entry_key = @entryKey AND conversation_id = @conversationId AND turn >= @from AND turn < @to`).pluck(),
      insertFeed: p(`INSERT INTO feed (entry_key, conversation_id, idempotency_key, reply_to, payload, created_at)
        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (entry_key, idempotency_key) DO NOTHING`),
      feedSeqByKey: p<number>('SELECT seq FROM feed WHERE entry_key = ? AND idempotency_key = ?').pluck(),
      readFeed: byLimit<FeedRow>(db, (limit) => `SELECT * FROM feed WHERE entry_key = ? AND conversation_id = ? AND seq > ?
        ORDER BY seq LIMIT ${limit}`),
      feedReplies: p<FeedRow>('SELECT * FROM feed WHERE entry_key = ? AND reply_to = ? ORDER BY seq'),
      inboundCounts: p<{ status: InboundStatus; n: number }>(`SELECT status, count(*) AS n FROM inbound
        WHERE status IN ('queued', 'leased') GROUP BY status`),
      inboundDeadCount: p<number>(`SELECT count(*) FROM inbound WHERE status = 'dead'`).pluck(),
      inboundIdRange: p<{ first: number | null; last: number | null }>('SELECT min(id) AS first, max(id) AS last FROM inbound'),
      outboxCounts: p<{ status: OutboundStatus; n: number }>(`SELECT status, count(*) AS n FROM outbox
        WHERE status IN ('pending', 'leased') GROUP BY status`),
      outboxDeadCount: p<number>(`SELECT count(*) FROM outbox WHERE status = 'dead'`).pluck(),
      // Each conversation's head is its oldest unfinished message: the smallest head is the oldest of all.
      oldestInbound: p<number>(`SELECT i.created_at FROM inbound_heads h JOIN inbound i ON i.id = h.head_id
        ORDER BY h.head_id LIMIT 1`).pluck(),
      oldestOutbound: p<number | null>(`SELECT min(created_at) FROM outbox WHERE status IN ('pending', 'leased')`).pluck(),
      // Each reads one partial index (status conditions match the index definitions).
      inboundWaitsByEntry: p<{ entry_key: string; n: number; since: number }>(`SELECT entry_key, count(*) AS n, min(created_at) AS since
        FROM inbound WHERE status IN ('queued', 'leased') GROUP BY entry_key`),
      outboxWaitsByEntry: p<{ entry_key: string; n: number; since: number }>(`SELECT entry_key, count(*) AS n, min(created_at) AS since
        FROM outbox WHERE status IN ('pending', 'leased') GROUP BY entry_key`),
      mailboxByEntry: p<{ entry_key: string; n: number }>(`SELECT entry_key, count(*) AS n FROM inbound
        WHERE status IN ('queued', 'leased') GROUP BY entry_key`),
      inboundDeadByEntry: p<{ entry_key: string; n: number }>(`SELECT entry_key, count(*) AS n FROM inbound
        WHERE status = 'dead' GROUP BY entry_key`),
      outboxDeadByEntry: p<{ entry_key: string; n: number }>(`SELECT entry_key, count(*) AS n FROM outbox
        WHERE status = 'dead' GROUP BY entry_key`),
      conversations: p<{ user_id: string; conversation_id: string; n: number; last_id: number }>(`SELECT user_id,
        conversation_id, count(*) AS n, max(id) AS last_id
        FROM (SELECT id, user_id, conversation_id FROM inbound WHERE entry_key = ? ORDER BY id DESC LIMIT ?)
        GROUP BY conversation_id ORDER BY last_id DESC LIMIT ?`),
      // Prunable: finished before the cutoff, and no reply of it still unsent or dead (the dead
      // letter and pending chunks point at it). Deleting sent rows first does not change this set.
      deleteSentOutbox: p(`DELETE FROM outbox WHERE status = 'sent' AND reply_to IN (SELECT CAST(id AS TEXT) FROM inbound i WHERE ${PRUNABLE})`),
      deleteEvents: p(`DELETE FROM inbound_events WHERE message_id IN (SELECT id FROM inbound i WHERE ${PRUNABLE})`),
      deleteInbound: p(`DELETE FROM inbound AS i WHERE ${PRUNABLE}`),
      deleteFeed: p('DELETE FROM feed WHERE seq < ?'),
      deleteIdleBuckets: p('DELETE FROM rate_buckets WHERE updated_at < ?'),
      addNotice: p(`INSERT INTO notices (receiver, event, body, fold_key, available_at, created_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (fold_key) WHERE status = 'waiting' DO UPDATE SET more = more + 1`),
      // Each receiver's oldest notice nobody is sending now, the oldest due of them: when one waits for a
      // retry, those after it for the same receiver wait too.
      noticeDue: p<number>(`SELECT n.id FROM notices n WHERE n.id IN (SELECT min(id) FROM notices
          WHERE status IN ('waiting', 'sending') AND NOT (status = 'sending' AND lease_until > @now)
            AND receiver NOT IN (SELECT value FROM json_each(@skip)) GROUP BY receiver)
        AND (n.status = 'sending' OR n.available_at <= @now) ORDER BY n.id LIMIT 1`).pluck(),
      noticeLease: p<NoticeRow>(`UPDATE notices SET status = 'sending', attempts = attempts + 1, lease_token = ?, lease_until = ?
        WHERE id = ? RETURNING *`),
      noticeFinish: p(`UPDATE notices SET status = ?, finished_at = ?, last_error = ?, lease_token = NULL, lease_until = NULL
        WHERE id = ? AND lease_token = ? AND status = 'sending'`),
      // A notice going back to wait takes in the one that waits with its fold key (added while it was being sent).
      noticeFoldable: p<{ id: number; more: number }>(`SELECT w.id, w.more FROM notices n JOIN notices w ON w.fold_key = n.fold_key
        WHERE n.id = ? AND n.lease_token = ? AND n.status = 'sending' AND w.status = 'waiting'`),
      noticeDelete: p('DELETE FROM notices WHERE id = ?'),
      noticeRetry: p(`UPDATE notices SET status = 'waiting', available_at = ?, last_error = ?, more = more + ?, lease_token = NULL, lease_until = NULL
        WHERE id = ? AND lease_token = ? AND status = 'sending'`),
      listNotices: p<NoticeRow>('SELECT * FROM notices ORDER BY id DESC LIMIT ?'),
      noticesDueNow: p(`UPDATE notices SET available_at = @now WHERE status = 'waiting' AND available_at > @now`),
      noticesWaiting: p<number>(`SELECT count(*) FROM notices WHERE status IN ('waiting', 'sending')`).pluck(),
      deleteNotices: p(`DELETE FROM notices WHERE status IN ('sent', 'failed') AND finished_at < ?`),
      inboundHorizon: p<number>(horizonSql('inbound', 'id', '?')).pluck(),
      feedHorizon: p<number>(horizonSql('feed', 'seq', '?')).pluck(),
      // Keeps the newest @keep turns of each conversation (the clustered key makes the OFFSET cheap).
      trimHistory: p(`DELETE FROM history AS h WHERE h.turn < (SELECT k.turn FROM history k
          WHERE k.agent_id = h.agent_id AND k.entry_key = h.entry_key AND k.conversation_id = h.conversation_id
          ORDER BY k.turn DESC LIMIT 1 OFFSET @keep - 1)`),
    };
    this.s = s;

    const event = (id: number, at: number, stage: string, detail?: string) =>
      s.event.run({ id, at, stage, detail: detail ?? null });
    // Recomputes a conversation's head row after any change to its mail.
    const refreshHead = (conversationKey: string | undefined) => {
      if (conversationKey === undefined) return;
      s.headDelete.run(conversationKey);
      s.headFromMailbox.run(conversationKey);
    };

    const appendFeed = (item: NewFeedItem, now: number) => {
      // The lookup only runs for a duplicate.
      const r = s.insertFeed.run(item.entryKey, item.conversationId, item.idempotencyKey, item.replyTo, JSON.stringify(item.payload ?? null), now);
      if (r.changes === 1) return { seq: Number(r.lastInsertRowid), duplicate: false };
      const seq = s.feedSeqByKey.get(item.entryKey, item.idempotencyKey);
      if (seq === undefined) throw new Error('feed item vanished between insert and lookup');
      return { seq, duplicate: true };
    };

    this.tx = {
      appendFeed,
      /** A group commit: all writes in one transaction, rolled back as a whole if any throws. */
      group: db.transaction((batch: QueuedWrite[]) => batch.map((w) => w.run())),
      /** One write in its own transaction: the replay path after a group failed. */
      single: db.transaction((w: QueuedWrite) => w.run()),
      enqueue: (item: NewInbound, now: number) => {
        const { entryKey, channelType, targetKind, targetId, dedupKey, conversationKey, message } = item;
        const r = s.insertInbound.run(entryKey, channelType, targetKind, targetId, dedupKey, conversationKey, message.userId,
          message.conversationId, JSON.stringify(message), now, now);
        if (r.changes === 0) {
          const first = s.inboundByDedup.get(item.entryKey, item.dedupKey);
          if (!first) throw new Error('inbound message vanished between insert and lookup');
          return { id: String(first.id), duplicate: true, acceptedAt: first.created_at };
        }
        const id = Number(r.lastInsertRowid);
        s.headInsert.run(conversationKey, id, now);
        return { id: String(id), duplicate: false, acceptedAt: now };
      },
      claimInbound: (o: ClaimOptions) => {
        const claimed: InboundItem[] = [];
        for (const id of s.inboundHeads(o.limit).all(o.now)) {
          const r = s.claimRow.get(id);
          if (!r || !claimable(r, o.now)) {
            // A head out of step with its mailbox would be a bug; mend it rather than lease a finished message.
            if (r) refreshHead(r.conversation_key);
            else s.headDeleteById.run(id);
            continue;
          }
          const lease = { token: randomUUID(), until: o.now + o.leaseMs };
          s.inboundLease.run(lease.token, lease.until, o.owner, o.now, r.id);
          // The claimed message stays its conversation's head; only its ready time moves.
          s.headRenewByKey.run(lease.until, r.conversation_key);
          // The first claim is read from first_claimed_at; claims after a lost lease or a revive are events.
          if (r.first_claimed_at !== null) event(r.id, o.now, 'claimed', `attempt ${r.attempts + 1} by ${o.owner}`);
          // The row object is ours: updated in place to what the lease wrote.
          Object.assign(r, { status: 'leased', attempts: r.attempts + 1, lease_token: lease.token, lease_until: lease.until });
          claimed.push(toInbound(r));
        }
        return claimed;
      },
      complete: (id: number, token: string, res: InboundResult) => {
        // The lease check comes first: a stale worker writes nothing at all.
        const detail = res.detail ?? `${res.replies.length} reply chunk(s)`;
        if (s.inboundFinish.run(res.status, res.now, detail, id, token).changes !== 1) return false;
        const conversationKey = s.inboundConv.get(id)!;
        for (const other of res.absorbed?.ids ?? []) {
          const n = parseId(other);
          if (n === undefined || s.inboundAbsorb.run(res.status, res.now, res.absorbed!.detail, n, conversationKey).changes !== 1) {
            throw new Error(`message ${other} is not a queued message of the conversation of #${id}`);
          }
        }
        refreshHead(conversationKey);
        if (res.channelState) s.setChannelState.run(res.channelState.entryKey, res.channelState.name, res.channelState.value, res.now);
        const first = res.replies[0];
        // Deliver or hand the chunks over only when nothing of this conversation waits before them.
        const next = first !== undefined && (res.claim || res.feed) && s.outboxBusy.get(first.entryKey, first.conversationId) === undefined;
        const feed = next && res.feed?.length === res.replies.length ? res.feed : undefined;
        const claim = next && !feed ? res.claim : undefined;
        const stored: OutboundItem[] = [];
        res.replies.forEach((r, i) => {
          let state: OutboxState;
          if (feed) {
            const appended = appendFeed({ ...r, payload: feed[i] }, res.now);
            state = { sent: { platformMessageId: String(appended.seq) } };
          } else if (claim) {
            state = { lease: { token: randomUUID(), until: res.now + claim.leaseMs, owner: claim.owner } };
          }
          const ins = s.insertOutbox.run(...outboxParams(r, res.now, state));
          if (!state || ins.changes !== 1) return;
          stored.push(storedChunk(r, String(ins.lastInsertRowid), res.now, state));
        });
        const k = res.history.key;
        if (res.history.turns.length > TURNS_PER_MESSAGE) throw new Error(`at most ${TURNS_PER_MESSAGE} history turns per message`);
        res.history.turns.forEach((t, i) => s.insertHistory.run(k.agentId, k.entryKey, k.conversationId, id * TURNS_PER_MESSAGE + i, t.role, t.content, t.at));
        return stored;
      },
      // Runs a guarded mailbox update; on success refreshes the head and records the event.
      guarded: (stmt: Stmt, params: { id: number } & Record<string, unknown>, ev: { at: number; stage: string; detail?: string }) => {
        if (stmt.run(params).changes !== 1) return false;
        refreshHead(s.inboundConv.get(params.id));
        event(params.id, ev.at, ev.stage, ev.detail);
        return true;
      },
      renew: (id: number, token: string, until: number) => {
        if (s.inboundRenew.run({ id, token, until }).changes !== 1) return false;
        s.headRenew.run(until, id); // no-op when the item is not its conversation's head
        return true;
      },
      claimOutbound: (o: ClaimOptions) => {
        const rows = o.skipEntries?.length
          ? s.outboxHeadsSkipping(o.limit).all({ now: o.now, skip: JSON.stringify(o.skipEntries) })
          : s.outboxHeads(o.limit).all({ now: o.now });
        return rows.map((r) => {
          const lease = { id: r.id, token: randomUUID(), until: o.now + o.leaseMs, owner: o.owner };
          s.outboxLease.run(lease);
          return toOutbound({ ...r, status: 'leased', attempts: r.attempts + 1, lease_token: lease.token, lease_until: lease.until });
        });
      },
      // Outbound ops: the guarded update, then an event on the inbound message the chunk answers.
      outboxOp: (stmt: Stmt, params: { id: number; now: number } & Record<string, unknown>, stage: string, detail: (r: OutboundRow) => string) => {
        if (stmt.run(params).changes !== 1) return false;
        const row = s.outboxById.get(params.id);
        const inboundId = row ? parseId(row.reply_to) : undefined;
        if (row && inboundId !== undefined) event(inboundId, params.now, stage, detail(row));
        return true;
      },
      forgetUser: (entryKey: string, userId: string, conversationState: (conversationId: string) => string[]): ForgottenUser => {
        const done = { messages: 0, replies: 0, turns: 0, feedItems: 0, kept: 0 };
        const direct = new Set<string>();
        for (const row of s.forgettable.all(entryKey, userId)) {
          if ((JSON.parse(row.message) as ChatMessage).isGroup !== true) direct.add(row.conversation_id);
          s.deleteMessageEvents.run(row.id);
          done.replies += s.deleteMessageReplies.run(String(row.id)).changes;
          done.messages += s.deleteMessage.run(row.id).changes;
        }
        for (const conversationId of direct) {
          if (s.conversationBusy.get(`${entryKey}/${conversationId}`) !== undefined) continue;
          done.turns += s.deleteConversationHistory.run(entryKey, conversationId).changes;
          done.feedItems += s.deleteConversationFeed.run(entryKey, conversationId).changes;
          for (const name of conversationState(conversationId)) s.deleteStateNamed.run(entryKey, name);
        }
        done.kept = s.userMessagesLeft.get(entryKey, userId) ?? 0;
        return done;
      },
      claimNotice: (now: number, leaseMs: number, skip: readonly string[]) => {
        const id = s.noticeDue.get({ now, skip: JSON.stringify(skip) });
        return id === undefined ? undefined : s.noticeLease.get(randomUUID(), now + leaseMs, id);
      },
      retryNotice: (id: number, token: string, availableAt: number, error: string) => {
        const folded = s.noticeFoldable.get(id, token);
        if (folded) s.noticeDelete.run(folded.id);
        return s.noticeRetry.run(availableAt, error, folded ? folded.more + 1 : 0, id, token).changes === 1;
      },
      prune: (now: number, dedupMs: number, feedMs: number, historyTurns?: number) => {
        if (historyTurns !== undefined) s.trimHistory.run({ keep: Math.max(1, Math.trunc(historyTurns)) });
        const horizon = s.inboundHorizon.get(now - dedupMs)!;
        let deleted = s.deleteSentOutbox.run({ horizon }).changes;
        s.deleteEvents.run({ horizon });
        deleted += s.deleteInbound.run({ horizon }).changes;
        deleted += s.deleteIdleBuckets.run(now - RATE_BUCKET_IDLE_MS).changes;
        deleted += s.deleteNotices.run(now - dedupMs).changes;
        return deleted + s.deleteFeed.run(s.feedHorizon.get(now - feedMs)!).changes;
      },
    };
  }

  /**
   * Group commit: writes issued in the same event-loop turn (concurrent webhooks, many workers
   * finishing at once) share one transaction, so one WAL commit serves them all. Each write must
   * stay atomic on its own and a failing one must reject only its own promise: rather than a
   * savepoint around every write (a measurable cost on the hot path), a group that fails is
   * rolled back whole and its writes replayed one transaction each. Every promise settles after
   * its commit, so a resolved write is durable.
   */
  private write<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (value: never) => void, reject });
      if (this.queue.length === 1) nextTurn(() => this.flushWrites());
    });
  }

  private flushWrites(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    if (batch.length > 1) {
      let values: unknown[] | undefined;
      try {
        values = this.tx.group.immediate(batch);
      } catch {
        // Nothing of the group was written; the replay below finds the failing write(s).
      }
      if (values) {
        values.forEach((v, i) => batch[i]!.resolve(v as never));
        return;
      }
    }
    for (const w of batch) {
      try {
        w.resolve(this.tx.single.immediate(w) as never);
      } catch (err) {
        w.reject(err);
      }
    }
  }

  enqueue(item: NewInbound, now: number): Promise<Enqueued> {
    return this.write(() => this.tx.enqueue(item, now));
  }

  async claimInbound(opts: ClaimOptions): Promise<InboundItem[]> {
    if (opts.limit < 1) return [];
    return this.write(() => this.tx.claimInbound(opts));
  }

  async renewInbound(id: string, leaseToken: string, leaseUntil: number): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.write(() => this.tx.renew(n, leaseToken, leaseUntil));
  }

  async completeInbound(id: string, leaseToken: string, result: InboundResult): Promise<false | OutboundItem[]> {
    const n = parseId(id);
    return n !== undefined && this.write(() => this.tx.complete(n, leaseToken, result));
  }

  async retryInbound(id: string, leaseToken: string, opts: { now: number; availableAt: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    const params = { id: n, token: leaseToken, availableAt: opts.availableAt, error: opts.error };
    return this.write(() => this.tx.guarded(this.s.inboundRetry, params, { at: opts.now, stage: 'retry', detail: opts.error }));
  }

  async deferInbound(id: string, leaseToken: string, opts: { now: number; availableAt: number; why: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    const params = { id: n, token: leaseToken, availableAt: opts.availableAt };
    return this.write(() => this.tx.guarded(this.s.inboundDefer, params, { at: opts.now, stage: 'waiting', detail: opts.why }));
  }

  async queuedAfter(conversationKey: string, afterId: string, limit: number): Promise<QueuedMessage[]> {
    const n = parseId(afterId);
    if (n === undefined || limit < 1) return [];
    return this.s.queuedAfter.all(conversationKey, n, Math.trunc(limit)).map(toQueued);
  }

  async deadLetterInbound(id: string, leaseToken: string, opts: { now: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    const params = { id: n, token: leaseToken, now: opts.now, error: opts.error };
    return this.write(() => this.tx.guarded(this.s.inboundDead, params, { at: opts.now, stage: 'dead', detail: opts.error }));
  }

  async addReplies(replies: NewOutbound[], now: number, history?: { key: HistoryKey; turns: HistoryTurn[] }): Promise<number> {
    const messageId = parseId(replies[0]?.replyTo ?? '');
    // One transaction, as every write here.
    return this.write(() => {
      const added = replies.reduce((n, r) => n + this.s.insertOutbox.run(...outboxParams(r, now)).changes, 0);
      if (added > 0 && history && messageId !== undefined) {
        const k = history.key;
        const range = laterTurnRange(messageId);
        const first = this.s.nextLaterTurn.get({ agentId: k.agentId, entryKey: k.entryKey, conversationId: k.conversationId, ...range })!;
        history.turns.forEach((t, i) => {
          if (first + i < range.to) this.s.insertHistory.run(k.agentId, k.entryKey, k.conversationId, first + i, t.role, t.content, t.at);
        });
      }
      return added;
    });
  }

  async claimOutbound(opts: ClaimOptions): Promise<OutboundItem[]> {
    if (opts.limit < 1) return [];
    return this.write(() => this.tx.claimOutbound(opts));
  }

  async markSent(id: string, leaseToken: string, opts: { now: number; platformMessageId?: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    // No event row: the "sent" stage is read from the chunk's sent_at (one write fewer per reply).
    return this.write(() => this.s.outboxSent.run(opts.now, opts.platformMessageId ?? null, n, leaseToken).changes === 1);
  }

  async retryOutbound(id: string, leaseToken: string, opts: { now: number; availableAt: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    const params = { id: n, token: leaseToken, now: opts.now, availableAt: opts.availableAt, error: opts.error };
    return this.write(() => this.tx.outboxOp(this.s.outboxRetry, params, 'send_retry', (r) => `${chunkOf(r)}: ${opts.error}`));
  }

  async deadLetterOutbound(id: string, leaseToken: string, opts: { now: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    const params = { id: n, token: leaseToken, now: opts.now, error: opts.error };
    return this.write(() => this.tx.outboxOp(this.s.outboxDead, params, 'send_dead', (r) => `${chunkOf(r)}: ${opts.error}`));
  }

  async listDeadLetters(opts: { kind?: DeadLetterKind; entryKey?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = clampLimit(opts.limit, 100, 1000);
    const entry = opts.entryKey === undefined ? '' : ' AND entry_key = ?';
    const args = opts.entryKey === undefined ? [limit] : [opts.entryKey, limit];
    const inbound = opts.kind === 'outbound' ? [] : this.stmt<InboundRow>(`SELECT * FROM inbound WHERE status = 'dead'${entry}
      ORDER BY finished_at DESC, id DESC LIMIT ?`).all(...args);
    const outbound = opts.kind === 'inbound' ? [] : this.stmt<OutboundRow>(`SELECT * FROM outbox WHERE status = 'dead'${entry}
      ORDER BY dead_at DESC, id DESC LIMIT ?`).all(...args);
    return toDeadLetters(inbound, outbound, limit);
  }

  async reviveDeadLetter(kind: DeadLetterKind, id: string, now: number): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    if (kind === 'inbound') {
      return this.write(() => this.tx.guarded(this.s.inboundRevive, { id: n, now }, { at: now, stage: 'revived' }));
    }
    return this.write(() => this.tx.outboxOp(this.s.outboxRevive, { id: n, now }, 'send_revived', chunkOf));
  }

  async loadHistory(key: HistoryKey, limit: number): Promise<HistoryTurn[]> {
    if (limit < 1) return [];
    return this.s.loadHistory(limit).all(key.agentId, key.entryKey, key.conversationId).reverse();
  }

  async clearHistory(key: HistoryKey, beforeMessageId: string): Promise<number> {
    const n = parseId(beforeMessageId);
    if (n === undefined) return 0;
    return this.write(() => this.s.clearHistory.run(key.agentId, key.entryKey, key.conversationId, n * TURNS_PER_MESSAGE).changes);
  }

  async keepMedia(messageId: string, media: MediaRef[]): Promise<boolean> {
    const n = parseId(messageId);
    if (n === undefined) return false;
    return (await this.write(() => this.s.keepMedia.run(JSON.stringify(media), n))).changes === 1;
  }

  async recordEvent(messageId: string, event: { at: number; stage: string; detail?: string }): Promise<void> {
    const n = parseId(messageId);
    if (n === undefined) return;
    await this.write(() => this.s.event.run({ id: n, at: event.at, stage: event.stage, detail: event.detail ?? null }));
  }

  async listMessages(filter: MessageFilter = {}): Promise<MessageSummary[]> {
    const q = messagesQuery(filter, () => '?', (p) => `json_extract(message, '$.content') LIKE ${p} ESCAPE '\\'`);
    return q ? this.stmt<InboundRow>(q.sql).all(...q.args).map(toSummary) : [];
  }

  async messageIdRange(): Promise<{ first: string; last: string } | undefined> {
    const row = this.s.inboundIdRange.get();
    return row?.first == null ? undefined : { first: String(row.first), last: String(row.last) };
  }

  async getMessage(id: string): Promise<MessageDetail | undefined> {
    const n = parseId(id);
    const row = n === undefined ? undefined : this.s.inboundById.get(n);
    if (!row) return undefined;
    return toDetail(row, this.s.events.all(row.id), this.s.outboxByReply.all(String(row.id)));
  }

  async appendFeed(item: NewFeedItem, now: number): Promise<{ seq: number; duplicate: boolean }> {
    return this.write(() => this.tx.appendFeed(item, now));
  }

  async readFeed(entryKey: string, conversationId: string, afterSeq: number, limit: number): Promise<FeedItem[]> {
    if (limit < 1) return [];
    return this.s.readFeed(limit).all(entryKey, conversationId, afterSeq).map(toFeed);
  }

  async feedRepliesTo(entryKey: string, messageId: string): Promise<FeedItem[]> {
    return this.s.feedReplies.all(entryKey, messageId).map(toFeed);
  }

  async leaseEntry(entryKey: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    return this.write(() => this.s.leaseEntry.run({ entry: entryKey, owner, now, until: now + leaseMs }).changes === 1);
  }

  async releaseEntry(entryKey: string, owner: string): Promise<void> {
    await this.write(() => this.s.releaseEntry.run(entryKey, owner));
  }

  async getChannelState(entryKey: string, name: string): Promise<string | undefined> {
    return this.s.getChannelState.get(entryKey, name);
  }

  async deleteChannelState(entryKey: string, name: string, value: string): Promise<boolean> {
    return this.write(() => this.s.deleteChannelState.run(entryKey, name, value).changes === 1);
  }

  async listChannelState(namePrefix: string): Promise<ChannelStateRow[]> {
    return this.s.listChannelState.all({ prefix: namePrefix });
  }

  async setChannelState(entryKey: string, name: string, value: string, now: number): Promise<void> {
    await this.write(() => this.s.setChannelState.run(entryKey, name, value, now));
  }

  async takeRateTokens(key: string, want: number, bucket: RateBucket): Promise<{ taken: number; left: number }> {
    const n = Math.max(1, Math.trunc(want));
    const first = firstRateTake(n, bucket.capacity);
    const params = {
      key, want: n, now: bucket.now, capacity: bucket.capacity, perMs: bucket.perSecond / 1000, firstLeft: first.left, firstTaken: first.taken,
    };
    const row = await this.write(() => this.s.takeRateTokens.get(params)!);
    return { taken: row.taken, left: row.tokens };
  }

  async addNotice(notice: NewNotice, now: number): Promise<void> {
    await this.write(() => this.s.addNotice.run(notice.receiver ?? '', notice.event, notice.body, notice.foldKey ?? null, now, now));
  }

  async claimNotice(opts: { now: number; leaseMs: number; skip?: readonly string[] }): Promise<NoticeItem | undefined> {
    const row = await this.write(() => this.tx.claimNotice(opts.now, opts.leaseMs, opts.skip ?? []));
    return row && toNoticeItem(row);
  }

  async finishNotice(id: string, leaseToken: string, opts: { now: number; outcome: 'sent' | 'failed'; error?: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.write(() => this.s.noticeFinish.run(opts.outcome, opts.now, opts.error ?? null, n, leaseToken).changes === 1);
  }

  async retryNotice(id: string, leaseToken: string, opts: { availableAt: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.write(() => this.tx.retryNotice(n, leaseToken, opts.availableAt, opts.error));
  }

  async retryNoticesNow(now: number): Promise<number> {
    return this.write(() => this.s.noticesDueNow.run({ now }).changes);
  }

  async listNotices(opts: { limit?: number } = {}): Promise<NoticeSummary[]> {
    return this.s.listNotices.all(clampLimit(opts.limit, 50, 500)).map(toNoticeSummary);
  }

  async stats(): Promise<StoreStats> {
    const inb = new Map(this.s.inboundCounts.all().map((r) => [r.status, r.n]));
    const out = new Map(this.s.outboxCounts.all().map((r) => [r.status, r.n]));
    return {
      inboundQueued: inb.get('queued') ?? 0,
      inboundLeased: inb.get('leased') ?? 0,
      inboundDead: this.s.inboundDeadCount.get() ?? 0,
      outboundPending: out.get('pending') ?? 0,
      outboundLeased: out.get('leased') ?? 0,
      outboundDead: this.s.outboxDeadCount.get() ?? 0,
      noticesWaiting: this.s.noticesWaiting.get() ?? 0,
    };
  }

  async countMessages(bounds: readonly number[]): Promise<PeriodCount[]> {
    checkPeriodBounds(bounds);
    // A CASE over the inner bounds: one pass over the rows from the first bound's id on.
    const inner = bounds.slice(1, -1);
    const period = inner.length > 0 ? `CASE ${inner.map((_, i) => `WHEN created_at < ? THEN ${i}`).join(' ')} ELSE ${inner.length} END` : '0';
    const sql = `SELECT ${period} AS period, ${PERIOD_COUNTS} FROM inbound
      WHERE id >= (${horizonSql('inbound', 'id', '?')}) AND created_at >= ? AND created_at < ? GROUP BY 1, 2, 3`;
    const first = bounds[0]!;
    return this.stmt<PeriodCountRow>(sql).all(...inner, first, first, bounds.at(-1)!).map(toPeriodCount);
  }

  async oldestWaiting(): Promise<OldestWaiting> {
    return { inboundAt: this.s.oldestInbound.get() ?? null, outboundAt: this.s.oldestOutbound.get() ?? null };
  }

  async entryBacklog(): Promise<Map<string, EntryBacklog>> {
    const backlog = new Map<string, EntryBacklog>();
    const at = (key: string) => {
      let b = backlog.get(key);
      if (!b) backlog.set(key, (b = { mailbox: 0, dead: 0 }));
      return b;
    };
    for (const r of this.s.mailboxByEntry.all()) at(r.entry_key).mailbox += r.n;
    for (const r of this.s.inboundDeadByEntry.all()) at(r.entry_key).dead += r.n;
    for (const r of this.s.outboxDeadByEntry.all()) at(r.entry_key).dead += r.n;
    return backlog;
  }

  async entryWaits(): Promise<Map<string, EntryWaits>> {
    return waitsByEntry(this.s.inboundWaitsByEntry.all(), this.s.outboxWaitsByEntry.all());
  }

  async listConversations(entryKey: string, opts: { limit?: number; scan?: number } = {}): Promise<ConversationSummary[]> {
    const rows = this.s.conversations.all(entryKey, clampLimit(opts.scan, 5_000, 100_000), clampLimit(opts.limit, 50, 500));
    return rows.map((r) => toConversation(r, this.s.inboundById.get(r.last_id)));
  }

  async forgetUser(entryKey: string, userId: string, conversationState: (conversationId: string) => string[]): Promise<ForgottenUser> {
    return this.write(() => this.tx.forgetUser(entryKey, userId, conversationState));
  }

  async prune(now: number, opts: { dedupRetentionMs: number; feedRetentionMs: number; historyTurns?: number }): Promise<number> {
    return this.write(() => this.tx.prune(now, opts.dedupRetentionMs, opts.feedRetentionMs, opts.historyTurns));
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    // The worker's connection first: the last one to close copies the rest of the WAL and removes it.
    await this.checkpointer?.stop();
    if (!this.db.open) return;
    this.flushWrites();
    this.db.close();
  }

  /** Statements whose SQL depends on which filters are set: prepared once per shape. */
  private stmt<R>(sql: string): Stmt<R> {
    let st = this.dynamic.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.dynamic.set(sql, st);
    }
    return st as Stmt<R>;
  }
}

