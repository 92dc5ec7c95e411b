import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import type {
  ClaimOptions, ConversationSummary, DeadLetter, Enqueued, FeedAppended, StoreSignal, DeadLetterKind, EntryBacklog, FeedItem, HistoryKey, HistoryTurn, InboundItem,
  InboundResult, MessageDetail, MessageFilter, MessageSummary, NewFeedItem, NewInbound, OutboundItem, RateBucket, Store, StoreStats,
} from '../store.js';
import type { MediaRef } from '../../core/message.js';
import { RATE_BUCKET_IDLE_MS } from '../store.js';
import { NOTIFY_CHANNEL, StoreNotifications } from './notifications.js';
import {
  type ClaimRow,
  type EventRow,
  type FeedRow,
  type InboundRow,
  type OutboundRow,
  TURNS_PER_MESSAGE,
  chunkOf,
  claimable,
  clampLimit,
  firstRateTake,
  horizonSql,
  messagesQuery,
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
  toOutbound,
  toSummary,
} from '../rows.js';

/** The .sql files; the build copies them next to the compiled js, vitest reads them from src. */
const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

export interface PostgresStoreOptions {
  /** postgres://user@host:port/db */
  url: string;
  /** Schema holding the tables (created if missing); default "public". Tests use one schema each. */
  schema?: string;
  /** Pool size; default 10. */
  poolSize?: number;
}

/** Unquoted-identifier names only: the schema goes into a connection option and into DDL. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

// For this pool only (a global setTypeParser would change every other pg user in the process):
// int8 as a number (ids, counts and epoch-ms times stay below 2^53), json as its text, which the
// shared row mappers parse as they do SQLite's.
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === pg.types.builtins.INT8) return Number;
    if (oid === pg.types.builtins.JSON) return (text: string) => text;
    return pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = opts.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(`invalid PostgreSQL schema name "${schema}": use 1 to 63 lowercase letters, digits or _, not starting with a digit`);
  }
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    options: `-c search_path=${schema}`,
    application_name: 'cococat',
    types: TYPES,
  });
  // An idle connection that breaks (server restart) is dropped and replaced by the pool; without a
  // listener its error would be thrown as an uncaught exception. Queries report their own errors.
  pool.on('error', () => {});
  try {
    await migrate(pool, schema);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return new PostgresStore(pool, new StoreNotifications(opts.url, schema));
}

/**
 * Creates the schema if missing and applies the pending numbered migrations in order, in one
 * transaction under an advisory lock, so processes starting together migrate once. Returns how many.
 */
