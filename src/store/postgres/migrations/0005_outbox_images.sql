-- A reply chunk may be an image (JSON: {url} or {data, mimeType}, with optional alt); text chunks leave it NULL.
ALTER TABLE outbox ADD COLUMN image TEXT;
