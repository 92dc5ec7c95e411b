-- Token buckets for limits that hold across gateway processes (the Web API's requests per minute).
-- See Store.takeRateTokens. `taken` is what the last take got, read back by its RETURNING.
CREATE TABLE rate_buckets (
  bucket_key TEXT    PRIMARY KEY,
  tokens     REAL    NOT NULL,
  taken      INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
