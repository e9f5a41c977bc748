-- Daily usage per tenant, for charts (dream_core::DailyUsage): written in
-- batches from each process's in-memory tally, always added to, never replaced.
CREATE TABLE usage_daily (
    platform_id TEXT COLLATE "C" NOT NULL,
    mode TEXT NOT NULL,
    day DATE NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (platform_id, mode, day)
);

-- A customer's events, newest first (the dashboard's customer page).
CREATE INDEX events_by_customer ON events (platform_id, mode, customer_id, seq);
