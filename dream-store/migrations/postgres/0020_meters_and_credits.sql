-- Meters and credits (issue #15). Each (customer, meter, period) is its own
-- counter: `meter` joins the primary key, and every existing row is the
-- `requests` meter. A customer's prepaid credits per meter are spent only past
-- the allowance, in the same decision as the count. Lock order of every consume:
-- the counter row, then the credit balance row, then the rate window (each
-- transaction holds at most one counter per customer), so none can deadlock.

ALTER TABLE usage_counters ADD COLUMN meter TEXT COLLATE "C" NOT NULL DEFAULT 'requests';
ALTER TABLE usage_counters DROP CONSTRAINT usage_counters_pkey,
    ADD PRIMARY KEY (platform_id, mode, meter, period_start, customer_id);

-- A replayed receipt answers the credits its first consume took.
ALTER TABLE usage_receipts ADD COLUMN credits_spent BIGINT NOT NULL DEFAULT 0;

CREATE TABLE credit_balances (
    platform_id TEXT COLLATE "C" NOT NULL,
    mode        TEXT NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    meter       TEXT COLLATE "C" NOT NULL,
    balance     BIGINT NOT NULL CHECK (balance >= 0),
    PRIMARY KEY (platform_id, mode, customer_id, meter)
);

-- Every grant once per grant id (per tenant), with the balance it produced: a
-- repeated grant id adds nothing and answers that balance.
CREATE TABLE credit_grants (
    platform_id   TEXT COLLATE "C" NOT NULL,
    mode          TEXT NOT NULL,
    grant_id      TEXT COLLATE "C" NOT NULL,
    customer_id   TEXT COLLATE "C" NOT NULL,
    meter         TEXT COLLATE "C" NOT NULL,
    amount        BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    reason        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (platform_id, mode, grant_id)
);

-- The new signatures take the meter and answer the credits spent: no stale
-- overload may stay callable.
DROP FUNCTION dream_consume(TEXT, TEXT, TEXT, TIMESTAMPTZ, BIGINT, BIGINT, INTEGER, TIMESTAMPTZ, BIGINT, TEXT);
DROP FUNCTION dream_consume_batch(TEXT[], TEXT[], TEXT[], TIMESTAMPTZ[], BIGINT[], BIGINT[], INTEGER[], TIMESTAMPTZ[], BIGINT[], TEXT[]);

-- One consume. The fast UPDATE decides the common case (no receipt, no rate
-- limit, within the allowance) alone; anything else locks the counter, then (only
-- when the allowance cannot hold the amount) the credit balance, then the rate
-- window, and decides as `dream_core::decide_usage` does: the allowance first,
-- then credits, all or nothing.
CREATE FUNCTION dream_consume(
    p_platform TEXT, p_mode TEXT, p_customer TEXT, p_meter TEXT, p_period TIMESTAMPTZ,
    p_amount BIGINT, p_limit BIGINT, p_rate INTEGER, p_now TIMESTAMPTZ, p_now_us BIGINT,
    p_receipt TEXT
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
    v_cutoff   TIMESTAMPTZ := p_now - INTERVAL '25 hours';
BEGIN
    IF p_receipt IS NULL AND p_rate IS NULL THEN
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
                ((v_new_tat - 60000000 - p_now_us + 999) / 1000)::BIGINT, 0::BIGINT;
            RETURN;
        END IF;
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
    p_now TIMESTAMPTZ[], p_now_us BIGINT[], p_receipt TEXT[]
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
                    outcome := 2; used := v_used; credits_spent := 0;
                    retry_after_ms := (v_new_tat - 60000000 - p_now_us[k] + 999) / 1000;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
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
        i := j + 1;
    END LOOP;
END;
$$;
