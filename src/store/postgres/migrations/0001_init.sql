-- CocoCat store on PostgreSQL, initial schema: the SQLite store's tables and columns (see
-- ../../sqlite/migrations). Times are epoch milliseconds (BIGINT) supplied by the caller, never now().
-- Identity ids are never reused after a prune (paging with `before`, feed cursors, outbox rows
-- pointing at inbound ids). JSON columns are `json`, not `jsonb`: the text comes back exactly as
-- stored, and a NUL escape (which jsonb rejects) cannot make an enqueue fail.

-- ── Mailbox ───────────────────────────────────────────────────────────────────────────────
CREATE TABLE inbound (
  id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  entry_key        TEXT    NOT NULL,
  channel_type     TEXT    NOT NULL,
  target_kind      TEXT    NOT NULL CHECK (target_kind IN ('agent', 'scene')),
  target_id        TEXT    NOT NULL,
  dedup_key        TEXT    NOT NULL,
  conversation_key TEXT    NOT NULL,
  user_id          TEXT    NOT NULL,
  conversation_id  TEXT    NOT NULL,
  message          JSON    NOT NULL,
  status           TEXT    NOT NULL CHECK (status IN ('queued', 'leased', 'done', 'fallback', 'dead')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  available_at     BIGINT  NOT NULL,
  lease_token      TEXT,
  lease_until      BIGINT,
  lease_owner      TEXT,
  last_error       TEXT,
  created_at       BIGINT  NOT NULL,
  finished_at      BIGINT,
  first_claimed_at BIGINT,
  finish_detail    TEXT,
  UNIQUE (entry_key, dedup_key)
);

CREATE INDEX inbound_unfinished ON inbound (conversation_key, id) WHERE status IN ('queued', 'leased');
CREATE INDEX inbound_dead ON inbound (finished_at) WHERE status = 'dead';
CREATE INDEX inbound_entry ON inbound (entry_key, id);
CREATE INDEX inbound_user ON inbound (user_id, id);

CREATE TABLE inbound_events (
  id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id BIGINT NOT NULL REFERENCES inbound (id) ON DELETE CASCADE,
  at         BIGINT NOT NULL,
  stage      TEXT   NOT NULL,
  detail     TEXT
);

CREATE INDEX inbound_events_message ON inbound_events (message_id, at, id);

-- ── Outbox ────────────────────────────────────────────────────────────────────────────────
CREATE TABLE outbox (
  id                  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
  is_group            BOOLEAN NOT NULL,
  reply_meta          JSON,
  status              TEXT    NOT NULL CHECK (status IN ('pending', 'leased', 'sent', 'dead')),
  attempts            INTEGER NOT NULL DEFAULT 0,
  available_at        BIGINT  NOT NULL,
  expires_at          BIGINT  NOT NULL,
  -- expires_at - created_at at insert; kept so that repeated revives do not stretch it.
  max_age_ms          BIGINT  NOT NULL,
  lease_token         TEXT,
  lease_until         BIGINT,
  lease_owner         TEXT,
  last_error          TEXT,
  created_at          BIGINT  NOT NULL,
  sent_at             BIGINT,
  platform_message_id TEXT,
  dead_at             BIGINT
);

CREATE INDEX outbox_unfinished ON outbox (entry_key, conversation_id, id) WHERE status IN ('pending', 'leased');
CREATE INDEX outbox_dead ON outbox (dead_at) WHERE status = 'dead';
CREATE INDEX outbox_reply_to ON outbox (reply_to, id);

-- ── History ───────────────────────────────────────────────────────────────────────────────
-- `turn` orders the turns: (inbound message id * 1024 + position).
CREATE TABLE history (
  agent_id        TEXT   NOT NULL,
  entry_key       TEXT   NOT NULL,
  conversation_id TEXT   NOT NULL,
  turn            BIGINT NOT NULL,
  role            TEXT   NOT NULL CHECK (role IN ('user', 'assistant')),
  content         TEXT   NOT NULL,
  at              BIGINT NOT NULL,
  PRIMARY KEY (agent_id, entry_key, conversation_id, turn)
);

-- ── Channel feeds ─────────────────────────────────────────────────────────────────────────
CREATE TABLE feed (
  seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  entry_key       TEXT   NOT NULL,
  conversation_id TEXT   NOT NULL,
  idempotency_key TEXT   NOT NULL,
  reply_to        TEXT   NOT NULL,
  payload         JSON   NOT NULL,
  created_at      BIGINT NOT NULL,
  UNIQUE (entry_key, idempotency_key)
);

CREATE INDEX feed_conversation ON feed (entry_key, conversation_id, seq);
CREATE INDEX feed_reply_to ON feed (entry_key, reply_to, seq);

-- One row per conversation with unfinished mail: its head (oldest queued/leased id) and when that
-- head can be claimed, kept in step by every mailbox write (see the SQLite schema). ready_at is
-- left out of the index so its updates (every claim and renew) stay HOT, and the fill factor
-- leaves room on the page for them.
CREATE TABLE inbound_heads (
  conversation_key TEXT   PRIMARY KEY,
  head_id          BIGINT NOT NULL,
  ready_at         BIGINT NOT NULL
) WITH (fillfactor = 70);

CREATE INDEX inbound_heads_order ON inbound_heads (head_id);
