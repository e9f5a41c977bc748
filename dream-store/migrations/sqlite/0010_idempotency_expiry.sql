-- When each idempotency entry may be deleted: its claim time plus the retention
-- its caller asked for (24 h for API requests, 30 days for webhook event ids),
-- so a periodic sweep can purge them. Rows from before get the longest
-- retention any caller uses (claimed_at is in microseconds).
ALTER TABLE idempotency_keys ADD COLUMN expires_at INTEGER;
UPDATE idempotency_keys SET expires_at = claimed_at + 30 * 86400 * 1000000;
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
