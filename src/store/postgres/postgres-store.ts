import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import type {
  ChannelStateRow, ClaimOptions, ConversationSummary, DeadLetter, ForgottenUser, OldestWaiting, Enqueued, FeedAppended, StoreSignal, DeadLetterKind, EntryBacklog, EntryWaits, FeedItem, HistoryKey, HistoryTurn, InboundItem,
  InboundResult, MessageDetail, MessageFilter, MessageSummary, NewFeedItem, NewInbound, NewNotice, NewOutbound, NoticeItem, NoticeSummary, OutboundItem, PeriodCount, QueuedMessage, RateBucket, Store, StoreStats,
} from '../store.js';
import type { ChatMessage, MediaRef } from '../../core/message.js';
import { RATE_BUCKET_IDLE_MS } from '../store.js';
import { Batcher } from './batcher.js';
import { NOTIFY_CHANNEL, StoreNotifications } from './notifications.js';
import {
  type EventRow,
  type FeedRow,
  type InboundRow,
  type OutboundRow,
  TURNS_PER_MESSAGE,
  laterTurnRange,
  chunkOf,
  clampLimit,
  firstRateTake,
  checkPeriodBounds,
  horizonSql,
  messagesQuery,
  PERIOD_COUNTS,
  type PeriodCountRow,
  migrationFiles,
  type OutboxState,
  parseId,
  prunableSql,
  storedChunk,
  outboxParams,
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

/** Enqueue statements on their way at once; later enqueues wait and go together in the next. */
const ENQUEUES_IN_FLIGHT = 2;

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
  // A transaction's lock on a conversation (of the mailbox or of a feed). Every write that can change
  // a conversation's head row takes it (claims only try it), so an enqueue and a head refresh of one
  // conversation never interleave, and ids within a conversation are assigned in commit order.
  lock: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))',

  // The mailbox's hot writes are server-side functions (migration 0006): one round trip each.
  enqueue: `SELECT msg_id, is_duplicate, accepted FROM cococat_enqueue($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
    $6::text[], $7::text[], $8::text[], $9::json[], $10::bigint[])`,
  claim: 'SELECT * FROM cococat_claim($1, $2, $3, $4)',
  complete: `SELECT cococat_complete($1, $2, $3, $4, $5, $6,
      $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int[], $15::int[],
      $16::text[], $17::text[], $18::boolean[], $19::json[], $20::bigint[], $21::bigint[], $22::text[],
      $23, $24::json[], $25::text[], $26, $27,
      $28, $29, $30, $31::bigint[], $32::text[], $33::text[], $34::bigint[]) AS result`,
  // Takes the conversation lock and recomputes its head row after any change to its mail.
  refreshHead: 'SELECT cococat_refresh_head($1)',
  renew: `WITH renewed AS (UPDATE inbound SET lease_until = $3 WHERE id = $1 AND ${GUARD} RETURNING id),
      head AS (UPDATE inbound_heads SET ready_at = $3 WHERE head_id IN (SELECT id FROM renewed))
    SELECT id FROM renewed`,
  retryInbound: `UPDATE inbound SET status = 'queued', available_at = $3, last_error = $4, lease_token = NULL, lease_until = NULL
    WHERE id = $1 AND ${GUARD} RETURNING conversation_key`,
  deferInbound: `UPDATE inbound SET status = 'queued', available_at = $3, attempts = attempts - 1, lease_token = NULL, lease_until = NULL
    WHERE id = $1 AND ${GUARD} RETURNING conversation_key`,
  // The status terms match the partial index inbound_unfinished (only the head can be leased).
  queuedAfter: `SELECT id, created_at, message FROM inbound
    WHERE conversation_key = $1 AND status IN ('queued', 'leased') AND status = 'queued' AND id > $2 ORDER BY id LIMIT $3`,
  // Messages a completion answers too ($5: the completed one, whose conversation they must be in).
  absorbInbound: `UPDATE inbound SET status = $1, finished_at = $2, finish_detail = $3
    WHERE id = ANY ($4::bigint[]) AND conversation_key = (SELECT conversation_key FROM inbound WHERE id = $5) AND status = 'queued'
    RETURNING conversation_key`,
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
  // A message's turns are numbered from its id * TURNS_PER_MESSAGE: "before a message" is a turn bound.
  clearHistory: 'DELETE FROM history WHERE agent_id = $1 AND entry_key = $2 AND conversation_id = $3 AND turn < $4',
  loadHistory: `SELECT role, content, at FROM history WHERE agent_id = $1 AND entry_key = $2 AND conversation_id = $3
    ORDER BY turn DESC LIMIT $4`,
  lockLaterTurns: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))',
  // Turns added to a message later (addReplies): numbered on from its later range's highest, within [$4, $5).
  insertLaterTurns: `INSERT INTO history (agent_id, entry_key, conversation_id, turn, role, content, at)
    SELECT $1, $2, $3, base.n + t.i - 1, t.role, t.content, t.at
    FROM (SELECT COALESCE(MAX(turn) + 1, $4) AS n FROM history
          WHERE agent_id = $1 AND entry_key = $2 AND conversation_id = $3 AND turn >= $4 AND turn < $5) AS base,
      unnest($6::text[], $7::text[], $8::bigint[]) WITH ORDINALITY AS t(role, content, at, i)
    WHERE base.n + t.i - 1 < $5
    ON CONFLICT DO NOTHING`,

  // Parameters in the column order of outboxParams.
  insertOutbox: `INSERT INTO outbox (entry_key, channel_type, conversation_id, user_id, idempotency_key,
      text, format, chunk_index, chunk_count, reply_to, in_reply_to, is_group, reply_meta, status,
      attempts, lease_token, lease_until, lease_owner, available_at, expires_at, max_age_ms, created_at, sent_at, platform_message_id, image)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)
    ON CONFLICT (idempotency_key) DO NOTHING`,
  // Each conversation's oldest unfinished chunk, if due. A chunk a concurrent claim holds is
  // skipped; one it has just leased is re-checked on its new version and dropped.
  outboxHeads: `SELECT o.* FROM (SELECT min(id) AS id FROM outbox WHERE status IN ('pending', 'leased')
                                  AND entry_key <> ALL ($3::text[])
                                GROUP BY entry_key, conversation_id) h
    JOIN outbox o ON o.id = h.id
    WHERE (o.status = 'pending' AND o.available_at <= $1) OR (o.status = 'leased' AND o.lease_until <= $1)
    ORDER BY o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED`,
  // unnest yields the array in order and nothing sorts it: the notifications go out in that order.
  // Committed without waiting for the disk: the notification lock is held through the commit, and
  // what it announces is durable already (a notification lost in a database crash only delays a reader).
  notifyMany: `SELECT pg_notify('${NOTIFY_CHANNEL}', p) FROM unnest($1::text[]) AS p
    WHERE set_config('synchronous_commit', 'off', true) IS NOT NULL`,
  // Taken when free, expired or already ours; otherwise no row comes back.
  leaseEntry: `INSERT INTO entry_leases (entry_key, owner, lease_until) VALUES ($1, $2, $4)
    ON CONFLICT (entry_key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
    WHERE entry_leases.owner = excluded.owner OR entry_leases.lease_until <= $3
    RETURNING entry_key`,
  releaseEntry: 'DELETE FROM entry_leases WHERE entry_key = $1 AND owner = $2',
  getChannelState: 'SELECT value FROM channel_state WHERE entry_key = $1 AND name = $2',
  deleteChannelState: 'DELETE FROM channel_state WHERE entry_key = $1 AND name = $2 AND value = $3',
  // A user's data (forgetUser): finished messages with no reply chunk still to go out, locked until the commit.
  forgettable: `SELECT i.id, i.conversation_id, i.message FROM inbound i
    WHERE i.entry_key = $1 AND i.user_id = $2 AND i.status IN ('done', 'fallback', 'dead')
      AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.reply_to = CAST(i.id AS TEXT) AND o.status IN ('pending', 'leased'))
    FOR UPDATE OF i`,
  deleteMessageReplies: 'DELETE FROM outbox WHERE reply_to = ANY ($1::text[])',
  deleteMessages: 'DELETE FROM inbound WHERE id = ANY ($1::bigint[])',
  userMessagesLeft: 'SELECT count(*)::int AS n FROM inbound WHERE entry_key = $1 AND user_id = $2',
  conversationBusy: `SELECT 1 FROM inbound WHERE conversation_key = $1 AND status IN ('queued', 'leased') LIMIT 1`,
  deleteConversationHistory: 'DELETE FROM history WHERE entry_key = $1 AND conversation_id = $2',
  deleteConversationFeed: 'DELETE FROM feed WHERE entry_key = $1 AND conversation_id = $2',
  deleteStateNamed: 'DELETE FROM channel_state WHERE entry_key = $1 AND name = $2',
  listChannelState: `SELECT entry_key AS "entryKey", name, value, updated_at AS "updatedAt" FROM channel_state
    WHERE left(name, length($1)) = $1 ORDER BY entry_key, name`,
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

  insertFeed: `INSERT INTO feed (entry_key, conversation_id, idempotency_key, reply_to, payload, created_at)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (entry_key, idempotency_key) DO NOTHING RETURNING seq`,
  feedSeqByKey: 'SELECT seq FROM feed WHERE entry_key = $1 AND idempotency_key = $2',
  readFeed: 'SELECT * FROM feed WHERE entry_key = $1 AND conversation_id = $2 AND seq > $3 ORDER BY seq LIMIT $4',
  feedReplies: 'SELECT * FROM feed WHERE entry_key = $1 AND reply_to = $2 ORDER BY seq',

  // Each count's status condition implies a partial index's predicate.
  idRange: 'SELECT min(id) AS first, max(id) AS last FROM inbound',
  stats: `SELECT
      (SELECT count(*) FROM inbound WHERE status = 'queued') AS "inboundQueued",
      (SELECT count(*) FROM inbound WHERE status = 'leased') AS "inboundLeased",
      (SELECT count(*) FROM inbound WHERE status = 'dead') AS "inboundDead",
      (SELECT count(*) FROM outbox WHERE status = 'pending') AS "outboundPending",
      (SELECT count(*) FROM outbox WHERE status = 'leased') AS "outboundLeased",
      (SELECT count(*) FROM outbox WHERE status = 'dead') AS "outboundDead",
      (SELECT count(*) FROM notices WHERE status IN ('waiting', 'sending')) AS "noticesWaiting"`,
  // Each conversation's head is its oldest unfinished message: the smallest head is the oldest of all.
  oldestWaiting: `SELECT
      (SELECT i.created_at FROM inbound_heads h JOIN inbound i ON i.id = h.head_id ORDER BY h.head_id LIMIT 1) AS "inboundAt",
      (SELECT min(created_at) FROM outbox WHERE status IN ('pending', 'leased')) AS "outboundAt"`,
  // width_bucket over the periods' first bounds: one pass over the rows from the first bound's id on.
  countMessages: `SELECT width_bucket(created_at, $1::bigint[]) - 1 AS period, ${PERIOD_COUNTS} FROM inbound
    WHERE id >= (${horizonSql('inbound', 'id', '$2')}) AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2, 3`,
  inboundWaits: `SELECT entry_key, count(*)::int AS n, min(created_at) AS since FROM inbound
    WHERE status IN ('queued', 'leased') GROUP BY entry_key`,
  outboxWaits: `SELECT entry_key, count(*)::int AS n, min(created_at) AS since FROM outbox
    WHERE status IN ('pending', 'leased') GROUP BY entry_key`,
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
  addNotice: `INSERT INTO notices (receiver, event, body, fold_key, available_at, created_at) VALUES ($1, $2, $3, $4, $5, $5)
    ON CONFLICT (fold_key) WHERE status = 'waiting' DO UPDATE SET more = notices.more + 1`,
  // Each receiver's oldest notice nobody is sending now, the oldest due of them (skipping one another
  // process is claiming): when one waits for a retry, those after it for the same receiver wait too.
  claimNotice: `UPDATE notices SET status = 'sending', attempts = attempts + 1, lease_token = $2, lease_until = $1::bigint + $3::bigint
    WHERE id = (SELECT n.id FROM notices n WHERE n.id IN (SELECT min(id) FROM notices
        WHERE status IN ('waiting', 'sending') AND NOT (status = 'sending' AND lease_until > $1) AND receiver <> ALL($4::text[])
        GROUP BY receiver)
      -- Checked again on the row itself: a claim that committed meanwhile has it sending, and it is skipped.
      AND n.status IN ('waiting', 'sending') AND NOT (n.status = 'sending' AND n.lease_until > $1)
      AND (n.status = 'sending' OR n.available_at <= $1) ORDER BY n.id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING *`,
  finishNotice: `UPDATE notices SET status = $3, finished_at = $4, last_error = $5, lease_token = NULL, lease_until = NULL
    WHERE id = $1 AND lease_token = $2 AND status = 'sending'`,
  // A notice going back to wait takes in the one that waits with its fold key (added while it was being sent).
  foldIntoRetried: `DELETE FROM notices w USING notices n
    WHERE n.id = $1 AND n.lease_token = $2 AND n.status = 'sending' AND w.fold_key = n.fold_key AND w.status = 'waiting'
    RETURNING w.more`,
  retryNotice: `UPDATE notices SET status = 'waiting', available_at = $3, last_error = $4, more = more + $5, lease_token = NULL, lease_until = NULL
    WHERE id = $1 AND lease_token = $2 AND status = 'sending'`,
  listNotices: 'SELECT * FROM notices ORDER BY id DESC LIMIT $1',
  noticesDueNow: `UPDATE notices SET available_at = $1 WHERE status = 'waiting' AND available_at > $1`,
  deleteNotices: `DELETE FROM notices WHERE status IN ('sent', 'failed') AND finished_at < $1`,
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

