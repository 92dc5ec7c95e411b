-- Pruning finds its range by id (the first row created at or after the cutoff) instead of by
-- indexes of created_at: every answered message wrote an entry into each of these two.
DROP INDEX IF EXISTS inbound_prunable;
DROP INDEX IF EXISTS feed_created;
