-- The mailbox's hot writes as server-side functions: each store call is one statement (one round
-- trip, its own transaction) instead of a transaction of five to ten round trips during which the
-- rows and the conversation lock stay held while the gateway's event loop gets to the next one.
-- The logic is the statements the store used to send one by one (see postgres-store.ts); each
-- statement inside a function sees what the ones before it committed, as separate statements did.
-- search_path is pinned to this schema when the function is created, so a connection with another
-- search_path still reaches these tables.

-- Takes the conversation lock and recomputes its head row: the oldest queued or leased message and
-- when it can be claimed, or no row when the conversation has no unfinished mail.
CREATE FUNCTION cococat_refresh_head(p_key text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_key, 0));
  WITH head AS (
      SELECT id, CASE status WHEN 'queued' THEN available_at ELSE lease_until END AS ready_at FROM inbound
      WHERE conversation_key = p_key AND status IN ('queued', 'leased') ORDER BY id LIMIT 1),
    put AS (
      INSERT INTO inbound_heads (conversation_key, head_id, ready_at) SELECT p_key, id, ready_at FROM head
      ON CONFLICT (conversation_key) DO UPDATE SET head_id = excluded.head_id, ready_at = excluded.ready_at)
  DELETE FROM inbound_heads WHERE conversation_key = p_key AND NOT EXISTS (SELECT 1 FROM head);
END $$;

-- Store.enqueue, for a batch of messages (parallel arrays, in order; one row back for each, in the
-- same order). The conversation locks are taken before any id is drawn: another process enqueuing
-- into the same conversation could otherwise commit a later id first, and a claim lease it ahead of
-- the earlier message. They are taken in one global order, so two batches never wait for each other
-- in a cycle. A new message is the head only of a conversation that had none.
CREATE FUNCTION cococat_enqueue(p_entry_key text[], p_channel_type text[], p_target_kind text[], p_target_id text[],
  p_dedup_key text[], p_conversation_key text[], p_user_id text[], p_conversation_id text[], p_message json[], p_now bigint[])
