-- Developer webhooks (see the PostgreSQL migration of the same number). Times
-- are INTEGER microseconds like everywhere.
--
-- The foreign keys delete an endpoint's deliveries, and their attempts, with the
-- endpoint (sqlx turns `PRAGMA foreign_keys` on for every connection).

CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    platform_id     TEXT NOT NULL,
    mode            TEXT NOT NULL,
    url             TEXT NOT NULL,
    description     TEXT,
    event_types     TEXT NOT NULL,
    secret          TEXT NOT NULL,
    disabled_reason TEXT CHECK (disabled_reason IN ('manual', 'failing')),
    failing_since   INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (platform_id, mode, created_at);

CREATE TABLE webhook_deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    platform_id     TEXT NOT NULL,
    mode            TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event_kind      TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt_at INTEGER,
    last_status     INTEGER,
    lease_token     TEXT,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL))
);
-- The claim's scan, in its order; only pending rows are ever due.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, seq)
    WHERE state = 'pending';
-- An endpoint's deliveries newest first; also serves the cascade on delete.
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, seq);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL CHECK (number >= 1),
    at          INTEGER NOT NULL,
    status      INTEGER,
    latency_ms  INTEGER NOT NULL CHECK (latency_ms >= 0),
    error       TEXT,
    PRIMARY KEY (delivery_id, number)
);
