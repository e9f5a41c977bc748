-- Each claim of an idempotency key gets a random token; completing or releasing
-- needs it, so a request whose lock expired cannot overwrite or delete the claim
-- of the retry that took the key over. Rows from before have none: nothing can
-- complete them, and they expire as before.
ALTER TABLE idempotency_keys ADD COLUMN claim_token BYTEA;