RETURNS TABLE (msg_id bigint, is_duplicate boolean, accepted bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  lock_key bigint;
BEGIN
  FOR lock_key IN SELECT DISTINCT hashtextextended(k, 0) FROM unnest(p_conversation_key) AS k ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(lock_key);
  END LOOP;
  FOR i IN 1..coalesce(cardinality(p_dedup_key), 0) LOOP
    INSERT INTO inbound (entry_key, channel_type, target_kind, target_id, dedup_key, conversation_key, user_id,
        conversation_id, message, status, available_at, created_at)
      VALUES (p_entry_key[i], p_channel_type[i], p_target_kind[i], p_target_id[i], p_dedup_key[i], p_conversation_key[i],
        p_user_id[i], p_conversation_id[i], p_message[i], 'queued', p_now[i], p_now[i])
      ON CONFLICT (entry_key, dedup_key) DO NOTHING
      RETURNING id INTO msg_id;
    IF FOUND THEN
      INSERT INTO inbound_heads (conversation_key, head_id, ready_at) VALUES (p_conversation_key[i], msg_id, p_now[i])
        ON CONFLICT (conversation_key) DO NOTHING;
      is_duplicate := false;
      accepted := p_now[i];
    ELSE
      -- Already stored, perhaps earlier in this batch; a concurrent first insert was waited for by
      -- ON CONFLICT, and this statement sees it.
      SELECT id, created_at INTO msg_id, accepted FROM inbound WHERE entry_key = p_entry_key[i] AND dedup_key = p_dedup_key[i];
      IF NOT FOUND THEN
        RAISE EXCEPTION 'inbound message vanished between insert and lookup';
      END IF;
      is_duplicate := true;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;

-- Store.claimInbound: leases up to p_limit due conversation heads, oldest first. Heads and rows
-- another transaction holds are skipped, never waited for. Returns the leased rows as they are now.
CREATE FUNCTION cococat_claim(p_now bigint, p_limit int, p_until bigint, p_owner text)
RETURNS SETOF inbound
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  h record;
  r inbound;
  due bigint[] := '{}';
  due_keys text[] := '{}';
BEGIN
  FOR h IN SELECT conversation_key, head_id FROM inbound_heads WHERE ready_at <= p_now ORDER BY head_id LIMIT p_limit
      FOR UPDATE SKIP LOCKED LOOP
    -- Read under a row lock and checked again: the head table only says where to look. NO KEY
    -- UPDATE: not blocked by an event insert's foreign-key lock on the row.
    SELECT * INTO r FROM inbound WHERE id = h.head_id FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      -- Locked by a write in progress (skip it), or vanished (drop its head).
      IF NOT EXISTS (SELECT 1 FROM inbound WHERE id = h.head_id) THEN
        DELETE FROM inbound_heads WHERE head_id = h.head_id;
      END IF;
    ELSIF (r.status = 'queued' AND r.available_at <= p_now) OR (r.status = 'leased' AND r.lease_until <= p_now) THEN
      due := due || r.id;
      due_keys := due_keys || r.conversation_key;
    ELSIF pg_try_advisory_xact_lock(hashtextextended(r.conversation_key, 0)) THEN
      -- A head out of step with its mailbox would be a bug; mend it rather than lease a finished
      -- message, when the conversation lock is free (a claim never waits; a later one mends it).
      PERFORM cococat_refresh_head(r.conversation_key);
    END IF;
  END LOOP;
  IF cardinality(due) = 0 THEN
    RETURN;
  END IF;
  -- The first claim is read from first_claimed_at; claims after a lost lease or a revive are events.
  INSERT INTO inbound_events (message_id, at, stage, detail)
    SELECT id, p_now, 'claimed', 'attempt ' || (attempts + 1) || ' by ' || p_owner FROM inbound
    WHERE id = ANY (due) AND first_claimed_at IS NOT NULL ORDER BY id;
  -- The claimed message stays its conversation's head; only its ready time moves.
  UPDATE inbound_heads SET ready_at = p_until WHERE conversation_key = ANY (due_keys);
  RETURN QUERY UPDATE inbound SET status = 'leased', attempts = attempts + 1, lease_token = gen_random_uuid()::text,
      lease_until = p_until, lease_owner = p_owner, first_claimed_at = coalesce(first_claimed_at, p_now)
    WHERE id = ANY (due) RETURNING *;
END $$;

-- Store.completeInbound: finishes a leased message (nothing at all when the lease is not ours any
-- more), refreshes its conversation's head, stores the reply chunks and the history turns. The
-- chunks come as parallel arrays, in order. p_want asks for them to be appended to the entry's feed
-- and stored as sent ('feed'), or leased to the caller ('claim'), which happens only when nothing of
-- the conversation waits in the outbox before them; otherwise they wait as pending. Nothing here
-- notifies: a transaction that notifies holds the database's notification lock through its commit,
-- so notifying completions would commit one at a time; the store notifies after the commit.
-- Returns NULL for a lease that is not ours, otherwise
-- {"mode": "feed" | "claim" | "outbox", "ids": [id or null per chunk], "seqs": [feed seq per chunk]}
-- (null id: a chunk whose idempotency key was already stored).
CREATE FUNCTION cococat_complete(p_id bigint, p_token text, p_status text, p_now bigint, p_detail text,
  p_want text,
  c_entry_key text[], c_channel_type text[], c_conversation_id text[], c_user_id text[], c_idempotency_key text[],
  c_text text[], c_format text[], c_chunk_index int[], c_chunk_count int[], c_reply_to text[], c_in_reply_to text[],
  c_is_group boolean[], c_reply_meta json[], c_available_at bigint[], c_expires_at bigint[], c_image text[],
  f_lock text, f_payload json[],
  l_token text[], l_until bigint, l_owner text,
  h_agent_id text, h_entry_key text, h_conversation_id text, h_turn bigint[], h_role text[], h_content text[], h_at bigint[])
RETURNS json
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  conv_key text;
  n int := coalesce(cardinality(c_idempotency_key), 0);
  mode text := 'outbox';
  seqs bigint[] := '{}';
  seq bigint;
  ids bigint[];
BEGIN
  UPDATE inbound SET status = p_status, finished_at = p_now, finish_detail = p_detail, lease_token = NULL, lease_until = NULL
    WHERE id = p_id AND status = 'leased' AND lease_token = p_token RETURNING conversation_key INTO conv_key;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  PERFORM cococat_refresh_head(conv_key);
  IF n > 0 AND p_want IS NOT NULL AND NOT EXISTS (SELECT 1 FROM outbox WHERE entry_key = c_entry_key[1]
      AND conversation_id = c_conversation_id[1] AND status IN ('pending', 'leased')) THEN
    mode := p_want;
  END IF;
  IF mode = 'feed' THEN
    -- Seqs within a conversation are drawn in commit order, so a reader's cursor never passes an
    -- item another process is still writing.
    PERFORM pg_advisory_xact_lock(hashtextextended(f_lock, 0));
    FOR i IN 1..n LOOP
      INSERT INTO feed (entry_key, conversation_id, idempotency_key, reply_to, payload, created_at)
        VALUES (c_entry_key[i], c_conversation_id[i], c_idempotency_key[i], c_reply_to[i], f_payload[i], p_now)
        ON CONFLICT (entry_key, idempotency_key) DO NOTHING RETURNING feed.seq INTO seq;
      IF NOT FOUND THEN
        SELECT feed.seq INTO seq FROM feed WHERE entry_key = c_entry_key[i] AND idempotency_key = c_idempotency_key[i];
      END IF;
      seqs := seqs || seq;
    END LOOP;
  END IF;
  IF n > 0 THEN
    WITH ins AS (
      INSERT INTO outbox (entry_key, channel_type, conversation_id, user_id, idempotency_key, text, format, chunk_index,
          chunk_count, reply_to, in_reply_to, is_group, reply_meta, status, attempts, lease_token, lease_until, lease_owner,
          available_at, expires_at, max_age_ms, created_at, sent_at, platform_message_id, image)
        SELECT c.entry_key, c.channel_type, c.conversation_id, c.user_id, c.idempotency_key, c.text, c.format, c.chunk_index,
          c.chunk_count, c.reply_to, c.in_reply_to, c.is_group, c.reply_meta,
          CASE mode WHEN 'feed' THEN 'sent' WHEN 'claim' THEN 'leased' ELSE 'pending' END,
          CASE mode WHEN 'outbox' THEN 0 ELSE 1 END,
          CASE mode WHEN 'claim' THEN l_token[c.i] END,
          CASE mode WHEN 'claim' THEN l_until END,
          CASE mode WHEN 'claim' THEN l_owner END,
          c.available_at, c.expires_at,
          c.expires_at - p_now, -- max age, kept so that every revive grants the same again
          p_now,
          CASE mode WHEN 'feed' THEN p_now END,
          CASE mode WHEN 'feed' THEN seqs[c.i]::text END,
          c.image
        FROM unnest(c_entry_key, c_channel_type, c_conversation_id, c_user_id, c_idempotency_key, c_text, c_format,
            c_chunk_index, c_chunk_count, c_reply_to, c_in_reply_to, c_is_group, c_reply_meta, c_available_at, c_expires_at,
            c_image) WITH ORDINALITY AS c (entry_key, channel_type, conversation_id, user_id, idempotency_key, text, format,
            chunk_index, chunk_count, reply_to, in_reply_to, is_group, reply_meta, available_at, expires_at, image, i)
        ORDER BY c.i
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id, idempotency_key)
    -- The id of each chunk in order; a key repeated in one reply was inserted by its first chunk only.
    SELECT array_agg(CASE WHEN c.i = (SELECT min(d.i) FROM unnest(c_idempotency_key) WITH ORDINALITY AS d (k, i)
                                      WHERE d.k = c.k) THEN ins.id END ORDER BY c.i)
      INTO ids
      FROM unnest(c_idempotency_key) WITH ORDINALITY AS c (k, i) LEFT JOIN ins ON ins.idempotency_key = c.k;
  END IF;
  IF cardinality(h_turn) > 0 THEN
    INSERT INTO history (agent_id, entry_key, conversation_id, turn, role, content, at)
      SELECT h_agent_id, h_entry_key, h_conversation_id, t.turn, t.role, t.content, t.at
      FROM unnest(h_turn, h_role, h_content, h_at) AS t (turn, role, content, at)
      ON CONFLICT DO NOTHING;
  END IF;
  RETURN json_build_object('mode', mode, 'ids', coalesce(ids, '{}'), 'seqs', seqs);
END $$;
