-- The meter a customer key's verifications count when they name none (NULL:
-- requests).
ALTER TABLE customer_keys ADD COLUMN meter TEXT;
