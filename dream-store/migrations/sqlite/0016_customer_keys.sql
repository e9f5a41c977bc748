-- API keys a developer issues to their own customers (ck_test_…, ck_live_…):
-- only the SHA-256 digest of a key is stored, never the key.
CREATE TABLE customer_keys (
    id          TEXT PRIMARY KEY,
    platform_id TEXT NOT NULL,
    mode        TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    name        TEXT,
    digest      BLOB NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
);
-- One customer's keys, oldest first.
CREATE INDEX customer_keys_by_customer
    ON customer_keys (platform_id, mode, customer_id, created_at, id);