export class PostgresStore implements Store {
  readonly kind = 'postgres';
  readonly shared = true;
  private ended: Promise<void> | undefined;
  /** Notifications not sent yet (signals, and what committed writes announce), and whether a batch is on its way. */
  private readonly notices: string[] = [];
  private sendingNotices = false;
  /** Enqueues made while others are on their way share a statement (see Batcher). */
  private readonly enqueues = new Batcher({ inFlight: ENQUEUES_IN_FLIGHT, maxBatch: 256 }, (b: { item: NewInbound; now: number }[]) => this.enqueueMany(b));

  constructor(
    private readonly pool: pg.Pool,
    private readonly notifications: StoreNotifications,
  ) {}

  private tx<T>(fn: (c: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    return transaction(this.pool, begin, fn);
  }

  enqueue(item: NewInbound, now: number): Promise<Enqueued> {
    return this.enqueues.push({ item, now });
  }

  /** Messages enqueued together: one statement, one commit. */
  private async enqueueMany(batch: { item: NewInbound; now: number }[]): Promise<Enqueued[]> {
    const col = <T>(f: (b: NewInbound) => T) => batch.map((b) => f(b.item));
    const values = [col((i) => i.entryKey), col((i) => i.channelType), col((i) => i.targetKind), col((i) => i.targetId),
      col((i) => i.dedupKey), col((i) => i.conversationKey), col((i) => i.message.userId), col((i) => i.message.conversationId),
      col((i) => JSON.stringify(i.message)), batch.map((b) => b.now)];
    const rows = (await run<{ msg_id: number; is_duplicate: boolean; accepted: number }>(this.pool, 'enqueue', values)).rows;
    return rows.map((r) => ({ id: String(r.msg_id), duplicate: r.is_duplicate, acceptedAt: r.accepted }));
  }

  async claimInbound(o: ClaimOptions): Promise<InboundItem[]> {
    if (o.limit < 1) return [];
    const rows = (await run<InboundRow>(this.pool, 'claim', [o.now, o.limit, o.now + o.leaseMs, o.owner])).rows;
    // Oldest first, as the heads were taken (an UPDATE returns its rows in no set order).
    return rows.sort((a, b) => a.id - b.id).map(toInbound);
  }

  async renewInbound(id: string, leaseToken: string, leaseUntil: number): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return (await run(this.pool, 'renew', [n, leaseToken, leaseUntil])).rowCount === 1;
  }

