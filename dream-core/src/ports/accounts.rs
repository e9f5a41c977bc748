//! The account port: developer accounts, their sessions and failed logins.
//!
//! Sessions are read from the store on every request, never cached: deleting one
//! (logout, password change) must end it in every process at once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    Account, AccountId, LoginAttemptId, LoginFailures, PasswordHash, Session, SessionDigest,
    StoreError,
};

/// Accounts, sessions and login failures.
///
/// Object-safe (`#[async_trait]`) like every port, so the server can pick the
/// backend at run time.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores a new account. `Conflict` when an account has the same email
    /// compared case-insensitively ([`email_key`](crate::email_key)), decided
    /// atomically: of concurrent sign-ups with one email exactly one succeeds.
    async fn insert_account(&self, account: &Account) -> Result<(), StoreError>;

    /// The account, if it exists.
    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;

    /// The account whose email has this [`email_key`](crate::email_key).
    async fn find_account_by_email(&self, email_key: &str) -> Result<Option<Account>, StoreError>;

    /// Replaces the password and, in the same atomic step, deletes every session
    /// of the account except `keep`. `NotFound` if the account does not exist.
    async fn set_account_password(
        &self,
        id: &AccountId,
        hash: &PasswordHash,
        keep: Option<&SessionDigest>,
    ) -> Result<(), StoreError>;

    /// Stores a new session. `Conflict` if the digest exists.
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The session with this digest, if it exists (expired or not: the caller
    /// applies the policy).
    async fn find_session(&self, digest: &SessionDigest) -> Result<Option<Session>, StoreError>;

    /// Sets the session's `last_seen_at` (no-op when it no longer exists).
    async fn touch_session(
        &self,
        digest: &SessionDigest,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Deletes the session; deleting a missing one is not an error.
    async fn delete_session(&self, digest: &SessionDigest) -> Result<(), StoreError>;

    /// Records login attempt `attempt` of `email_key` at `at` as a failure and
    /// answers the failures after `since` (strictly) including this one, in one atomic
    /// step: of concurrent attempts, each sees a distinct count (failures before
    /// `since` may be forgotten). Strictly after: a failure exactly one window old
    /// no longer counts, so `Retry-After` is exact.
    async fn record_login_failure(
        &self,
        email_key: &str,
        attempt: &LoginAttemptId,
        at: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures, StoreError>;

    /// Forgets attempt `attempt` (it succeeded, or was refused without a password
    /// check); forgetting a missing one is not an error.
    async fn forget_login_failure(
        &self,
        email_key: &str,
        attempt: &LoginAttemptId,
    ) -> Result<(), StoreError>;

    /// The failed logins of `email_key` after `since` (strictly).
    async fn login_failures(
        &self,
        email_key: &str,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures, StoreError>;
}
