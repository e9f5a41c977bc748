-- dream: initial SQLite schema. Times are INTEGER microseconds since the epoch
-- (UTC), exact and ordered; TEXT compares byte-wise (BINARY), like every backend.

CREATE TABLE platforms (
    id         TEXT PRIMARY KEY,
    name       TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE tier_configs (
    platform_id TEXT NOT NULL,
    mode        TEXT NOT NULL,
    config      TEXT NOT NULL,
    PRIMARY KEY (platform_id, mode)
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    platform_id     TEXT NOT NULL,
    mode            TEXT NOT NULL,
    publishable_key TEXT NOT NULL UNIQUE,
    secret_digest   BLOB NOT NULL UNIQUE,
    secret_hint     TEXT NOT NULL,
    label           TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    revoked_at      INTEGER
);
CREATE INDEX api_keys_by_platform ON api_keys (platform_id, mode, created_at, id);

CREATE TABLE customers (
    platform_id   TEXT NOT NULL,
    mode          TEXT NOT NULL,
    id            TEXT NOT NULL,
    external_id   TEXT,
    email         TEXT,
    first_name    TEXT,
    last_name     TEXT,
    plan          TEXT NOT NULL,
    password_hash TEXT,
    metadata      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, id),
    UNIQUE (platform_id, mode, external_id)
);
CREATE INDEX customers_newest_first ON customers (platform_id, mode, created_at DESC, id DESC);

CREATE TABLE usage_counters (
    platform_id  TEXT NOT NULL,
    mode         TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    customer_id  TEXT NOT NULL,
    used         INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, period_start, customer_id)
);
CREATE INDEX usage_counters_by_customer ON usage_counters (platform_id, mode, customer_id);

CREATE TABLE rate_windows (
    platform_id TEXT NOT NULL,
    mode        TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    tat_us      INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, customer_id)
);

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    platform_id TEXT NOT NULL,
    mode        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    customer_id TEXT,
    data        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX events_newest_first ON events (platform_id, mode, seq DESC);

CREATE TABLE idempotency_keys (
    platform_id TEXT NOT NULL,
    mode        TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    claimed_at  INTEGER NOT NULL,
    status      INTEGER,
    headers     TEXT,
    body        BLOB,
    PRIMARY KEY (platform_id, mode, endpoint, key)
);
