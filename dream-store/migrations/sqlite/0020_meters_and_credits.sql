-- Meters and credits (issue #15; see the PostgreSQL migration of the same number).
-- Each (customer, meter, period) is its own counter: `meter` joins the primary
-- key. SQLite cannot alter a primary key, so the table is rebuilt; every existing
-- row is the `requests` meter.
CREATE TABLE usage_counters_0020 (
    platform_id  TEXT NOT NULL,
    mode         TEXT NOT NULL,
    meter        TEXT NOT NULL DEFAULT 'requests',
    period_start INTEGER NOT NULL,
    customer_id  TEXT NOT NULL,
    used         INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, meter, period_start, customer_id)
);
INSERT INTO usage_counters_0020
    (platform_id, mode, meter, period_start, customer_id, used, updated_at)
SELECT platform_id, mode, 'requests', period_start, customer_id, used, updated_at
  FROM usage_counters;
DROP TABLE usage_counters;
ALTER TABLE usage_counters_0020 RENAME TO usage_counters;
CREATE INDEX usage_counters_by_customer ON usage_counters (platform_id, mode, customer_id);

-- A replayed receipt answers the credits its first consume took.
ALTER TABLE usage_receipts ADD COLUMN credits_spent INTEGER NOT NULL DEFAULT 0;

-- Prepaid credits per customer and meter, spent only past the allowance.
CREATE TABLE credit_balances (
    platform_id TEXT NOT NULL,
    mode        TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    meter       TEXT NOT NULL,
    balance     INTEGER NOT NULL CHECK (balance >= 0),
    PRIMARY KEY (platform_id, mode, customer_id, meter)
);

-- Every grant once per grant id (per tenant), with the balance it produced: a
-- repeated grant id adds nothing and answers that balance.
CREATE TABLE credit_grants (
    platform_id   TEXT NOT NULL,
    mode          TEXT NOT NULL,
    grant_id      TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    meter         TEXT NOT NULL,
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, grant_id)
);
