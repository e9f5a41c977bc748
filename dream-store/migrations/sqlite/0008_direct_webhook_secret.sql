-- Direct mode's webhooks (see the PostgreSQL migration of the same number): the
-- sealed signing secret of the developer's own endpoint, on direct rows only.
-- SQLite cannot add a table constraint to an existing table, so the rule rides on
-- the column (SQLite lets a column CHECK name other columns); 0004's CHECK still
-- holds unchanged, as it does not mention the new column.
ALTER TABLE billing_connections ADD COLUMN sealed_webhook_secret TEXT
    CHECK (sealed_webhook_secret IS NULL OR kind = 'direct');