export async function migrate(pool: pg.Pool, schema: string, dir: URL = MIGRATIONS_DIR): Promise<number> {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid PostgreSQL schema name "${schema}"`);
  const files = migrationFiles(dir);
  return transaction(pool, 'BEGIN', async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`cococat migrations ${schema}`]);
    // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE right even when the schema exists.
    if ((await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount === 0) {
      await c.query(`CREATE SCHEMA "${schema}"`);
    }
    // An `options` parameter in the URL replaces ours: never create the tables in another schema.
    const current = (await c.query<{ name: string | null }>('SELECT current_schema() AS name')).rows[0]?.name;
    if (current !== schema) throw new Error(`search_path selects schema "${current}", not "${schema}" (does the URL set options?)`);
    await c.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    // Read inside the lock: another process may have migrated while we waited.
    const applied = new Set((await c.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    let count = 0;
    for (const f of files) {
      if (applied.has(f.version)) continue;
      await c.query(readFileSync(new URL(f.name, dir), 'utf8'));
      // Migration bookkeeping only; store semantics never read the database clock.
      await c.query(
        'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)',
        [f.version, f.name],
      );
      count++;
    }
    return count;
  });
}

/** Runs `fn` in one transaction on a pooled connection: committed when it resolves, rolled back when it throws. */
async function transaction<T>(pool: pg.Pool, begin: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken: Error | undefined;
  try {
    await c.query(begin);
    const value = await fn(c);
    await c.query('COMMIT');
    return value;
  } catch (err) {
    await c.query('ROLLBACK').catch((e: unknown) => {
      broken = e instanceof Error ? e : new Error(String(e)); // a connection that cannot roll back is discarded
    });
    throw err;
  } finally {
    c.release(broken);
  }
}

const GUARD = `status = 'leased' AND lease_token = $2`; // $1 is the id
const READ_ONLY = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'; // one snapshot for a multi-query read
/** A rate bucket's tokens refilled up to $4 (now): $5 capacity, $6 tokens per ms. */
const RATE_AVAILABLE = 'LEAST($5::float8, b.tokens + GREATEST(0, $4::bigint - b.updated_at) * $6::float8)';

// Named, so each pooled connection parses and plans them once.
const SQL = {
  // The conversation lock. Every write that can change a conversation's head row takes it (claims
  // only try it), so an enqueue and a head refresh of one conversation never interleave, and ids
  // within a conversation are assigned in commit order.
  lock: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))',
  tryLock: 'SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked',

  // A new message is the head only of a conversation that had none (its id is the newest).
  enqueue: `WITH ins AS (
      INSERT INTO inbound (entry_key, channel_type, target_kind, target_id, dedup_key, conversation_key, user_id,
        conversation_id, message, status, available_at, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10, $10)
      ON CONFLICT (entry_key, dedup_key) DO NOTHING
      RETURNING id, conversation_key, available_at),
    head AS (
      INSERT INTO inbound_heads (conversation_key, head_id, ready_at) SELECT conversation_key, id, available_at FROM ins
      ON CONFLICT (conversation_key) DO NOTHING)
    SELECT id FROM ins`,
  inboundByDedup: 'SELECT id, created_at FROM inbound WHERE entry_key = $1 AND dedup_key = $2',
  // Heads another transaction holds are skipped, never waited for.
  dueHeads: `SELECT conversation_key, head_id FROM inbound_heads WHERE ready_at <= $1 ORDER BY head_id LIMIT $2
    FOR UPDATE SKIP LOCKED`,
  // NO KEY UPDATE: not blocked by an event insert's foreign-key lock on the row.
  claimRows: `SELECT id, entry_key, channel_type, target_kind, target_id, dedup_key, conversation_key, message, status, attempts,
      available_at, lease_token, lease_until, last_error, created_at, first_claimed_at
    FROM inbound WHERE id = ANY ($1::bigint[]) FOR NO KEY UPDATE SKIP LOCKED`,
  existing: 'SELECT id FROM inbound WHERE id = ANY ($1::bigint[])',
  headDeleteByIds: 'DELETE FROM inbound_heads WHERE head_id = ANY ($1::bigint[])',
  lease: `UPDATE inbound AS i SET status = 'leased', attempts = i.attempts + 1, lease_token = l.token, lease_until = $3,
      lease_owner = $4, first_claimed_at = coalesce(i.first_claimed_at, $5)
    FROM unnest($1::bigint[], $2::text[]) AS l (id, token) WHERE i.id = l.id`,
  headsReady: 'UPDATE inbound_heads SET ready_at = $1 WHERE conversation_key = ANY ($2::text[])',
  claimEvents: `INSERT INTO inbound_events (message_id, at, stage, detail)
    SELECT e.id, $2, 'claimed', e.detail FROM unnest($1::bigint[], $3::text[]) AS e (id, detail)`,
  // Recomputes a conversation's head row after any change to its mail.
  refreshHead: `WITH head AS (
      SELECT id, CASE status WHEN 'queued' THEN available_at ELSE lease_until END AS ready_at FROM inbound
      WHERE conversation_key = $1 AND status IN ('queued', 'leased') ORDER BY id LIMIT 1),
    put AS (
      INSERT INTO inbound_heads (conversation_key, head_id, ready_at) SELECT $1::text, id, ready_at FROM head
      ON CONFLICT (conversation_key) DO UPDATE SET head_id = excluded.head_id, ready_at = excluded.ready_at)
    DELETE FROM inbound_heads WHERE conversation_key = $1 AND NOT EXISTS (SELECT 1 FROM head)`,
  renew: `WITH renewed AS (UPDATE inbound SET lease_until = $3 WHERE id = $1 AND ${GUARD} RETURNING id),
      head AS (UPDATE inbound_heads SET ready_at = $3 WHERE head_id IN (SELECT id FROM renewed))
    SELECT id FROM renewed`,
  finish: `UPDATE inbound SET status = $3, finished_at = $4, finish_detail = $5, lease_token = NULL, lease_until = NULL
    WHERE id = $1 AND ${GUARD} RETURNING conversation_key`,
  retryInbound: `UPDATE inbound SET status = 'queued', available_at = $3, last_error = $4, lease_token = NULL, lease_until = NULL
    WHERE id = $1 AND ${GUARD} RETURNING conversation_key`,
  deadInbound: `UPDATE inbound SET status = 'dead', finished_at = $3, last_error = $4, lease_token = NULL, lease_until = NULL
    WHERE id = $1 AND ${GUARD} RETURNING conversation_key`,
  reviveInbound: `UPDATE inbound SET status = 'queued', available_at = $2, attempts = 0, finished_at = NULL
    WHERE id = $1 AND status = 'dead' RETURNING conversation_key`,
  // Events go only to existing messages (markSent's replyTo is not guaranteed to be one).
  keepMedia: `UPDATE inbound SET message = jsonb_set(message::jsonb, '{media}', $2::jsonb)::json
    WHERE id = $1 AND status IN ('queued', 'leased')`,
  event: 'INSERT INTO inbound_events (message_id, at, stage, detail) SELECT id, $2, $3, $4 FROM inbound WHERE id = $1',
  events: 'SELECT at, stage, detail FROM inbound_events WHERE message_id = $1 ORDER BY at, id',
  inboundById: 'SELECT * FROM inbound WHERE id = $1',
  insertHistory: `INSERT INTO history (agent_id, entry_key, conversation_id, turn, role, content, at)
    SELECT $1, $2, $3, t.turn, t.role, t.content, t.at FROM unnest($4::bigint[], $5::text[], $6::text[], $7::bigint[]) AS t (turn, role, content, at)
    ON CONFLICT DO NOTHING`,
  loadHistory: `SELECT role, content, at FROM history WHERE agent_id = $1 AND entry_key = $2 AND conversation_id = $3
    ORDER BY turn DESC LIMIT $4`,

  outboxBusy: `SELECT 1 FROM outbox WHERE entry_key = $1 AND conversation_id = $2 AND status IN ('pending', 'leased') LIMIT 1`,
  // Each conversation's oldest unfinished chunk, if due. A chunk a concurrent claim holds is
  // skipped; one it has just leased is re-checked on its new version and dropped.
  outboxHeads: `SELECT o.* FROM (SELECT min(id) AS id FROM outbox WHERE status IN ('pending', 'leased')
                                  AND entry_key <> ALL ($3::text[])
                                GROUP BY entry_key, conversation_id) h
    JOIN outbox o ON o.id = h.id
    WHERE (o.status = 'pending' AND o.available_at <= $1) OR (o.status = 'leased' AND o.lease_until <= $1)
    ORDER BY o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED`,
  notify: `SELECT pg_notify('${NOTIFY_CHANNEL}', $1)`,
  // unnest yields the array in order and nothing sorts it: the notifications go out in that order.
  notifyMany: `SELECT pg_notify('${NOTIFY_CHANNEL}', p) FROM unnest($1::text[]) AS p`,
  // Taken when free, expired or already ours; otherwise no row comes back.
  leaseEntry: `INSERT INTO entry_leases (entry_key, owner, lease_until) VALUES ($1, $2, $4)
    ON CONFLICT (entry_key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
    WHERE entry_leases.owner = excluded.owner OR entry_leases.lease_until <= $3
    RETURNING entry_key`,
  releaseEntry: 'DELETE FROM entry_leases WHERE entry_key = $1 AND owner = $2',
  getChannelState: 'SELECT value FROM channel_state WHERE entry_key = $1 AND name = $2',
  setChannelState: `INSERT INTO channel_state (entry_key, name, value, updated_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (entry_key, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  // One statement: concurrent takes from several processes queue on the row's lock.
  takeRateTokens: `INSERT INTO rate_buckets AS b (bucket_key, tokens, taken, updated_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (bucket_key) DO UPDATE SET
      taken = LEAST($7::int, FLOOR(${RATE_AVAILABLE}))::int,
      tokens = ${RATE_AVAILABLE} - LEAST($7::int, FLOOR(${RATE_AVAILABLE})),
      updated_at = GREATEST(b.updated_at, $4)
    RETURNING taken, tokens`,
  outboxLease: `UPDATE outbox AS o SET status = 'leased', attempts = o.attempts + 1, lease_token = l.token, lease_until = $3,
      lease_owner = $4
    FROM unnest($1::bigint[], $2::text[]) AS l (id, token) WHERE o.id = l.id`,
  markSent: `UPDATE outbox SET status = 'sent', sent_at = $3, platform_message_id = $4, lease_token = NULL, lease_until = NULL
    WHERE id = $1 AND ${GUARD}`,
  retryOutbound: `UPDATE outbox SET status = 'pending', available_at = $3, last_error = $4, lease_token = NULL, lease_until = NULL
    WHERE id = $1 AND ${GUARD} RETURNING *`,
  deadOutbound: `UPDATE outbox SET status = 'dead', dead_at = $3, last_error = $4, lease_token = NULL, lease_until = NULL
    WHERE id = $1 AND ${GUARD} RETURNING *`,
  reviveOutbound: `UPDATE outbox SET status = 'pending', available_at = $2, attempts = 0, expires_at = $2 + max_age_ms, dead_at = NULL
    WHERE id = $1 AND status = 'dead' RETURNING *`,
  outboxByReply: 'SELECT * FROM outbox WHERE reply_to = $1 ORDER BY id',
  deadInboundRows: `SELECT * FROM inbound WHERE status = 'dead' AND ($1::text IS NULL OR entry_key = $1)
    ORDER BY finished_at DESC, id DESC LIMIT $2`,
  deadOutboundRows: `SELECT * FROM outbox WHERE status = 'dead' AND ($1::text IS NULL OR entry_key = $1)
    ORDER BY dead_at DESC, id DESC LIMIT $2`,

  // A stored item also notifies the other processes (delivered on commit, when it can be read).
  insertFeed: `WITH ins AS (
      INSERT INTO feed (entry_key, conversation_id, idempotency_key, reply_to, payload, created_at)
      VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (entry_key, idempotency_key) DO NOTHING RETURNING seq)
    SELECT seq, pg_notify('${NOTIFY_CHANNEL}', $7) FROM ins`,
  feedSeqByKey: 'SELECT seq FROM feed WHERE entry_key = $1 AND idempotency_key = $2',
  readFeed: 'SELECT * FROM feed WHERE entry_key = $1 AND conversation_id = $2 AND seq > $3 ORDER BY seq LIMIT $4',
  feedReplies: 'SELECT * FROM feed WHERE entry_key = $1 AND reply_to = $2 ORDER BY seq',

  // Each count's status condition implies a partial index's predicate.
  stats: `SELECT
      (SELECT count(*) FROM inbound WHERE status = 'queued') AS "inboundQueued",
      (SELECT count(*) FROM inbound WHERE status = 'leased') AS "inboundLeased",
      (SELECT count(*) FROM inbound WHERE status = 'dead') AS "inboundDead",
      (SELECT count(*) FROM outbox WHERE status = 'pending') AS "outboundPending",
      (SELECT count(*) FROM outbox WHERE status = 'leased') AS "outboundLeased",
      (SELECT count(*) FROM outbox WHERE status = 'dead') AS "outboundDead"`,
  backlog: `SELECT entry_key, count(*) FILTER (WHERE NOT dead) AS mailbox, count(*) FILTER (WHERE dead) AS dead FROM (
      SELECT entry_key, false AS dead FROM inbound WHERE status IN ('queued', 'leased')
      UNION ALL SELECT entry_key, true FROM inbound WHERE status = 'dead'
      UNION ALL SELECT entry_key, true FROM outbox WHERE status = 'dead') AS x
    GROUP BY entry_key`,
  // The user is the latest message's (as SQLite's bare column next to max() gives).
  conversations: `SELECT i.user_id, c.conversation_id, c.n, c.last_id, i.created_at, i.message
    FROM (SELECT conversation_id, count(*) AS n, max(id) AS last_id
          FROM (SELECT id, conversation_id FROM inbound WHERE entry_key = $1 ORDER BY id DESC LIMIT $2) AS s
          GROUP BY conversation_id ORDER BY last_id DESC LIMIT $3) AS c
    JOIN inbound i ON i.id = c.last_id
    ORDER BY c.last_id DESC`,

  // Pruning by id range, as the SQLite store does; the timeline goes by ON DELETE CASCADE.
  // Deleting sent rows first does not change the prunable set.
  inboundHorizon: horizonSql('inbound', 'id', '$1'),
  feedHorizon: horizonSql('feed', 'seq', '$1'),
  deleteSentOutbox: `DELETE FROM outbox WHERE status = 'sent' AND reply_to IN (SELECT CAST(id AS TEXT) FROM inbound i WHERE ${prunableSql('$1')})`,
  deleteInbound: `DELETE FROM inbound AS i WHERE ${prunableSql('$1')}`,
  deleteFeed: 'DELETE FROM feed WHERE seq < $1',
  deleteIdleBuckets: 'DELETE FROM rate_buckets WHERE updated_at < $1',
  // Keeps the newest $1 turns of each conversation.
  trimHistory: `DELETE FROM history AS h USING (
      SELECT agent_id, entry_key, conversation_id, turn,
        row_number() OVER (PARTITION BY agent_id, entry_key, conversation_id ORDER BY turn DESC) AS rank
      FROM history) AS k
    WHERE k.rank > $1 AND h.agent_id = k.agent_id AND h.entry_key = k.entry_key AND h.conversation_id = k.conversation_id
      AND h.turn = k.turn`,
} as const;

type Name = keyof typeof SQL;
type Db = pg.Pool | PoolClient;

function run<R extends QueryResultRow = QueryResultRow>(db: Db, name: Name, values: unknown[]): Promise<pg.QueryResult<R>> {
  return db.query<R>({ name: `cococat_${name}`, text: SQL[name], values });
}

const OUTBOX_COLUMNS = `entry_key, channel_type, conversation_id, user_id, idempotency_key, text, format, chunk_index, chunk_count,
  reply_to, in_reply_to, is_group, reply_meta, status, attempts, lease_token, lease_until, lease_owner, available_at, expires_at,
  max_age_ms, created_at, sent_at, platform_message_id, image`;

/** The outbox insert of `n` chunks, parameters in outboxParams order (is_group's 1/0 is valid boolean input). */
function insertOutbox(n: number): string {
  const width = 25;
  const rows = Array.from({ length: n }, (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`);
  return `INSERT INTO outbox (${OUTBOX_COLUMNS}) VALUES ${rows.join(', ')}
    ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key`;
}

export class PostgresStore implements Store {
  readonly kind = 'postgres';
  readonly shared = true;
  private ended: Promise<void> | undefined;
  /** Signals not sent yet, and whether a batch is on its way. */
  private readonly signals: string[] = [];
  private sendingSignals = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly notifications: StoreNotifications,
  ) {}

  private tx<T>(fn: (c: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    return transaction(this.pool, begin, fn);
  }

  /** Takes the conversation lock and recomputes its head row. */
  private async refreshHead(c: PoolClient, conversationKey: string): Promise<void> {
    await run(c, 'lock', [conversationKey]);
    await run(c, 'refreshHead', [conversationKey]);
  }

  enqueue(item: NewInbound, now: number): Promise<Enqueued> {
    const m = item.message;
    const values = [item.entryKey, item.channelType, item.targetKind, item.targetId, item.dedupKey, item.conversationKey, m.userId,
      m.conversationId, JSON.stringify(m), now];
    return this.tx(async (c) => {
      // Before the id is drawn: another process enqueuing into this conversation could otherwise
      // commit a later id first, and a claim lease it ahead of the earlier message.
      await run(c, 'lock', [item.conversationKey]);
      const inserted = (await run<{ id: number }>(c, 'enqueue', values)).rows[0];
      if (inserted) return { id: String(inserted.id), duplicate: false, acceptedAt: now };
      // A concurrent first insert was waited for by ON CONFLICT; this new statement sees it.
      const first = (await run<{ id: number; created_at: number }>(c, 'inboundByDedup', [item.entryKey, item.dedupKey])).rows[0];
      if (!first) throw new Error('inbound message vanished between insert and lookup');
      return { id: String(first.id), duplicate: true, acceptedAt: first.created_at };
    });
  }

  async claimInbound(o: ClaimOptions): Promise<InboundItem[]> {
    if (o.limit < 1) return [];
    return this.tx(async (c) => {
      const heads = (await run<{ conversation_key: string; head_id: number }>(c, 'dueHeads', [o.now, o.limit])).rows;
      if (heads.length === 0) return [];
      // Read under a row lock and checked again: the head table only says where to look.
      const rows = new Map((await run<ClaimRow>(c, 'claimRows', [heads.map((h) => h.head_id)])).rows.map((r) => [r.id, r]));
      const due: ClaimRow[] = [];
      const absent: number[] = [];
      for (const h of heads) {
        const r = rows.get(h.head_id);
        if (!r) absent.push(h.head_id);
        else if (claimable(r, o.now)) due.push(r);
        // A head out of step with its mailbox would be a bug; mend it rather than lease a finished
        // message, when the conversation lock is free (a claim never waits; a later one mends it).
        else if ((await run<{ locked: boolean }>(c, 'tryLock', [r.conversation_key])).rows[0]?.locked) {
          await run(c, 'refreshHead', [r.conversation_key]);
        }
      }
      if (absent.length > 0) {
        // Absent: locked by a write in progress (skip it), or vanished (drop its head).
        const present = new Set((await run<{ id: number }>(c, 'existing', [absent])).rows.map((r) => r.id));
        const vanished = absent.filter((id) => !present.has(id));
        if (vanished.length > 0) await run(c, 'headDeleteByIds', [vanished]);
      }
      if (due.length === 0) return [];
      const until = o.now + o.leaseMs;
      const tokens = due.map(() => randomUUID());
      await run(c, 'lease', [due.map((r) => r.id), tokens, until, o.owner, o.now]);
      // The claimed message stays its conversation's head; only its ready time moves.
      await run(c, 'headsReady', [until, due.map((r) => r.conversation_key)]);
      // The first claim is read from first_claimed_at; claims after a lost lease or a revive are events.
      const again = due.filter((r) => r.first_claimed_at !== null);
      if (again.length > 0) {
        await run(c, 'claimEvents', [again.map((r) => r.id), o.now, again.map((r) => `attempt ${r.attempts + 1} by ${o.owner}`)]);
      }
      return due.map((r, i) =>
        toInbound({ ...r, status: 'leased', attempts: r.attempts + 1, lease_token: tokens[i]!, lease_until: until }),
      );
    });
  }

  async renewInbound(id: string, leaseToken: string, leaseUntil: number): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return (await run(this.pool, 'renew', [n, leaseToken, leaseUntil])).rowCount === 1;
  }

  async completeInbound(id: string, leaseToken: string, res: InboundResult): Promise<false | OutboundItem[]> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.tx(async (c) => {
      // The lease check comes first: a stale worker writes nothing at all.
      const detail = res.detail ?? `${res.replies.length} reply chunk(s)`;
      const key = (await run<{ conversation_key: string }>(c, 'finish', [n, leaseToken, res.status, res.now, detail])).rows[0]?.conversation_key;
      if (key === undefined) return false;
      await this.refreshHead(c, key);
      const claimed = await this.insertReplies(c, res);
      const { key: k, turns } = res.history;
      if (turns.length > TURNS_PER_MESSAGE) throw new Error(`at most ${TURNS_PER_MESSAGE} history turns per message`);
      if (turns.length > 0) {
        await run(c, 'insertHistory', [k.agentId, k.entryKey, k.conversationId, turns.map((_, i) => n * TURNS_PER_MESSAGE + i),
          turns.map((t) => t.role), turns.map((t) => t.content), turns.map((t) => t.at)]);
      }
      return claimed;
    });
  }

  /**
   * Inserts the reply chunks. When nothing of the conversation waits before them, they are appended
   * to the entry's feed and stored as sent (`res.feed`), or leased to the caller (`res.claim`).
   */
  private async insertReplies(c: PoolClient, res: InboundResult): Promise<OutboundItem[]> {
    const first = res.replies[0];
    if (!first) return [];
    const next = (res.claim || res.feed) && (await run(c, 'outboxBusy', [first.entryKey, first.conversationId])).rowCount === 0;
    const feed = next && res.feed?.length === res.replies.length ? res.feed : undefined;
    const claim = next && !feed ? res.claim : undefined;
    const states: OutboxState[] = [];
    for (const [i, r] of res.replies.entries()) {
      if (feed) {
        const { seq } = await this.appendFeedIn(c, { ...r, payload: feed[i] }, res.now);
        states.push({ sent: { platformMessageId: String(seq) } });
      } else {
        states.push(claim && { lease: { token: randomUUID(), until: res.now + claim.leaseMs, owner: claim.owner } });
      }
    }
    const params = res.replies.flatMap((r, i) => outboxParams(r, res.now, states[i]));
    const inserted = await c.query<{ id: number; idempotency_key: string }>(insertOutbox(res.replies.length), params);
    if (!claim && !feed) {
      // Left for an outbox loop: perhaps another process's, the one that runs this entry.
      if (inserted.rowCount) await run(c, 'notify', [this.notifications.outboxPayload(first.entryKey)]);
      return [];
    }
    const ids = new Map(inserted.rows.map((r) => [r.idempotency_key, r.id]));
    const stored: OutboundItem[] = [];
    res.replies.forEach((r, i) => {
      const id = ids.get(r.idempotencyKey);
      const state = states[i];
      if (id === undefined || !state) return;
      ids.delete(r.idempotencyKey); // a key repeated in one reply was inserted by its first chunk only
      stored.push(storedChunk(r, String(id), res.now, state));
    });
    return stored;
  }

  /** A guarded mailbox update (returning the conversation key); on success refreshes the head and records the event. */
  private async guarded(name: Name, values: [number, ...unknown[]], ev: { at: number; stage: string; detail?: string }): Promise<boolean> {
    return this.tx(async (c) => {
      const key = (await run<{ conversation_key: string }>(c, name, values)).rows[0]?.conversation_key;
      if (key === undefined) return false;
      await this.refreshHead(c, key);
      await run(c, 'event', [values[0], ev.at, ev.stage, ev.detail ?? null]);
      return true;
    });
  }

  async retryInbound(id: string, leaseToken: string, opts: { now: number; availableAt: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.guarded('retryInbound', [n, leaseToken, opts.availableAt, opts.error], { at: opts.now, stage: 'retry', detail: opts.error });
  }

  async deadLetterInbound(id: string, leaseToken: string, opts: { now: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.guarded('deadInbound', [n, leaseToken, opts.now, opts.error], { at: opts.now, stage: 'dead', detail: opts.error });
  }

  async claimOutbound(o: ClaimOptions): Promise<OutboundItem[]> {
    if (o.limit < 1) return [];
    return this.tx(async (c) => {
      const rows = (await run<OutboundRow>(c, 'outboxHeads', [o.now, o.limit, o.skipEntries ?? []])).rows;
      if (rows.length === 0) return [];
      const until = o.now + o.leaseMs;
      const tokens = rows.map(() => randomUUID());
      await run(c, 'outboxLease', [rows.map((r) => r.id), tokens, until, o.owner]);
      return rows.map((r, i) => toOutbound({ ...r, status: 'leased', attempts: r.attempts + 1, lease_token: tokens[i]!, lease_until: until }));
    });
  }

  async markSent(id: string, leaseToken: string, opts: { now: number; platformMessageId?: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    // No event row: the "sent" stage is read from the chunk's sent_at.
    return (await run(this.pool, 'markSent', [n, leaseToken, opts.now, opts.platformMessageId ?? null])).rowCount === 1;
  }

  /** Outbound ops: the guarded update (returning the row), then an event on the inbound message the chunk answers. */
  private outboxOp(name: Name, values: unknown[], at: number, stage: string, detail: (r: OutboundRow) => string): Promise<boolean> {
    return this.tx(async (c) => {
      const row = (await run<OutboundRow>(c, name, values)).rows[0];
      if (!row) return false;
      const inboundId = parseId(row.reply_to);
      if (inboundId !== undefined) await run(c, 'event', [inboundId, at, stage, detail(row)]);
      return true;
    });
  }

  async retryOutbound(id: string, leaseToken: string, opts: { now: number; availableAt: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.outboxOp('retryOutbound', [n, leaseToken, opts.availableAt, opts.error], opts.now, 'send_retry', (r) => `${chunkOf(r)}: ${opts.error}`);
  }

  async deadLetterOutbound(id: string, leaseToken: string, opts: { now: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.outboxOp('deadOutbound', [n, leaseToken, opts.now, opts.error], opts.now, 'send_dead', (r) => `${chunkOf(r)}: ${opts.error}`);
  }

  async listDeadLetters(opts: { kind?: DeadLetterKind; entryKey?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = clampLimit(opts.limit, 100, 1000);
    const args = [opts.entryKey ?? null, limit];
    return this.tx(async (c) => {
      const inbound = opts.kind === 'outbound' ? [] : (await run<InboundRow>(c, 'deadInboundRows', args)).rows;
      const outbound = opts.kind === 'inbound' ? [] : (await run<OutboundRow>(c, 'deadOutboundRows', args)).rows;
      return toDeadLetters(inbound, outbound, limit);
    }, READ_ONLY);
  }

  async reviveDeadLetter(kind: DeadLetterKind, id: string, now: number): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    if (kind === 'inbound') return this.guarded('reviveInbound', [n, now], { at: now, stage: 'revived' });
    return this.outboxOp('reviveOutbound', [n, now], now, 'send_revived', chunkOf);
  }

  async loadHistory(key: HistoryKey, limit: number): Promise<HistoryTurn[]> {
    if (limit < 1) return [];
    const rows = (await run<HistoryTurn>(this.pool, 'loadHistory', [key.agentId, key.entryKey, key.conversationId, Math.trunc(limit)])).rows;
    return rows.reverse();
  }

  async keepMedia(messageId: string, media: MediaRef[]): Promise<boolean> {
    const n = parseId(messageId);
    if (n === undefined) return false;
    return (await run(this.pool, 'keepMedia', [n, JSON.stringify(media)])).rowCount === 1;
  }

  async recordEvent(messageId: string, event: { at: number; stage: string; detail?: string }): Promise<void> {
    const n = parseId(messageId);
    if (n === undefined) return;
    await run(this.pool, 'event', [n, event.at, event.stage, event.detail ?? null]);
  }

  async listMessages(filter: MessageFilter = {}): Promise<MessageSummary[]> {
    const q = messagesQuery(filter, (i) => `$${i}`);
    return q ? (await this.pool.query<InboundRow>(q.sql, q.args)).rows.map(toSummary) : [];
  }

  async getMessage(id: string): Promise<MessageDetail | undefined> {
    const n = parseId(id);
    if (n === undefined) return undefined;
    return this.tx(async (c) => {
      const row = (await run<InboundRow>(c, 'inboundById', [n])).rows[0];
      if (!row) return undefined;
      const events = (await run<EventRow>(c, 'events', [n])).rows;
      return toDetail(row, events, (await run<OutboundRow>(c, 'outboxByReply', [String(n)])).rows);
    }, READ_ONLY);
  }

  async listConversations(entryKey: string, opts: { limit?: number; scan?: number } = {}): Promise<ConversationSummary[]> {
    const args = [entryKey, clampLimit(opts.scan, 5_000, 100_000), clampLimit(opts.limit, 50, 500)];
    type Row = { user_id: string; conversation_id: string; n: number; last_id: number; created_at: number; message: string };
    return (await run<Row>(this.pool, 'conversations', args)).rows.map((r) => toConversation(r, r));
  }

  async appendFeed(item: NewFeedItem, now: number): Promise<{ seq: number; duplicate: boolean }> {
    return this.tx((c) => this.appendFeedIn(c, item, now));
  }

  private async appendFeedIn(c: PoolClient, item: NewFeedItem, now: number): Promise<{ seq: number; duplicate: boolean }> {
    const payload = JSON.stringify(item.payload ?? null);
    // Seqs within a conversation are drawn in commit order, so a reader's cursor never passes an
    // item another process is still writing.
    await run(c, 'lock', [JSON.stringify(['feed', item.entryKey, item.conversationId])]);
    const notice = this.notifications.feedPayload(item.entryKey, item.conversationId, item.replyTo);
    const r = await run<{ seq: number }>(c, 'insertFeed', [item.entryKey, item.conversationId, item.idempotencyKey, item.replyTo, payload, now, notice]);
    if (r.rows[0]) return { seq: r.rows[0].seq, duplicate: false };
    const first = (await run<{ seq: number }>(c, 'feedSeqByKey', [item.entryKey, item.idempotencyKey])).rows[0];
    if (!first) throw new Error('feed item vanished between insert and lookup');
    return { seq: first.seq, duplicate: true };
  }

  async readFeed(entryKey: string, conversationId: string, afterSeq: number, limit: number): Promise<FeedItem[]> {
    if (limit < 1) return [];
    return (await run<FeedRow>(this.pool, 'readFeed', [entryKey, conversationId, afterSeq, Math.trunc(limit)])).rows.map(toFeed);
  }

  async feedRepliesTo(entryKey: string, messageId: string): Promise<FeedItem[]> {
    return (await run<FeedRow>(this.pool, 'feedReplies', [entryKey, messageId])).rows.map(toFeed);
  }

  async leaseEntry(entryKey: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    return (await run(this.pool, 'leaseEntry', [entryKey, owner, now, now + leaseMs])).rowCount === 1;
  }

  async releaseEntry(entryKey: string, owner: string): Promise<void> {
    await run(this.pool, 'releaseEntry', [entryKey, owner]);
  }

  async getChannelState(entryKey: string, name: string): Promise<string | undefined> {
    return (await run<{ value: string }>(this.pool, 'getChannelState', [entryKey, name])).rows[0]?.value;
  }

  async setChannelState(entryKey: string, name: string, value: string, now: number): Promise<void> {
    await run(this.pool, 'setChannelState', [entryKey, name, value, now]);
  }

  async takeRateTokens(key: string, want: number, bucket: RateBucket): Promise<{ taken: number; left: number }> {
    const n = Math.max(1, Math.trunc(want));
    const first = firstRateTake(n, bucket.capacity);
    const values = [key, first.left, first.taken, bucket.now, bucket.capacity, bucket.perSecond / 1000, n];
    const row = (await run<{ taken: number; tokens: number }>(this.pool, 'takeRateTokens', values)).rows[0]!;
    return { taken: row.taken, left: row.tokens };
  }

  onFeedAppended(listener: (e: FeedAppended) => void): () => void {
    return this.notifications.onFeed(listener);
  }

  onOutboxPending(listener: (entryKey: string) => void): () => void {
    return this.notifications.onOutbox(listener);
  }

  signal(entryKey: string, topic: string, body: string): boolean {
    const payload = this.notifications.signalPayload(entryKey, topic, body);
    if (payload === undefined) return false;
    this.signals.push(payload);
    if (!this.sendingSignals) void this.sendSignals();
    return true;
  }

  /**
   * Signals go out one batch at a time, each batch one statement: in the order they were given, which
   * separate pool connections would not keep. Best effort: a failed batch is dropped.
   */
  private async sendSignals(): Promise<void> {
    this.sendingSignals = true;
    try {
      while (this.signals.length > 0) {
        const batch = this.signals.splice(0);
        await run(this.pool, 'notifyMany', [batch]).catch(() => undefined);
      }
    } finally {
      this.sendingSignals = false;
    }
  }

  onSignal(listener: (s: StoreSignal) => void): () => void {
    return this.notifications.onSignal(listener);
  }

  async stats(): Promise<StoreStats> {
    const row = (await run<StoreStats>(this.pool, 'stats', [])).rows[0];
    if (!row) throw new Error('stats query returned no row');
    return row;
  }

  async entryBacklog(): Promise<Map<string, EntryBacklog>> {
    const rows = (await run<EntryBacklog & { entry_key: string }>(this.pool, 'backlog', [])).rows;
    return new Map(rows.map((r) => [r.entry_key, { mailbox: r.mailbox, dead: r.dead }]));
  }

  async prune(now: number, opts: { dedupRetentionMs: number; feedRetentionMs: number; historyTurns?: number }): Promise<number> {
    return this.tx(async (c) => {
      if (opts.historyTurns !== undefined) await run(c, 'trimHistory', [Math.max(1, Math.trunc(opts.historyTurns))]);
      const horizon = (r: pg.QueryResult<{ horizon: number }>) => r.rows[0]?.horizon ?? 0;
      const inbound = horizon(await run<{ horizon: number }>(c, 'inboundHorizon', [now - opts.dedupRetentionMs]));
      let deleted = (await run(c, 'deleteSentOutbox', [inbound])).rowCount ?? 0;
      deleted += (await run(c, 'deleteInbound', [inbound])).rowCount ?? 0;
      deleted += (await run(c, 'deleteIdleBuckets', [now - RATE_BUCKET_IDLE_MS])).rowCount ?? 0;
      const feed = horizon(await run<{ horizon: number }>(c, 'feedHorizon', [now - opts.feedRetentionMs]));
      return deleted + ((await run(c, 'deleteFeed', [feed])).rowCount ?? 0);
    });
  }

  async close(): Promise<void> {
    this.ended ??= Promise.all([this.notifications.close(), this.pool.end()]).then(() => undefined);
    await this.ended;
  }
}
