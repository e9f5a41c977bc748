-- Group commit: `dream_consume` tries the counter UPDATE first (the row exists for
-- every consume of a period but the first), and `dream_consume_batch` decides many
-- consumes in one statement and one commit, writing each counter row once.

CREATE OR REPLACE FUNCTION dream_consume(
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
    IF p_receipt IS NULL AND p_rate IS NULL THEN
        -- Nothing to look up besides the counter: one conditional UPDATE decides.
        -- It misses only when the row does not exist yet or the limit refuses; both
        -- take the general path below, which answers them exactly as before.
        UPDATE usage_counters u SET used = u.used + p_amount, updated_at = p_now
         WHERE u.platform_id = p_platform AND u.mode = p_mode
           AND u.period_start = p_period AND u.customer_id = p_customer
           AND (p_limit IS NULL OR u.used + p_amount <= p_limit)
        RETURNING u.used INTO v_used;
        IF FOUND THEN
            RETURN QUERY SELECT 0::SMALLINT, v_used, 0::BIGINT;
            RETURN;
        END IF;
    END IF;
    -- The counter's row lock also serializes retries of one receipt.
    SELECT u.used INTO v_used FROM usage_counters u
     WHERE u.platform_id = p_platform AND u.mode = p_mode
       AND u.period_start = p_period AND u.customer_id = p_customer
       FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO usage_counters AS u (platform_id, mode, period_start, customer_id, used, updated_at)
        VALUES (p_platform, p_mode, p_period, p_customer, 0, NULL)
        ON CONFLICT DO NOTHING;
        SELECT u.used INTO v_used FROM usage_counters u
         WHERE u.platform_id = p_platform AND u.mode = p_mode
           AND u.period_start = p_period AND u.customer_id = p_customer
           FOR UPDATE;
    END IF;
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
        SELECT r.tat_us INTO v_tat FROM rate_windows r
         WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.customer_id = p_customer
           FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO rate_windows (platform_id, mode, customer_id, tat_us)
            VALUES (p_platform, p_mode, p_customer, 0)
            ON CONFLICT DO NOTHING;
            SELECT r.tat_us INTO v_tat FROM rate_windows r
             WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.customer_id = p_customer
               FOR UPDATE;
        END IF;
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

-- Decides the consumes of the arrays (element i of every array is one call of
-- `dream_consume`) as if each were a `dream_consume` call, in array order, and
-- returns one row per consume in that order. The caller sorts the consumes by
-- (platform, mode, customer, period), keeping arrival order within one counter, so
-- that every batch locks rows in one global order (no deadlock between batches)
-- and the consumes of one counter are consecutive: each counter row and rate
-- window is locked, read and written once per batch, with the decisions made in
-- variables in between. A consume with a receipt writes its receipt at once, so a
-- later retry of the same receipt in the batch replays it.
CREATE FUNCTION dream_consume_batch(
    p_platform TEXT[], p_mode TEXT[], p_customer TEXT[], p_period TIMESTAMPTZ[],
    p_amount BIGINT[], p_limit BIGINT[], p_rate INTEGER[], p_now TIMESTAMPTZ[],
    p_now_us BIGINT[], p_receipt TEXT[]
) RETURNS TABLE (outcome SMALLINT, used BIGINT, retry_after_ms BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    n             INTEGER := coalesce(cardinality(p_platform), 0);
    i             INTEGER := 1;
    j             INTEGER;
    k             INTEGER;
    v_used        BIGINT;
    v_updated     TIMESTAMPTZ;
    v_tat         BIGINT;
    v_tat_loaded  BOOLEAN;
    v_tat_changed BOOLEAN;
    v_swept       BOOLEAN;
    v_replay      BIGINT;
    v_interval    BIGINT;
    v_new_tat     BIGINT;
    v_cutoff      TIMESTAMPTZ;
BEGIN
    WHILE i <= n LOOP
        -- The group: the consecutive consumes of one counter.
        j := i;
        WHILE j < n AND p_platform[j + 1] = p_platform[i] AND p_mode[j + 1] = p_mode[i]
              AND p_customer[j + 1] = p_customer[i] AND p_period[j + 1] = p_period[i] LOOP
            j := j + 1;
        END LOOP;
        SELECT u.used INTO v_used FROM usage_counters u
         WHERE u.platform_id = p_platform[i] AND u.mode = p_mode[i]
           AND u.period_start = p_period[i] AND u.customer_id = p_customer[i]
           FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO usage_counters AS u
                (platform_id, mode, period_start, customer_id, used, updated_at)
            VALUES (p_platform[i], p_mode[i], p_period[i], p_customer[i], 0, NULL)
            ON CONFLICT DO NOTHING;
            SELECT u.used INTO v_used FROM usage_counters u
             WHERE u.platform_id = p_platform[i] AND u.mode = p_mode[i]
               AND u.period_start = p_period[i] AND u.customer_id = p_customer[i]
               FOR UPDATE;
        END IF;
        v_updated := NULL;
        v_tat_loaded := FALSE;
        v_tat_changed := FALSE;
        v_swept := FALSE;
        FOR k IN i..j LOOP
            v_cutoff := p_now[k] - INTERVAL '25 hours';
            IF p_receipt[k] IS NOT NULL THEN
                SELECT r.used INTO v_replay FROM usage_receipts r
                 WHERE r.platform_id = p_platform[k] AND r.mode = p_mode[k]
                   AND r.receipt = p_receipt[k] AND r.created_at > v_cutoff;
                IF FOUND THEN
                    outcome := 0; used := v_replay; retry_after_ms := 0;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
            END IF;
            IF p_limit[k] IS NOT NULL AND v_used + p_amount[k] > p_limit[k] THEN
                outcome := 1; used := v_used; retry_after_ms := 0;
                RETURN NEXT;
                CONTINUE;
            END IF;
            IF p_rate[k] IS NOT NULL THEN
                IF NOT v_tat_loaded THEN
                    SELECT r.tat_us INTO v_tat FROM rate_windows r
                     WHERE r.platform_id = p_platform[k] AND r.mode = p_mode[k]
                       AND r.customer_id = p_customer[k]
                       FOR UPDATE;
                    IF NOT FOUND THEN
                        INSERT INTO rate_windows (platform_id, mode, customer_id, tat_us)
                        VALUES (p_platform[k], p_mode[k], p_customer[k], 0)
                        ON CONFLICT DO NOTHING;
                        SELECT r.tat_us INTO v_tat FROM rate_windows r
                         WHERE r.platform_id = p_platform[k] AND r.mode = p_mode[k]
                           AND r.customer_id = p_customer[k]
                           FOR UPDATE;
                    END IF;
                    v_tat_loaded := TRUE;
                END IF;
                v_interval := 60000000 / p_rate[k];
                v_new_tat := GREATEST(v_tat, p_now_us[k]) + v_interval * p_amount[k];
                IF v_new_tat - 60000000 > p_now_us[k] THEN
                    outcome := 2; used := v_used;
                    retry_after_ms := (v_new_tat - 60000000 - p_now_us[k] + 999) / 1000;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
                v_tat := v_new_tat;
                v_tat_changed := TRUE;
            END IF;
            v_used := v_used + p_amount[k];
            v_updated := p_now[k];
            IF p_receipt[k] IS NOT NULL THEN
                IF NOT v_swept THEN
                    DELETE FROM usage_receipts r
                     WHERE r.platform_id = p_platform[k] AND r.mode = p_mode[k]
                       AND r.created_at <= v_cutoff;
                    v_swept := TRUE;
                END IF;
                INSERT INTO usage_receipts (platform_id, mode, receipt, used, created_at)
                VALUES (p_platform[k], p_mode[k], p_receipt[k], v_used, p_now[k])
                ON CONFLICT (platform_id, mode, receipt)
                DO UPDATE SET used = EXCLUDED.used, created_at = EXCLUDED.created_at;
            END IF;
            outcome := 0; used := v_used; retry_after_ms := 0;
            RETURN NEXT;
        END LOOP;
        IF v_updated IS NOT NULL THEN
            UPDATE usage_counters u SET used = v_used, updated_at = v_updated
             WHERE u.platform_id = p_platform[i] AND u.mode = p_mode[i]
               AND u.period_start = p_period[i] AND u.customer_id = p_customer[i];
        END IF;
        IF v_tat_changed THEN
            UPDATE rate_windows r SET tat_us = v_tat
             WHERE r.platform_id = p_platform[i] AND r.mode = p_mode[i]
               AND r.customer_id = p_customer[i];
        END IF;
        i := j + 1;
    END LOOP;
END;
$$;
