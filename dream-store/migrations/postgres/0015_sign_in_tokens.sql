-- End-user sign-in (issue #16). A refresh family is one login of a customer; it
-- keeps the digest of its current refresh token, so rotation is one
-- compare-and-set on the family row. refresh_tokens remembers every digest a
-- family issued, so a rotated token presented again is recognised (reuse) and
-- revokes its family.
CREATE TABLE refresh_families (
    id TEXT PRIMARY KEY,
    platform_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    current_digest BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_families_customer ON refresh_families (platform_id, mode, customer_id);

CREATE TABLE refresh_tokens (
    digest BYTEA PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Keys that sign access tokens. private_key is `v1:…` (sealed with
-- DREAM_MASTER_KEY) or `plain:…`. is_current is 1 for the current key and NULL
-- once retired: the UNIQUE constraint lets at most one key be current, which
-- makes "insert the first key if there is none" one atomic statement.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    private_key TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    retired_at TIMESTAMPTZ,
    is_current SMALLINT UNIQUE CHECK (is_current = 1)
);
