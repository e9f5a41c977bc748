-- Subscription states (see the PostgreSQL migration of the same number). Times
-- are INTEGER microseconds like everywhere; `cancel_at_period_end` is 0 or 1.
--
-- The foreign key deletes a customer's state with the customer (sqlx turns
-- `PRAGMA foreign_keys` on for every connection). Beware in later migrations: a
-- table rebuild that drops `customers` would cascade to these rows too, and the
-- pragma is a no-op inside the transaction sqlx runs each migration in.

CREATE TABLE subscription_states (
    platform_id          TEXT NOT NULL,
    mode                 TEXT NOT NULL,
    customer_id          TEXT NOT NULL,
    subscription_id      TEXT NOT NULL,
    provider_customer_id TEXT,
    status               TEXT NOT NULL CHECK (status IN (
                             'active', 'trialing', 'past_due', 'incomplete',
                             'incomplete_expired', 'unpaid', 'canceled', 'paused')),
    tier                 TEXT,
    current_period_start INTEGER,
    current_period_end   INTEGER,
    cancel_at_period_end INTEGER NOT NULL CHECK (cancel_at_period_end IN (0, 1)),
    mrr_minor            INTEGER NOT NULL,
    currency             TEXT,
    as_of                INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, customer_id),
    FOREIGN KEY (platform_id, mode, customer_id)
        REFERENCES customers (platform_id, mode, id) ON DELETE CASCADE
);
