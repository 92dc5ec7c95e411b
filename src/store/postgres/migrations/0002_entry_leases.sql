-- Entries whose platform allows one connection per bot (WeCom's AI bot) run in one gateway process
-- at a time: the process holding the entry's lease. See Store.leaseEntry.
CREATE TABLE entry_leases (
  entry_key   TEXT   PRIMARY KEY,
  owner       TEXT   NOT NULL,
  lease_until BIGINT NOT NULL
);
