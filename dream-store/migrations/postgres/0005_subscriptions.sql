-- Subscription states: each customer's subscription as the last applied provider
-- event left it, one row per customer. A state is applied only if its `as_of`
-- (the provider event's time) is not earlier than the stored one, in the same
-- transaction as the plan change it implies; the store takes the customer's row
-- lock first, so applies for one customer queue instead of interleaving.
--
-- The row belongs to its customer: deleting the customer deletes it (ON DELETE
-- CASCADE), so a state can never outlive the customer it describes.

CREATE TABLE subscription_states (
    platform_id          TEXT COLLATE "C" NOT NULL,
    mode                 TEXT NOT NULL,
    customer_id          TEXT COLLATE "C" NOT NULL,
    subscription_id      TEXT COLLATE "C" NOT NULL, -- `sub_…`
    provider_customer_id TEXT COLLATE "C",          -- `cus_…`
    status               TEXT NOT NULL CHECK (status IN (
                             'active', 'trialing', 'past_due', 'incomplete',
                             'incomplete_expired', 'unpaid', 'canceled', 'paused')),
    tier                 TEXT,
    current_period_start TIMESTAMPTZ,
    current_period_end   TIMESTAMPTZ,
    cancel_at_period_end BOOLEAN NOT NULL,
    mrr_minor            BIGINT NOT NULL,
    currency             TEXT,
    as_of                TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (platform_id, mode, customer_id),
    FOREIGN KEY (platform_id, mode, customer_id)
        REFERENCES customers (platform_id, mode, id) ON DELETE CASCADE
);
