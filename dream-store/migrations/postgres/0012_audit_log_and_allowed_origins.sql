-- The audit log of management actions, per platform, newest first by sequence.
-- `mode` is NULL for platform-wide actions; `actor` is `operator`, `system`,
-- `acc_…` or `key_…` (a key pair's id, never a key); `detail` is JSON without
-- secrets.
CREATE TABLE audit_log (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    platform_id TEXT COLLATE "C" NOT NULL,
    mode        TEXT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_id   TEXT,
    request_id  TEXT,
    detail      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_newest_first ON audit_log (platform_id, seq DESC);

-- Browser origins allowed to read a platform's publishable-key endpoints (CORS),
-- a JSON array of `scheme://host[:port]`.
ALTER TABLE platforms ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
