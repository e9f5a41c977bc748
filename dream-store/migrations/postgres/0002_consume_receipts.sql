-- Consume receipts: a consume retried with the same receipt (the request's
-- Idempotency-Key) after it was counted is answered with the original usage and
-- counts nothing, even when the first attempt's process died before answering.

CREATE TABLE usage_receipts (
    platform_id TEXT COLLATE "C" NOT NULL,
    mode        TEXT NOT NULL,
    receipt     TEXT NOT NULL,
    used        BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (platform_id, mode, receipt)
);
CREATE INDEX usage_receipts_by_age ON usage_receipts (platform_id, mode, created_at);

DROP FUNCTION dream_consume(TEXT, TEXT, TEXT, TIMESTAMPTZ, BIGINT, BIGINT, INTEGER, TIMESTAMPTZ, BIGINT);

CREATE FUNCTION dream_consume(
    p_platform TEXT, p_mode TEXT, p_customer TEXT, p_period TIMESTAMPTZ,
    p_amount BIGINT, p_limit BIGINT, p_rate INTEGER, p_now TIMESTAMPTZ, p_now_us BIGINT,
    p_receipt TEXT
) RETURNS TABLE (outcome SMALLINT, used BIGINT, retry_after_ms BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_used     BIGINT;
    v_tat      BIGINT;
    v_interval BIGINT;
    v_new_tat  BIGINT;
    v_cutoff   TIMESTAMPTZ := p_now - INTERVAL '25 hours';
BEGIN
    INSERT INTO usage_counters AS u (platform_id, mode, period_start, customer_id, used, updated_at)
    VALUES (p_platform, p_mode, p_period, p_customer, 0, NULL)
    ON CONFLICT DO NOTHING;
    -- The counter's row lock also serializes retries of one receipt.
    SELECT u.used INTO v_used FROM usage_counters u
     WHERE u.platform_id = p_platform AND u.mode = p_mode
       AND u.period_start = p_period AND u.customer_id = p_customer
       FOR UPDATE;
    IF p_receipt IS NOT NULL THEN
        SELECT r.used INTO v_tat FROM usage_receipts r
         WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.receipt = p_receipt
           AND r.created_at > v_cutoff;
        IF FOUND THEN
            RETURN QUERY SELECT 0::SMALLINT, v_tat, 0::BIGINT;
            RETURN;
        END IF;
    END IF;
    IF p_limit IS NOT NULL AND v_used + p_amount > p_limit THEN
        RETURN QUERY SELECT 1::SMALLINT, v_used, 0::BIGINT;
        RETURN;
    END IF;
    IF p_rate IS NOT NULL THEN
        INSERT INTO rate_windows (platform_id, mode, customer_id, tat_us)
        VALUES (p_platform, p_mode, p_customer, 0)
        ON CONFLICT DO NOTHING;
        SELECT r.tat_us INTO v_tat FROM rate_windows r
         WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.customer_id = p_customer
           FOR UPDATE;
        v_interval := 60000000 / p_rate;
        v_new_tat := GREATEST(v_tat, p_now_us) + v_interval * p_amount;
        IF v_new_tat - 60000000 > p_now_us THEN
            RETURN QUERY SELECT 2::SMALLINT, v_used,
                ((v_new_tat - 60000000 - p_now_us + 999) / 1000)::BIGINT;
            RETURN;
        END IF;
        UPDATE rate_windows r SET tat_us = v_new_tat
         WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.customer_id = p_customer;
    END IF;
    UPDATE usage_counters u SET used = u.used + p_amount, updated_at = p_now
     WHERE u.platform_id = p_platform AND u.mode = p_mode
       AND u.period_start = p_period AND u.customer_id = p_customer
    RETURNING u.used INTO v_used;
    IF p_receipt IS NOT NULL THEN
        DELETE FROM usage_receipts r
         WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.created_at <= v_cutoff;
        INSERT INTO usage_receipts (platform_id, mode, receipt, used, created_at)
        VALUES (p_platform, p_mode, p_receipt, v_used, p_now)
        ON CONFLICT (platform_id, mode, receipt)
        DO UPDATE SET used = EXCLUDED.used, created_at = EXCLUDED.created_at;
    END IF;
    RETURN QUERY SELECT 0::SMALLINT, v_used, 0::BIGINT;
END;
$$;
