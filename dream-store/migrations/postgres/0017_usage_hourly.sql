-- Hourly usage per tenant (dream_core::HourlyUsage), written in the same
-- statement as the daily rows it sums to. Always added to, never replaced.
CREATE TABLE usage_hourly (
    platform_id TEXT COLLATE "C" NOT NULL,
    mode TEXT NOT NULL,
    hour TIMESTAMPTZ NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (platform_id, mode, hour)
);

-- The retention sweep deletes by age across tenants.
CREATE INDEX usage_hourly_by_hour ON usage_hourly (hour);
CREATE INDEX usage_daily_by_day ON usage_daily (day);
