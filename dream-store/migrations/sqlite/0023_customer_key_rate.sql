-- A customer key's own rate limit in requests per minute (NULL: none). Its GCRA
-- window lives in `rate_windows` under the key's id (`ckey_…`, never a customer id).
ALTER TABLE customer_keys ADD COLUMN rate_per_minute INTEGER;
