-- The usage history per meter: `meter` joins the key of the hourly and daily
-- rows (existing rows are the `requests` meter). SQLite cannot change a primary
-- key, so both tables are rebuilt and their rows copied.
CREATE TABLE usage_daily_new (
    platform_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    meter TEXT NOT NULL DEFAULT 'requests',
    day TEXT NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, meter, day)
) WITHOUT ROWID;
INSERT INTO usage_daily_new (platform_id, mode, meter, day, amount)
    SELECT platform_id, mode, 'requests', day, amount FROM usage_daily;
DROP TABLE usage_daily;
ALTER TABLE usage_daily_new RENAME TO usage_daily;
CREATE INDEX usage_daily_by_day ON usage_daily (day);

CREATE TABLE usage_hourly_new (
    platform_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    meter TEXT NOT NULL DEFAULT 'requests',
    hour INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, meter, hour)
) WITHOUT ROWID;
INSERT INTO usage_hourly_new (platform_id, mode, meter, hour, amount)
    SELECT platform_id, mode, 'requests', hour, amount FROM usage_hourly;
DROP TABLE usage_hourly;
ALTER TABLE usage_hourly_new RENAME TO usage_hourly;
CREATE INDEX usage_hourly_by_hour ON usage_hourly (hour);
