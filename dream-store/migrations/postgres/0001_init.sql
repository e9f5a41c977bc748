-- dream: initial schema. Ids are compared byte-wise (COLLATE "C") so listing
-- order is the same as in every other backend.

CREATE TABLE platforms (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE tier_configs (
    platform_id TEXT COLLATE "C" NOT NULL,
    mode        TEXT NOT NULL,
    config      TEXT NOT NULL, -- JSON of dream_core::TierConfig
    PRIMARY KEY (platform_id, mode)
);

CREATE TABLE api_keys (
    id              TEXT COLLATE "C" PRIMARY KEY,
    platform_id     TEXT COLLATE "C" NOT NULL,
    mode            TEXT NOT NULL,
    publishable_key TEXT NOT NULL UNIQUE,
    secret_digest   BYTEA NOT NULL UNIQUE, -- SHA-256 of the secret; the secret is never stored
    secret_hint     TEXT NOT NULL,
    label           TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX api_keys_by_platform ON api_keys (platform_id, mode, created_at, id);

CREATE TABLE customers (
    platform_id   TEXT COLLATE "C" NOT NULL,
    mode          TEXT NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    external_id   TEXT,
    email         TEXT,
    first_name    TEXT,
    last_name     TEXT,
    plan          TEXT NOT NULL,
    password_hash TEXT,
    metadata      TEXT NOT NULL, -- JSON object of strings
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (platform_id, mode, id),
    UNIQUE (platform_id, mode, external_id)
);
CREATE INDEX customers_newest_first ON customers (platform_id, mode, created_at DESC, id DESC);

CREATE TABLE usage_counters (
    platform_id  TEXT COLLATE "C" NOT NULL,
    mode         TEXT NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    customer_id  TEXT COLLATE "C" NOT NULL,
    used         BIGINT NOT NULL,
    updated_at   TIMESTAMPTZ, -- last accepted consume; NULL while nothing was counted
    PRIMARY KEY (platform_id, mode, period_start, customer_id)
);
CREATE INDEX usage_counters_by_customer ON usage_counters (platform_id, mode, customer_id);

CREATE TABLE rate_windows (
    platform_id TEXT COLLATE "C" NOT NULL,
    mode        TEXT NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    tat_us      BIGINT NOT NULL, -- GCRA theoretical arrival time, µs since the epoch
    PRIMARY KEY (platform_id, mode, customer_id)
);

CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    platform_id TEXT COLLATE "C" NOT NULL,
    mode        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    customer_id TEXT,
    data        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_newest_first ON events (platform_id, mode, seq DESC);

CREATE TABLE idempotency_keys (
    platform_id TEXT COLLATE "C" NOT NULL,
    mode        TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint BYTEA NOT NULL,
    claimed_at  TIMESTAMPTZ NOT NULL,
    status      INTEGER, -- NULL while the request runs
    headers     TEXT,    -- JSON array of [name, value]
    body        BYTEA,
    PRIMARY KEY (platform_id, mode, endpoint, key)
);

-- The hot path in one round trip: check the usage limit, then the GCRA rate
-- window, and count both or neither. The counter row is created first so that
-- concurrent first consumes serialize on its row lock.
CREATE FUNCTION dream_consume(
    p_platform TEXT, p_mode TEXT, p_customer TEXT, p_period TIMESTAMPTZ,
    p_amount BIGINT, p_limit BIGINT, p_rate INTEGER, p_now TIMESTAMPTZ, p_now_us BIGINT
) RETURNS TABLE (outcome SMALLINT, used BIGINT, retry_after_ms BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_used     BIGINT;
    v_tat      BIGINT;
    v_interval BIGINT;
    v_new_tat  BIGINT;
BEGIN
    INSERT INTO usage_counters AS u (platform_id, mode, period_start, customer_id, used, updated_at)
    VALUES (p_platform, p_mode, p_period, p_customer, 0, NULL)
    ON CONFLICT DO NOTHING;
    SELECT u.used INTO v_used FROM usage_counters u
     WHERE u.platform_id = p_platform AND u.mode = p_mode
       AND u.period_start = p_period AND u.customer_id = p_customer
       FOR UPDATE;
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
    RETURN QUERY SELECT 0::SMALLINT, v_used, 0::BIGINT;
END;
$$;
