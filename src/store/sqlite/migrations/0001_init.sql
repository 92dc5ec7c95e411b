-- CocoCat store, initial schema. Times are epoch milliseconds supplied by the caller.
-- AUTOINCREMENT on the ids callers see (inbound, outbox, feed seq): they must never be reused
-- after a prune (paging with `before`, feed cursors, outbox rows pointing at inbound ids).
-- Timeline and history rows only need insertion order, which a plain rowid (max + 1) keeps.

-- ── Mailbox ───────────────────────────────────────────────────────────────────────────────
CREATE TABLE inbound (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  entry_key        TEXT    NOT NULL,
  channel_type     TEXT    NOT NULL,
  target_kind      TEXT    NOT NULL CHECK (target_kind IN ('agent', 'scene')),
  target_id        TEXT    NOT NULL,
  dedup_key        TEXT    NOT NULL,
  conversation_key TEXT    NOT NULL,
  -- Copied out of the message JSON for filtering and the dead-letter view.
  user_id          TEXT    NOT NULL,
  conversation_id  TEXT    NOT NULL,
  message          TEXT    NOT NULL, -- ChatMessage as JSON
  status           TEXT    NOT NULL CHECK (status IN ('queued', 'leased', 'done', 'fallback', 'dead')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  available_at     INTEGER NOT NULL,
  lease_token      TEXT,
  lease_until      INTEGER,
  lease_owner      TEXT,
  last_error       TEXT,
  created_at       INTEGER NOT NULL,
  finished_at      INTEGER, -- done/fallback/dead time (deadAt for dead letters)
  -- The timeline's usual stages are read from these instead of stored as events (fewer writes
  -- per message): the first claim, and the reply ("replied"/"fallback" at finished_at).
  first_claimed_at INTEGER,
  finish_detail    TEXT,
  UNIQUE (entry_key, dedup_key)
) STRICT;

-- The head of a conversation is MIN(id) over its unfinished rows. This partial index holds only
-- queued/leased rows (they leave it as they finish), so finding a conversation's next head never
-- walks finished rows. Claims read the per-conversation head table (inbound_heads, below).
CREATE INDEX inbound_unfinished ON inbound (conversation_key, id) WHERE status IN ('queued', 'leased');
CREATE INDEX inbound_dead ON inbound (finished_at) WHERE status = 'dead';
CREATE INDEX inbound_prunable ON inbound (created_at) WHERE status IN ('done', 'fallback');
CREATE INDEX inbound_entry ON inbound (entry_key, id);
CREATE INDEX inbound_user ON inbound (user_id, id);

CREATE TABLE inbound_events (
  id         INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL REFERENCES inbound (id) ON DELETE CASCADE,
  at         INTEGER NOT NULL,
  stage      TEXT    NOT NULL,
  detail     TEXT
) STRICT;

CREATE INDEX inbound_events_message ON inbound_events (message_id, at, id);

-- ── Outbox ────────────────────────────────────────────────────────────────────────────────
CREATE TABLE outbox (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  entry_key           TEXT    NOT NULL,
  channel_type        TEXT    NOT NULL,
  conversation_id     TEXT    NOT NULL,
  user_id             TEXT    NOT NULL,
  idempotency_key     TEXT    NOT NULL UNIQUE,
  text                TEXT    NOT NULL,
  format              TEXT    NOT NULL CHECK (format IN ('text', 'markdown')),
  chunk_index         INTEGER NOT NULL,
  chunk_count         INTEGER NOT NULL,
  -- Our inbound id as given (no foreign key: the interface does not promise it exists).
  reply_to            TEXT    NOT NULL,
  in_reply_to         TEXT    NOT NULL,
  is_group            INTEGER NOT NULL,
  reply_meta          TEXT, -- JSON
  status              TEXT    NOT NULL CHECK (status IN ('pending', 'leased', 'sent', 'dead')),
  attempts            INTEGER NOT NULL DEFAULT 0,
  available_at        INTEGER NOT NULL,
  expires_at          INTEGER NOT NULL,
  -- expires_at - created_at at insert; kept so that repeated revives do not stretch it.
  max_age_ms          INTEGER NOT NULL,
  lease_token         TEXT,
  lease_until         INTEGER,
  lease_owner         TEXT,
  last_error          TEXT,
  created_at          INTEGER NOT NULL,
  sent_at             INTEGER,
  platform_message_id TEXT,
  dead_at             INTEGER
) STRICT;

-- Same head-of-conversation scheme as the mailbox; conversation = (entry_key, conversation_id).
CREATE INDEX outbox_unfinished ON outbox (entry_key, conversation_id, id) WHERE status IN ('pending', 'leased');
CREATE INDEX outbox_dead ON outbox (dead_at) WHERE status = 'dead';
CREATE INDEX outbox_reply_to ON outbox (reply_to, id);

-- ── History ───────────────────────────────────────────────────────────────────────────────
-- Clustered by conversation (WITHOUT ROWID): the last N turns of one conversation sit on one or
-- two pages instead of N pages scattered among everyone else's turns. `turn` orders the turns:
-- (inbound message id * 1024 + position), and a conversation's messages complete in id order.
CREATE TABLE history (
  agent_id        TEXT    NOT NULL,
  entry_key       TEXT    NOT NULL,
  conversation_id TEXT    NOT NULL,
  turn            INTEGER NOT NULL,
  role            TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
  content         TEXT    NOT NULL,
  at              INTEGER NOT NULL,
  PRIMARY KEY (agent_id, entry_key, conversation_id, turn)
) STRICT, WITHOUT ROWID;

-- ── Channel feeds ─────────────────────────────────────────────────────────────────────────
CREATE TABLE feed (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  entry_key       TEXT    NOT NULL,
  conversation_id TEXT    NOT NULL,
  idempotency_key TEXT    NOT NULL,
  reply_to        TEXT    NOT NULL,
  payload         TEXT    NOT NULL, -- JSON
  created_at      INTEGER NOT NULL,
  UNIQUE (entry_key, idempotency_key)
) STRICT;

CREATE INDEX feed_conversation ON feed (entry_key, conversation_id, seq);
CREATE INDEX feed_reply_to ON feed (entry_key, reply_to, seq);
CREATE INDEX feed_created ON feed (created_at);

-- Claiming without scanning: one row per conversation that has unfinished (queued/leased) mail,
-- naming its head (the oldest unfinished id) and when that head can be claimed (availableAt when
-- queued, leaseUntil when leased). The store keeps it in step in the same transaction as every
-- mailbox change. A claim walks this table in head_id order and stops after `limit` due heads, so
-- it costs O(limit + heads not yet due), not O(unfinished rows) as MIN(id) GROUP BY did; the
-- worker loop claims after every completed item, so this is the hot path.
CREATE TABLE inbound_heads (
  conversation_key TEXT    PRIMARY KEY,
  head_id          INTEGER NOT NULL,
  ready_at         INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX inbound_heads_order ON inbound_heads (head_id, ready_at);
