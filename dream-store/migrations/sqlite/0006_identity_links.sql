-- Identity links (see the PostgreSQL migration of the same number). `source_at`
-- is INTEGER microseconds like every time here; no foreign key to customers, on
-- purpose: a link outlives its customer.

CREATE TABLE identity_links (
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    customer_id TEXT,
    source_at   INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
);
