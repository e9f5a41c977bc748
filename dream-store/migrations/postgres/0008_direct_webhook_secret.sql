-- Direct mode's webhooks: the signing secret (`whsec_…`) of the endpoint the
-- developer registers on their own Stripe account, sealed like the key
-- (`SealedSecret`'s stored form, bound to the tenant). Optional: a direct link
-- without it simply gets no webhooks.
--
-- 0004's CHECK does not mention the new column, so it still holds as it is; this
-- one keeps the secret on direct rows only, so a Connect row can never carry a
-- stale secret (put replaces the whole row, and this makes that a rule).
ALTER TABLE billing_connections ADD COLUMN sealed_webhook_secret TEXT;
ALTER TABLE billing_connections ADD CONSTRAINT billing_connections_webhook_secret_direct
    CHECK (sealed_webhook_secret IS NULL OR kind = 'direct');
