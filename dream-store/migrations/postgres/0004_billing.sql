-- Billing: how each tenant reaches its Stripe account, the one-time states of
-- Connect onboarding, and our customers' counterparts on Stripe.
--
-- A connection is either Connect (only the `acct_…` id is kept; calls use the
-- operator's key) or direct (the developer's key, sealed: `SealedSecret`'s
-- stored form, never the key itself). The CHECK keeps the two shapes apart, so a
-- row can never carry a stale key or account next to the other kind.

CREATE TABLE billing_connections (
    platform_id  TEXT COLLATE "C" NOT NULL,
    mode         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('connect', 'direct')),
    account_id   TEXT COLLATE "C", -- `acct_…` of a Connect link
    sealed_key   TEXT,             -- `v1:<hex>` of a direct link: AES-256-GCM, bound to the tenant
    connected_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (platform_id, mode),
    CHECK ((kind = 'connect' AND account_id IS NOT NULL AND sealed_key IS NULL)
        OR (kind = 'direct' AND account_id IS NULL AND sealed_key IS NOT NULL))
);
-- Webhook routing: the tenants of a Connect account, already in answer order.
CREATE INDEX billing_connections_by_account ON billing_connections (account_id, platform_id, mode)
    WHERE kind = 'connect';

-- Only the SHA-256 of the state token is stored, so a copy of the database cannot
-- complete anyone's onboarding. Taking a state deletes it (single use).
CREATE TABLE oauth_states (
    digest      BYTEA PRIMARY KEY CHECK (octet_length(digest) = 32),
    platform_id TEXT COLLATE "C" NOT NULL,
    mode        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- One Stripe customer per customer and Stripe account (`acct_…` or `direct`): the
-- first link recorded wins, later ones read it back.
CREATE TABLE stripe_customer_links (
    platform_id        TEXT COLLATE "C" NOT NULL,
    mode               TEXT NOT NULL,
    customer_id        TEXT COLLATE "C" NOT NULL,
    account            TEXT COLLATE "C" NOT NULL,
    stripe_customer_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (platform_id, mode, customer_id, account)
);
-- Webhook routing: our customer from a `cus_…` id.
CREATE INDEX stripe_customer_links_by_stripe_id
    ON stripe_customer_links (platform_id, mode, account, stripe_customer_id);
