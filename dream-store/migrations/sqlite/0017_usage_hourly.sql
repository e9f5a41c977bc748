-- Hourly usage per tenant (dream_core::HourlyUsage), written in the same
-- transaction as the daily rows it sums to; `hour` is the hour's start in
-- microseconds since the epoch, like every timestamp of this schema.
-- Always added to, never replaced.
CREATE TABLE usage_hourly (
    platform_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    hour INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, hour)
) WITHOUT ROWID;

-- The retention sweep deletes by age across tenants.
CREATE INDEX usage_hourly_by_hour ON usage_hourly (hour);
CREATE INDEX usage_daily_by_day ON usage_daily (day);
