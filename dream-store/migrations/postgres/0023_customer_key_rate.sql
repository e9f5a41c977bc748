-- Customer keys with their own rate limit (issue #16). A key's window is a GCRA
-- window like a customer's, in the same `rate_windows` table under the key's id
-- (`ckey_…`, never a customer id), decided after the customer's in the same
-- consume: a call is counted only if the limit, the customer's window and the
-- key's window all admit it, and a refusal writes nothing. Lock order of every
-- consume: the counter, the credit balance, the customer's window, the key's
-- window. (Within one batch group a key window can be locked before the
-- customer's window only if the plan's rate limit changed between two calls of
-- the group; PostgreSQL then breaks any deadlock and group commit decides the
-- refused batch call by call.)

ALTER TABLE customer_keys ADD COLUMN rate_per_minute INTEGER
    CHECK (rate_per_minute BETWEEN 1 AND 60000);

DROP FUNCTION dream_consume(TEXT, TEXT, TEXT, TEXT, TIMESTAMPTZ, BIGINT, BIGINT, INTEGER, TIMESTAMPTZ, BIGINT, TEXT);
DROP FUNCTION dream_consume_batch(TEXT[], TEXT[], TEXT[], TEXT[], TIMESTAMPTZ[], BIGINT[], BIGINT[], INTEGER[], TIMESTAMPTZ[], BIGINT[], TEXT[]);

-- Locks a rate window (a customer's or a key's) for the rest of the transaction,
-- creating it (TAT 0: a full burst) on first use, and returns its TAT.
CREATE FUNCTION dream_lock_rate_window(p_platform TEXT, p_mode TEXT, p_window TEXT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    v_tat BIGINT;
BEGIN
    SELECT r.tat_us INTO v_tat FROM rate_windows r
     WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.customer_id = p_window
       FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO rate_windows (platform_id, mode, customer_id, tat_us)
        VALUES (p_platform, p_mode, p_window, 0)
        ON CONFLICT DO NOTHING;
        SELECT r.tat_us INTO v_tat FROM rate_windows r
         WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.customer_id = p_window
           FOR UPDATE;
    END IF;
    RETURN v_tat;
END;
$$;

-- One consume. The fast UPDATE decides the common case (no receipt, no rate
-- limit, within the allowance) alone; anything else locks the counter, then (only
-- when the allowance cannot hold the amount) the credit balance, then the rate
-- window, and decides as `dream_core::decide_usage` does: the allowance first,
-- then credits, all or nothing.
CREATE FUNCTION dream_consume(
    p_platform TEXT, p_mode TEXT, p_customer TEXT, p_meter TEXT, p_period TIMESTAMPTZ,
    p_amount BIGINT, p_limit BIGINT, p_rate INTEGER, p_now TIMESTAMPTZ, p_now_us BIGINT,
    p_receipt TEXT, p_key TEXT, p_key_rate INTEGER, p_key_cost BIGINT
) RETURNS TABLE (outcome SMALLINT, used BIGINT, retry_after_ms BIGINT, credits_spent BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_used     BIGINT;
    v_spent    BIGINT := 0;
    v_balance  BIGINT;
    v_replay   BIGINT;
    v_tat      BIGINT;
    v_interval BIGINT;
    v_new_tat  BIGINT;
    v_key_tat  BIGINT;
    v_key_new  BIGINT;
    v_cutoff   TIMESTAMPTZ := p_now - INTERVAL '25 hours';
BEGIN
    IF p_receipt IS NULL AND p_rate IS NULL AND p_key_rate IS NULL THEN
        -- Nothing to look up besides the counter: one conditional UPDATE decides.
        -- It misses only when the row does not exist yet or the allowance refuses;
        -- both take the general path below (where credits may pay).
        UPDATE usage_counters u SET used = u.used + p_amount, updated_at = p_now
         WHERE u.platform_id = p_platform AND u.mode = p_mode AND u.meter = p_meter
           AND u.period_start = p_period AND u.customer_id = p_customer
           AND (p_limit IS NULL OR u.used + p_amount <= p_limit)
        RETURNING u.used INTO v_used;
        IF FOUND THEN
            RETURN QUERY SELECT 0::SMALLINT, v_used, 0::BIGINT, 0::BIGINT;
            RETURN;
        END IF;
    END IF;
    -- The counter's row lock also serializes retries of one receipt.
    SELECT u.used INTO v_used FROM usage_counters u
     WHERE u.platform_id = p_platform AND u.mode = p_mode AND u.meter = p_meter
       AND u.period_start = p_period AND u.customer_id = p_customer
       FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO usage_counters AS u
            (platform_id, mode, meter, period_start, customer_id, used, updated_at)
        VALUES (p_platform, p_mode, p_meter, p_period, p_customer, 0, NULL)
        ON CONFLICT DO NOTHING;
        SELECT u.used INTO v_used FROM usage_counters u
         WHERE u.platform_id = p_platform AND u.mode = p_mode AND u.meter = p_meter
           AND u.period_start = p_period AND u.customer_id = p_customer
           FOR UPDATE;
    END IF;
    IF p_receipt IS NOT NULL THEN
        SELECT r.used, r.credits_spent INTO v_replay, v_spent FROM usage_receipts r
         WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.receipt = p_receipt
           AND r.created_at > v_cutoff;
        IF FOUND THEN
            RETURN QUERY SELECT 0::SMALLINT, v_replay, 0::BIGINT, v_spent;
            RETURN;
        END IF;
        v_spent := 0;
    END IF;
    IF p_limit IS NOT NULL AND v_used + p_amount > p_limit THEN
        -- Past the allowance: credits pay for the rest, or nothing is counted.
        SELECT b.balance INTO v_balance FROM credit_balances b
         WHERE b.platform_id = p_platform AND b.mode = p_mode
           AND b.customer_id = p_customer AND b.meter = p_meter
           FOR UPDATE;
        IF NOT FOUND THEN
            v_balance := 0;
        END IF;
        v_spent := p_amount - GREATEST(p_limit - v_used, 0);
        IF v_spent > v_balance THEN
            RETURN QUERY SELECT 1::SMALLINT, v_used, 0::BIGINT, 0::BIGINT;
            RETURN;
        END IF;
    END IF;
    IF p_rate IS NOT NULL THEN
        v_tat := dream_lock_rate_window(p_platform, p_mode, p_customer);
        v_interval := 60000000 / p_rate;
        v_new_tat := GREATEST(v_tat, p_now_us) + v_interval * p_amount;
        IF v_new_tat - 60000000 > p_now_us THEN
            RETURN QUERY SELECT 2::SMALLINT, v_used,
                ((v_new_tat - 60000000 - p_now_us + 999) / 1000)::BIGINT, 0::BIGINT;
            RETURN;
        END IF;
    END IF;
    IF p_key_rate IS NOT NULL THEN
        -- The key's window, after the customer's (lock order), in the same table.
        v_key_tat := dream_lock_rate_window(p_platform, p_mode, p_key);
        v_key_new := GREATEST(v_key_tat, p_now_us) + (60000000 / p_key_rate) * p_key_cost;
        IF v_key_new - 60000000 > p_now_us THEN
            RETURN QUERY SELECT 2::SMALLINT, v_used,
                ((v_key_new - 60000000 - p_now_us + 999) / 1000)::BIGINT, 0::BIGINT;
            RETURN;
        END IF;
        UPDATE rate_windows r SET tat_us = v_key_new
         WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.customer_id = p_key;
    END IF;
    -- Both windows admitted the call: only now is the customer's written.
    IF p_rate IS NOT NULL THEN
        UPDATE rate_windows r SET tat_us = v_new_tat
         WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.customer_id = p_customer;
    END IF;
    UPDATE usage_counters u SET used = u.used + p_amount, updated_at = p_now
     WHERE u.platform_id = p_platform AND u.mode = p_mode AND u.meter = p_meter
       AND u.period_start = p_period AND u.customer_id = p_customer
    RETURNING u.used INTO v_used;
    IF v_spent > 0 THEN
        UPDATE credit_balances b SET balance = b.balance - v_spent
         WHERE b.platform_id = p_platform AND b.mode = p_mode
           AND b.customer_id = p_customer AND b.meter = p_meter;
    END IF;
    IF p_receipt IS NOT NULL THEN
        DELETE FROM usage_receipts r
         WHERE r.platform_id = p_platform AND r.mode = p_mode AND r.created_at <= v_cutoff;
        INSERT INTO usage_receipts (platform_id, mode, receipt, used, credits_spent, created_at)
        VALUES (p_platform, p_mode, p_receipt, v_used, v_spent, p_now)
        ON CONFLICT (platform_id, mode, receipt)
        DO UPDATE SET used = EXCLUDED.used, credits_spent = EXCLUDED.credits_spent,
                      created_at = EXCLUDED.created_at;
    END IF;
    RETURN QUERY SELECT 0::SMALLINT, v_used, 0::BIGINT, v_spent;
END;
$$;

-- Decides the consumes of the arrays (element i of every array is one call of
-- `dream_consume`) as if each were a `dream_consume` call, in array order, and
-- returns one row per consume in that order. The caller sorts the consumes by
-- (platform, mode, customer, meter, period), keeping arrival order within one
-- counter, and never sends one customer under two counters (group commit closes
-- the batch there), so every batch locks rows in one global order (no deadlock
-- between batches) and each counter row, credit balance and rate window is
-- locked, read and written once per batch, with the decisions made in variables
-- in between. A consume with a receipt writes its receipt at once, so a later
-- retry of the same receipt in the batch replays it.
CREATE FUNCTION dream_consume_batch(
    p_platform TEXT[], p_mode TEXT[], p_customer TEXT[], p_meter TEXT[],
    p_period TIMESTAMPTZ[], p_amount BIGINT[], p_limit BIGINT[], p_rate INTEGER[],
    p_now TIMESTAMPTZ[], p_now_us BIGINT[], p_receipt TEXT[], p_key TEXT[],
    p_key_rate INTEGER[], p_key_cost BIGINT[]
) RETURNS TABLE (outcome SMALLINT, used BIGINT, retry_after_ms BIGINT, credits_spent BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    n                 INTEGER := coalesce(cardinality(p_platform), 0);
    i                 INTEGER := 1;
    j                 INTEGER;
    k                 INTEGER;
    v_used            BIGINT;
    v_updated         TIMESTAMPTZ;
    v_tat             BIGINT;
    v_tat_loaded      BOOLEAN;
    v_tat_changed     BOOLEAN;
    v_balance         BIGINT;
    v_balance_loaded  BOOLEAN;
    v_balance_changed BOOLEAN;
    v_spent           BIGINT;
    v_swept           BOOLEAN;
    v_replay          BIGINT;
    v_replay_spent    BIGINT;
    v_interval        BIGINT;
    v_new_tat         BIGINT;
    v_key_tat         BIGINT;
    v_key_new         BIGINT;
    v_key_loaded      BOOLEAN;
    v_key_changed     BOOLEAN;
    v_cutoff          TIMESTAMPTZ;
BEGIN
    WHILE i <= n LOOP
        -- The group: the consecutive consumes of one counter.
        j := i;
        WHILE j < n AND p_platform[j + 1] = p_platform[i] AND p_mode[j + 1] = p_mode[i]
              AND p_customer[j + 1] = p_customer[i] AND p_meter[j + 1] = p_meter[i]
              AND p_period[j + 1] = p_period[i] LOOP
            j := j + 1;
        END LOOP;
        SELECT u.used INTO v_used FROM usage_counters u
         WHERE u.platform_id = p_platform[i] AND u.mode = p_mode[i] AND u.meter = p_meter[i]
           AND u.period_start = p_period[i] AND u.customer_id = p_customer[i]
           FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO usage_counters AS u
                (platform_id, mode, meter, period_start, customer_id, used, updated_at)
            VALUES (p_platform[i], p_mode[i], p_meter[i], p_period[i], p_customer[i], 0, NULL)
            ON CONFLICT DO NOTHING;
            SELECT u.used INTO v_used FROM usage_counters u
             WHERE u.platform_id = p_platform[i] AND u.mode = p_mode[i]
               AND u.meter = p_meter[i] AND u.period_start = p_period[i]
               AND u.customer_id = p_customer[i]
               FOR UPDATE;
        END IF;
        v_updated := NULL;
        v_tat_loaded := FALSE;
        v_tat_changed := FALSE;
        v_key_loaded := FALSE;
        v_key_changed := FALSE;
        v_balance_loaded := FALSE;
        v_balance_changed := FALSE;
        v_swept := FALSE;
        FOR k IN i..j LOOP
            v_cutoff := p_now[k] - INTERVAL '25 hours';
            IF p_receipt[k] IS NOT NULL THEN
                SELECT r.used, r.credits_spent INTO v_replay, v_replay_spent FROM usage_receipts r
                 WHERE r.platform_id = p_platform[k] AND r.mode = p_mode[k]
                   AND r.receipt = p_receipt[k] AND r.created_at > v_cutoff;
                IF FOUND THEN
                    outcome := 0; used := v_replay; retry_after_ms := 0;
                    credits_spent := v_replay_spent;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
            END IF;
            v_spent := 0;
            IF p_limit[k] IS NOT NULL AND v_used + p_amount[k] > p_limit[k] THEN
                IF NOT v_balance_loaded THEN
                    SELECT b.balance INTO v_balance FROM credit_balances b
                     WHERE b.platform_id = p_platform[k] AND b.mode = p_mode[k]
                       AND b.customer_id = p_customer[k] AND b.meter = p_meter[k]
                       FOR UPDATE;
                    IF NOT FOUND THEN
                        v_balance := 0;
                    END IF;
                    v_balance_loaded := TRUE;
                END IF;
                v_spent := p_amount[k] - GREATEST(p_limit[k] - v_used, 0);
                IF v_spent > v_balance THEN
                    outcome := 1; used := v_used; retry_after_ms := 0; credits_spent := 0;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
            END IF;
            IF p_rate[k] IS NOT NULL THEN
                IF NOT v_tat_loaded THEN
                    v_tat := dream_lock_rate_window(p_platform[k], p_mode[k], p_customer[k]);
                    v_tat_loaded := TRUE;
                END IF;
                v_interval := 60000000 / p_rate[k];
                v_new_tat := GREATEST(v_tat, p_now_us[k]) + v_interval * p_amount[k];
                IF v_new_tat - 60000000 > p_now_us[k] THEN
                    outcome := 2; used := v_used; credits_spent := 0;
                    retry_after_ms := (v_new_tat - 60000000 - p_now_us[k] + 999) / 1000;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
            END IF;
            IF p_key_rate[k] IS NOT NULL THEN
                -- Group commit sends one key window per customer and batch.
                IF NOT v_key_loaded THEN
                    v_key_tat := dream_lock_rate_window(p_platform[k], p_mode[k], p_key[k]);
                    v_key_loaded := TRUE;
                END IF;
                v_key_new := GREATEST(v_key_tat, p_now_us[k])
                    + (60000000 / p_key_rate[k]) * p_key_cost[k];
                IF v_key_new - 60000000 > p_now_us[k] THEN
                    outcome := 2; used := v_used; credits_spent := 0;
                    retry_after_ms := (v_key_new - 60000000 - p_now_us[k] + 999) / 1000;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
                v_key_tat := v_key_new;
                v_key_changed := TRUE;
            END IF;
            -- Both windows admitted the call: only now does the customer's move.
            IF p_rate[k] IS NOT NULL THEN
                v_tat := v_new_tat;
                v_tat_changed := TRUE;
            END IF;
            v_used := v_used + p_amount[k];
            v_updated := p_now[k];
            IF v_spent > 0 THEN
                v_balance := v_balance - v_spent;
                v_balance_changed := TRUE;
            END IF;
            IF p_receipt[k] IS NOT NULL THEN
                IF NOT v_swept THEN
                    DELETE FROM usage_receipts r
                     WHERE r.platform_id = p_platform[k] AND r.mode = p_mode[k]
                       AND r.created_at <= v_cutoff;
                    v_swept := TRUE;
                END IF;
                INSERT INTO usage_receipts
                    (platform_id, mode, receipt, used, credits_spent, created_at)
                VALUES (p_platform[k], p_mode[k], p_receipt[k], v_used, v_spent, p_now[k])
                ON CONFLICT (platform_id, mode, receipt)
                DO UPDATE SET used = EXCLUDED.used, credits_spent = EXCLUDED.credits_spent,
                              created_at = EXCLUDED.created_at;
            END IF;
            outcome := 0; used := v_used; retry_after_ms := 0; credits_spent := v_spent;
            RETURN NEXT;
        END LOOP;
        IF v_updated IS NOT NULL THEN
            UPDATE usage_counters u SET used = v_used, updated_at = v_updated
             WHERE u.platform_id = p_platform[i] AND u.mode = p_mode[i] AND u.meter = p_meter[i]
               AND u.period_start = p_period[i] AND u.customer_id = p_customer[i];
        END IF;
        IF v_balance_changed THEN
            UPDATE credit_balances b SET balance = v_balance
             WHERE b.platform_id = p_platform[i] AND b.mode = p_mode[i]
               AND b.customer_id = p_customer[i] AND b.meter = p_meter[i];
        END IF;
        IF v_tat_changed THEN
            UPDATE rate_windows r SET tat_us = v_tat
             WHERE r.platform_id = p_platform[i] AND r.mode = p_mode[i]
               AND r.customer_id = p_customer[i];
        END IF;
        IF v_key_changed THEN
            UPDATE rate_windows r SET tat_us = v_key_tat
             WHERE r.platform_id = p_platform[i] AND r.mode = p_mode[i]
               AND r.customer_id = p_key[i];
        END IF;
        i := j + 1;
    END LOOP;
END;
$$;