  async completeInbound(id: string, leaseToken: string, res: InboundResult): Promise<false | OutboundItem[]> {
    const n = parseId(id);
    if (n === undefined) return false;
    const { key: k, turns } = res.history;
    if (turns.length > TURNS_PER_MESSAGE) throw new Error(`at most ${TURNS_PER_MESSAGE} history turns per message`);
    const detail = res.detail ?? `${res.replies.length} reply chunk(s)`;
    // What the chunks become when nothing of the conversation waits before them (see InboundResult).
    const feed = res.feed?.length === res.replies.length ? res.feed : undefined;
    const want = feed ? 'feed' : res.claim ? 'claim' : null;
    const first = res.replies[0];
    const tokens = res.replies.map(() => randomUUID());
    const until = res.claim ? res.now + res.claim.leaseMs : null;
    const col = <T>(f: (r: NewOutbound) => T) => res.replies.map(f);
    const values = [
      n, leaseToken, res.status, res.now, detail, want,
      col((r) => r.entryKey), col((r) => r.channelType), col((r) => r.conversationId), col((r) => r.userId),
      col((r) => r.idempotencyKey), col((r) => r.text), col((r) => r.format), col((r) => r.chunkIndex), col((r) => r.chunkCount),
      col((r) => r.replyTo), col((r) => r.inReplyTo), col((r) => r.isGroup),
      col((r) => (r.replyMeta === undefined ? null : JSON.stringify(r.replyMeta))), col((r) => r.availableAt), col((r) => r.expiresAt),
      col((r) => (r.image === undefined ? null : JSON.stringify(r.image))),
      first ? JSON.stringify(['feed', first.entryKey, first.conversationId]) : null,
      feed ? feed.map((p) => JSON.stringify(p ?? null)) : null,
      tokens, until, res.claim?.owner ?? null,
      k.agentId, k.entryKey, k.conversationId, turns.map((_, i) => n * TURNS_PER_MESSAGE + i),
      turns.map((t) => t.role), turns.map((t) => t.content), turns.map((t) => t.at),
    ];
    const complete = async (c: Db) => (await run<{ result: string | null }>(c, 'complete', values)).rows[0]?.result ?? null;
    // Messages answered together with this one, and a channel state value: one transaction with the completion, or nothing.
    const absorbed = res.absorbed?.ids.map((x) => parseId(x) ?? 0) ?? [];
    const state = res.channelState;
    const text = absorbed.length === 0 && !state ? await complete(this.pool) : await this.tx(async (c) => {
      const result = await complete(c);
      if (result === null) return null;
      if (absorbed.length > 0) {
        const rows = (await run<{ conversation_key: string }>(c, 'absorbInbound', [res.status, res.now, res.absorbed!.detail, absorbed, n])).rows;
        if (rows.length !== absorbed.length) throw new Error(`messages ${res.absorbed!.ids.join(', ')} are not all queued messages of the conversation of #${n}`);
        await run(c, 'refreshHead', [rows[0]!.conversation_key]);
      }
      if (state) await run(c, 'setChannelState', [state.entryKey, state.name, state.value, res.now]);
      return result;
    });
    // NULL: the lease is not ours any more, and nothing at all was written.
    if (text === null) return false;
    const done = JSON.parse(text) as { mode: 'feed' | 'claim' | 'outbox'; ids: (number | null)[]; seqs: number[] };
    if (first && done.mode === 'feed') this.notifyAfterCommit(this.notifications.feedPayload(first.entryKey, first.conversationId, first.replyTo));
    if (done.mode === 'outbox') {
      // Left for an outbox loop: perhaps another process's, the one that runs this entry.
      if (first && done.ids.some((x) => x !== null)) this.notifyAfterCommit(this.notifications.outboxPayload(first.entryKey));
      return [];
    }
    const stored: OutboundItem[] = [];
    res.replies.forEach((r, i) => {
      const chunkId = done.ids[i];
      if (chunkId === null || chunkId === undefined) return; // its key was stored before, or by an earlier chunk
      const state: Exclude<OutboxState, undefined> = done.mode === 'feed'
        ? { sent: { platformMessageId: String(done.seqs[i]) } }
        : { lease: { token: tokens[i]!, until: until!, owner: res.claim!.owner } };
      stored.push(storedChunk(r, String(chunkId), res.now, state));
    });
    return stored;
  }

