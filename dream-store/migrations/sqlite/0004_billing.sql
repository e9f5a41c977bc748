-- Billing connections, Connect onboarding states and Stripe customer links (see
-- the PostgreSQL migration of the same number).

CREATE TABLE billing_connections (
    platform_id  TEXT NOT NULL,
    mode         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('connect', 'direct')),
    account_id   TEXT,
    sealed_key   TEXT,
    connected_at INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode),
    CHECK ((kind = 'connect' AND account_id IS NOT NULL AND sealed_key IS NULL)
        OR (kind = 'direct' AND account_id IS NULL AND sealed_key IS NOT NULL))
);
CREATE INDEX billing_connections_by_account ON billing_connections (account_id, platform_id, mode)
    WHERE kind = 'connect';

CREATE TABLE oauth_states (
    digest      BLOB PRIMARY KEY CHECK (length(digest) = 32),
    platform_id TEXT NOT NULL,
    mode        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE stripe_customer_links (
    platform_id        TEXT NOT NULL,
    mode               TEXT NOT NULL,
    customer_id        TEXT NOT NULL,
    account            TEXT NOT NULL,
    stripe_customer_id TEXT NOT NULL,
    PRIMARY KEY (platform_id, mode, customer_id, account)
);
CREATE INDEX stripe_customer_links_by_stripe_id
    ON stripe_customer_links (platform_id, mode, account, stripe_customer_id);
