-- Developer webhooks: the endpoints tenants register, one delivery per (event,
-- endpoint) and the log of each delivery's HTTP attempts.
--
-- Deliveries are inserted by `append_event` in the event's own transaction (the
-- event log is the outbox). Delivery workers in any number of processes claim
-- due rows with `FOR UPDATE … SKIP LOCKED` and stamp them with a lease (a random
-- token and an end time); an attempt is recorded only under the delivery's
-- current token, so a worker whose lease ran out cannot overwrite a newer one.
--
-- An endpoint owns its deliveries and they own their attempts (ON DELETE
-- CASCADE). `event_types` is `*` or comma-separated event names.

CREATE TABLE webhook_endpoints (
    id              TEXT COLLATE "C" PRIMARY KEY, -- `we_…`
    platform_id     TEXT COLLATE "C" NOT NULL,
    mode            TEXT NOT NULL,
    url             TEXT NOT NULL,
    description     TEXT,
    event_types     TEXT NOT NULL,
    secret          TEXT NOT NULL,                 -- `whsec_…`
    disabled_reason TEXT CHECK (disabled_reason IN ('manual', 'failing')), -- NULL: enabled
    failing_since   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (platform_id, mode, created_at);

CREATE TABLE webhook_deliveries (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT COLLATE "C" NOT NULL UNIQUE, -- `dlv_…`
    platform_id     TEXT COLLATE "C" NOT NULL,
    mode            TEXT NOT NULL,
    endpoint_id     TEXT COLLATE "C" NOT NULL
                        REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        TEXT COLLATE "C" NOT NULL,
    event_kind      TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ, -- NULL unless pending
    last_status     INTEGER,
    lease_token     TEXT COLLATE "C",
    lease_until     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL))
);
-- The claim's scan, in its order; only pending rows are ever due.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, seq)
    WHERE state = 'pending';
-- An endpoint's deliveries newest first; also serves the cascade on delete.
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, seq);

CREATE TABLE webhook_attempts (
    delivery_id TEXT COLLATE "C" NOT NULL
                    REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL CHECK (number >= 1),
    at          TIMESTAMPTZ NOT NULL,
    status      INTEGER,
    latency_ms  BIGINT NOT NULL CHECK (latency_ms >= 0),
    error       TEXT,
    PRIMARY KEY (delivery_id, number)
);
