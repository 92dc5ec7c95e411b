-- Small values a channel keeps across restarts and processes, per entry (the iLink long-poll
-- cursor). See Store.getChannelState.
CREATE TABLE channel_state (
  entry_key  TEXT    NOT NULL,
  name       TEXT    NOT NULL,
  value      TEXT    NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (entry_key, name)
) STRICT, WITHOUT ROWID;
