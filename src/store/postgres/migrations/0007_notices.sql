-- Notices to the team (ops/notifier.ts), kept until sent or given up on, so a restart or a team
-- chat that is down for a while loses none. See Store.addNotice.
CREATE TABLE notices (
  id           BIGSERIAL PRIMARY KEY,
  -- Who hears it: '' the gateway's notify, 'agent:<id>' an agent's own.
  receiver     TEXT    NOT NULL DEFAULT '',
  event        TEXT    NOT NULL,
  body         TEXT    NOT NULL,
  fold_key     TEXT,
  more         INTEGER NOT NULL DEFAULT 0,
  status       TEXT    NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'sending', 'sent', 'failed')),
  attempts     INTEGER NOT NULL DEFAULT 0,
  available_at BIGINT  NOT NULL,
  lease_token  TEXT,
  lease_until  BIGINT,
  created_at   BIGINT  NOT NULL,
  finished_at  BIGINT,
  last_error   TEXT
);

CREATE INDEX notices_unfinished ON notices (receiver, id) WHERE status IN ('waiting', 'sending');
-- One waiting notice per fold key: the next one folds into it (ON CONFLICT).
CREATE UNIQUE INDEX notices_fold ON notices (fold_key) WHERE status = 'waiting';
CREATE INDEX notices_finished ON notices (finished_at) WHERE status IN ('sent', 'failed');
