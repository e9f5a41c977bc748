-- The expiry sweep deletes refresh families that expired or were revoked
-- (Dream::sweep_expired): these indexes find them without scanning live ones.
CREATE INDEX refresh_families_expires ON refresh_families (expires_at);
CREATE INDEX refresh_families_revoked ON refresh_families (revoked_at) WHERE revoked_at IS NOT NULL;
