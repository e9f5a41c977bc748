-- The expiry sweep's indexes and tenant-less identity tombstones (see the
-- PostgreSQL migration of the same number). SQLite cannot drop NOT NULL in
-- place, so identity_links is rebuilt.
CREATE INDEX reservations_active_by_expiry ON reservations (expires_at) WHERE state = 'active';
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);

CREATE TABLE identity_links_new (
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    platform_id TEXT,
    mode        TEXT CHECK (mode IN ('test', 'live')),
    customer_id TEXT,
    source_at   INTEGER NOT NULL,
    PRIMARY KEY (provider, subject),
    CHECK ((platform_id IS NULL) = (mode IS NULL)),
    CHECK (platform_id IS NOT NULL OR customer_id IS NULL)
);
INSERT INTO identity_links_new (provider, subject, platform_id, mode, customer_id, source_at)
    SELECT provider, subject, platform_id, mode, customer_id, source_at FROM identity_links;
DROP TABLE identity_links;
ALTER TABLE identity_links_new RENAME TO identity_links;