  /** A guarded mailbox update (returning the conversation key); on success refreshes the head and records the event. */
  private async guarded(name: Name, values: [number, ...unknown[]], ev: { at: number; stage: string; detail?: string }): Promise<boolean> {
    return this.tx(async (c) => {
      const key = (await run<{ conversation_key: string }>(c, name, values)).rows[0]?.conversation_key;
      if (key === undefined) return false;
      await run(c, 'refreshHead', [key]);
      await run(c, 'event', [values[0], ev.at, ev.stage, ev.detail ?? null]);
      return true;
    });
  }

  async retryInbound(id: string, leaseToken: string, opts: { now: number; availableAt: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.guarded('retryInbound', [n, leaseToken, opts.availableAt, opts.error], { at: opts.now, stage: 'retry', detail: opts.error });
  }

  async deferInbound(id: string, leaseToken: string, opts: { now: number; availableAt: number; why: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.guarded('deferInbound', [n, leaseToken, opts.availableAt], { at: opts.now, stage: 'waiting', detail: opts.why });
  }

  async queuedAfter(conversationKey: string, afterId: string, limit: number): Promise<QueuedMessage[]> {
    const n = parseId(afterId);
    if (n === undefined || limit < 1) return [];
    return (await run<{ id: number; created_at: number; message: string }>(this.pool, 'queuedAfter', [conversationKey, n, Math.trunc(limit)])).rows.map(toQueued);
  }

  async deadLetterInbound(id: string, leaseToken: string, opts: { now: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.guarded('deadInbound', [n, leaseToken, opts.now, opts.error], { at: opts.now, stage: 'dead', detail: opts.error });
  }

  async addReplies(replies: NewOutbound[], now: number, history?: { key: HistoryKey; turns: HistoryTurn[] }): Promise<number> {
    const first = replies[0];
    if (!first) return 0;
    const messageId = parseId(first.replyTo);
    const added = await this.tx(async (c) => {
      let n = 0;
      for (const r of replies) {
        const values = outboxParams(r, now);
        values[11] = r.isGroup; // a boolean column here
        n += (await run(c, 'insertOutbox', values)).rowCount ?? 0;
      }
      if (n > 0 && history && history.turns.length > 0 && messageId !== undefined) {
        const { key: k, turns } = history;
        const range = laterTurnRange(messageId);
        // Two replies to one message at once would read the same highest turn: they take turns.
        await run(c, 'lockLaterTurns', [`history ${k.agentId}/${k.entryKey}/${messageId}`]);
        const columns = [turns.map((t) => t.role), turns.map((t) => t.content), turns.map((t) => t.at)];
        await run(c, 'insertLaterTurns', [k.agentId, k.entryKey, k.conversationId, range.from, range.to, ...columns]);
      }
      return n;
    });
    // The entry may run in another process: its outbox loop learns of them at once.
    if (added > 0) this.notifyAfterCommit(this.notifications.outboxPayload(first.entryKey));
    return added;
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

  async clearHistory(key: HistoryKey, beforeMessageId: string): Promise<number> {
    const n = parseId(beforeMessageId);
    if (n === undefined) return 0;
    return (await run(this.pool, 'clearHistory', [key.agentId, key.entryKey, key.conversationId, n * TURNS_PER_MESSAGE])).rowCount ?? 0;
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
    const q = messagesQuery(filter, (i) => `$${i}`, (p) => `(message->>'content') ILIKE ${p} ESCAPE '\\'`);
    return q ? (await this.pool.query<InboundRow>(q.sql, q.args)).rows.map(toSummary) : [];
  }

  async messageIdRange(): Promise<{ first: string; last: string } | undefined> {
    const row = (await run<{ first: number | null; last: number | null }>(this.pool, 'idRange', [])).rows[0];
    return row?.first == null ? undefined : { first: String(row.first), last: String(row.last) };
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
    const payload = JSON.stringify(item.payload ?? null);
    const appended = await this.tx(async (c) => {
      // Seqs within a conversation are drawn in commit order, so a reader's cursor never passes an
      // item another process is still writing.
      await run(c, 'lock', [JSON.stringify(['feed', item.entryKey, item.conversationId])]);
      const r = await run<{ seq: number }>(c, 'insertFeed', [item.entryKey, item.conversationId, item.idempotencyKey, item.replyTo, payload, now]);
      if (r.rows[0]) return { seq: r.rows[0].seq, duplicate: false };
      const first = (await run<{ seq: number }>(c, 'feedSeqByKey', [item.entryKey, item.idempotencyKey])).rows[0];
      if (!first) throw new Error('feed item vanished between insert and lookup');
      return { seq: first.seq, duplicate: true };
    });
    if (!appended.duplicate) this.notifyAfterCommit(this.notifications.feedPayload(item.entryKey, item.conversationId, item.replyTo));
    return appended;
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

  async deleteChannelState(entryKey: string, name: string, value: string): Promise<boolean> {
    return (await run(this.pool, 'deleteChannelState', [entryKey, name, value])).rowCount === 1;
  }

  async forgetUser(entryKey: string, userId: string, conversationState: (conversationId: string) => string[]): Promise<ForgottenUser> {
    return this.tx(async (c) => {
      const rows = (await run<{ id: number; conversation_id: string; message: string }>(c, 'forgettable', [entryKey, userId])).rows;
      const ids = rows.map((r) => r.id);
      const done = { messages: 0, replies: 0, turns: 0, feedItems: 0, kept: 0 };
      if (ids.length > 0) {
        // The timelines go with their messages (ON DELETE CASCADE).
        done.replies = (await run(c, 'deleteMessageReplies', [ids.map(String)])).rowCount ?? 0;
        done.messages = (await run(c, 'deleteMessages', [ids])).rowCount ?? 0;
      }
      const direct = new Set(rows.filter((r) => (JSON.parse(r.message) as ChatMessage).isGroup !== true).map((r) => r.conversation_id));
      for (const conversationId of direct) {
        if ((await run(c, 'conversationBusy', [`${entryKey}/${conversationId}`])).rowCount !== 0) continue;
        done.turns += (await run(c, 'deleteConversationHistory', [entryKey, conversationId])).rowCount ?? 0;
        done.feedItems += (await run(c, 'deleteConversationFeed', [entryKey, conversationId])).rowCount ?? 0;
        for (const name of conversationState(conversationId)) await run(c, 'deleteStateNamed', [entryKey, name]);
      }
      done.kept = (await run<{ n: number }>(c, 'userMessagesLeft', [entryKey, userId])).rows[0]?.n ?? 0;
      return done;
    });
  }

  async listChannelState(namePrefix: string): Promise<ChannelStateRow[]> {
    return (await run<ChannelStateRow>(this.pool, 'listChannelState', [namePrefix])).rows.map((r) => ({ ...r, updatedAt: Number(r.updatedAt) }));
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
    this.notifyAfterCommit(payload);
    return true;
  }

  /**
   * Tells the other processes, after the write it announces has committed (a write that notified in
   * its own transaction would hold the database's notification lock through its commit, and such
   * commits go one at a time). Notifications go out one batch at a time, each batch one statement:
   * in the order they were given, which separate pool connections would not keep. Best effort: a
   * failed batch is dropped, and readers and senders also poll.
   */
  private notifyAfterCommit(payload: string): void {
    this.notices.push(payload);
    if (!this.sendingNotices) void this.sendNotices();
  }

  private async sendNotices(): Promise<void> {
    this.sendingNotices = true;
    try {
      while (this.notices.length > 0) {
        const batch = this.notices.splice(0);
        await run(this.pool, 'notifyMany', [batch]).catch(() => undefined);
      }
    } finally {
      this.sendingNotices = false;
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

  async countMessages(bounds: readonly number[]): Promise<PeriodCount[]> {
    checkPeriodBounds(bounds);
    const rows = (await run<PeriodCountRow>(this.pool, 'countMessages', [bounds.slice(0, -1), bounds[0], bounds.at(-1)])).rows;
    return rows.map(toPeriodCount);
  }

  async oldestWaiting(): Promise<OldestWaiting> {
    const row = (await run<OldestWaiting>(this.pool, 'oldestWaiting', [])).rows[0];
    return { inboundAt: row?.inboundAt ?? null, outboundAt: row?.outboundAt ?? null };
  }

  async entryBacklog(): Promise<Map<string, EntryBacklog>> {
    const rows = (await run<EntryBacklog & { entry_key: string }>(this.pool, 'backlog', [])).rows;
    return new Map(rows.map((r) => [r.entry_key, { mailbox: r.mailbox, dead: r.dead }]));
  }

  async entryWaits(): Promise<Map<string, EntryWaits>> {
    type Row = { entry_key: string; n: number; since: number };
    const [inbound, outbox] = await Promise.all([run<Row>(this.pool, 'inboundWaits', []), run<Row>(this.pool, 'outboxWaits', [])]);
    return waitsByEntry(inbound.rows, outbox.rows);
  }

  async addNotice(notice: NewNotice, now: number): Promise<void> {
    await run(this.pool, 'addNotice', [notice.receiver ?? '', notice.event, notice.body, notice.foldKey ?? null, now]);
  }

  async claimNotice(opts: { now: number; leaseMs: number; skip?: readonly string[] }): Promise<NoticeItem | undefined> {
    const row = (await run<NoticeRow>(this.pool, 'claimNotice', [opts.now, randomUUID(), opts.leaseMs, opts.skip ?? []])).rows[0];
    return row && toNoticeItem(row);
  }

  async finishNotice(id: string, leaseToken: string, opts: { now: number; outcome: 'sent' | 'failed'; error?: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return (await run(this.pool, 'finishNotice', [n, leaseToken, opts.outcome, opts.now, opts.error ?? null])).rowCount === 1;
  }

  async retryNotice(id: string, leaseToken: string, opts: { availableAt: number; error: string }): Promise<boolean> {
    const n = parseId(id);
    if (n === undefined) return false;
    return this.tx(async (c) => {
      const folded = (await run<{ more: number }>(c, 'foldIntoRetried', [n, leaseToken])).rows[0];
      const more = folded ? Number(folded.more) + 1 : 0;
      return (await run(c, 'retryNotice', [n, leaseToken, opts.availableAt, opts.error, more])).rowCount === 1;
    });
  }

  async retryNoticesNow(now: number): Promise<number> {
    return (await run(this.pool, 'noticesDueNow', [now])).rowCount ?? 0;
  }

  async listNotices(opts: { limit?: number } = {}): Promise<NoticeSummary[]> {
    return (await run<NoticeRow>(this.pool, 'listNotices', [clampLimit(opts.limit, 50, 500)])).rows.map(toNoticeSummary);
  }

  async prune(now: number, opts: { dedupRetentionMs: number; feedRetentionMs: number; historyTurns?: number }): Promise<number> {
    return this.tx(async (c) => {
      if (opts.historyTurns !== undefined) await run(c, 'trimHistory', [Math.max(1, Math.trunc(opts.historyTurns))]);
      const horizon = (r: pg.QueryResult<{ horizon: number }>) => r.rows[0]?.horizon ?? 0;
      const inbound = horizon(await run<{ horizon: number }>(c, 'inboundHorizon', [now - opts.dedupRetentionMs]));
      let deleted = (await run(c, 'deleteSentOutbox', [inbound])).rowCount ?? 0;
      deleted += (await run(c, 'deleteInbound', [inbound])).rowCount ?? 0;
      deleted += (await run(c, 'deleteIdleBuckets', [now - RATE_BUCKET_IDLE_MS])).rowCount ?? 0;
      deleted += (await run(c, 'deleteNotices', [now - opts.dedupRetentionMs])).rowCount ?? 0;
      const feed = horizon(await run<{ horizon: number }>(c, 'feedHorizon', [now - opts.feedRetentionMs]));
      return deleted + ((await run(c, 'deleteFeed', [feed])).rowCount ?? 0);
    });
  }

  async close(): Promise<void> {
    this.ended ??= Promise.all([this.notifications.close(), this.pool.end()]).then(() => undefined);
    await this.ended;
  }
}
