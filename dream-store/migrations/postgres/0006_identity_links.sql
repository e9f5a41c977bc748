-- Identity links: which tenant (and which customer) a user of an outside auth
-- provider (Clerk) belongs to, one row per (provider, subject). `customer_id` is
-- NULL after the user was deleted (a tombstone), so an older update delivered
-- late cannot bring the customer back. `source_at` is the provider event's time;
-- a link only moves forward in it, in one INSERT … ON CONFLICT DO UPDATE … WHERE.
--
-- No foreign key to customers on purpose: the link must outlive its customer
-- (deleted through the API or by the provider's delete event), because it is
-- what routes and orders that user's later events.

CREATE TABLE identity_links (
    provider    TEXT COLLATE "C" NOT NULL,
    subject     TEXT COLLATE "C" NOT NULL, -- `user_…`
    platform_id TEXT COLLATE "C" NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    customer_id TEXT COLLATE "C",          -- `usr_…`, NULL = deleted
    source_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, subject)
);
