-- The expiry sweep: active reservations by expiry (the only ones it looks at),
-- and onboarding states by expiry.
CREATE INDEX reservations_active_by_expiry ON reservations (expires_at) WHERE state = 'active';
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);

-- A Clerk `user.deleted` can arrive before the user's `user.created`, when no
-- tenant is known yet: the tombstone it leaves has no tenant (platform_id and
-- mode both NULL), so the late, older create cannot bring the user back. The
-- first event that names a tenant and is not older claims the row.
ALTER TABLE identity_links ALTER COLUMN platform_id DROP NOT NULL;
ALTER TABLE identity_links ALTER COLUMN mode DROP NOT NULL;
ALTER TABLE identity_links ADD CONSTRAINT identity_links_tenant_whole
    CHECK ((platform_id IS NULL) = (mode IS NULL));
ALTER TABLE identity_links ADD CONSTRAINT identity_links_tenantless_is_tombstone
    CHECK (platform_id IS NOT NULL OR customer_id IS NULL);
