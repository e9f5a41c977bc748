-- The usage history per meter: `meter` joins the key of the hourly and daily
-- rows (existing rows are the `requests` meter).
ALTER TABLE usage_daily ADD COLUMN meter TEXT COLLATE "C" NOT NULL DEFAULT 'requests';
ALTER TABLE usage_daily DROP CONSTRAINT usage_daily_pkey;
ALTER TABLE usage_daily ADD PRIMARY KEY (platform_id, mode, meter, day);

ALTER TABLE usage_hourly ADD COLUMN meter TEXT COLLATE "C" NOT NULL DEFAULT 'requests';
ALTER TABLE usage_hourly DROP CONSTRAINT usage_hourly_pkey;
ALTER TABLE usage_hourly ADD PRIMARY KEY (platform_id, mode, meter, hour);
