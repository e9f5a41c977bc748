-- Daily usage per tenant, for charts (dream_core::DailyUsage): written in
-- batches from each process's in-memory tally, always added to, never replaced.
CREATE TABLE usage_daily (
    platform_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    day TEXT NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, day)
) WITHOUT ROWID;

-- A customer's events, newest first (the dashboard's customer page).
CREATE INDEX events_by_customer ON events (platform_id, mode, customer_id, seq);
