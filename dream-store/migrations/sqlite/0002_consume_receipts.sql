-- Consume receipts (see the PostgreSQL migration of the same number).
CREATE TABLE usage_receipts (
    platform_id TEXT NOT NULL,
    mode        TEXT NOT NULL,
    receipt     TEXT NOT NULL,
    used        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, receipt)
);
CREATE INDEX usage_receipts_by_age ON usage_receipts (platform_id, mode, created_at);
