-- Developer accounts (issue #11): accounts, their sessions (stored as SHA-256
-- digests of the cookie token), failed logins for throttling, and which account
-- owns a platform (NULL: an operator's platform).
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    -- lower(email): the uniqueness and throttling key, set by the application.
    email_key TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE account_sessions (
    digest BLOB PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX account_sessions_account ON account_sessions (account_id);

-- One row per login attempt being checked or failed (a success deletes its row).
CREATE TABLE login_failures (
    email_key TEXT NOT NULL,
    attempt TEXT NOT NULL,
    failed_at INTEGER NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email_key, failed_at);

ALTER TABLE platforms ADD COLUMN owner TEXT REFERENCES accounts (id);
ALTER TABLE platforms ADD COLUMN deleted_at INTEGER;
CREATE INDEX platforms_owner ON platforms (owner, created_at);
