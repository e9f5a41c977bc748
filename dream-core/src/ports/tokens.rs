//! The sign-in token port: end customers' refresh-token families and the keys
//! that sign access tokens.
//!
//! Access tokens are stateless and never stored. Failed end-user logins are
//! counted by [`AccountStore`](super::AccountStore)'s login-failure methods
//! under a key that names the tenant (one throttling mechanism for both doors).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    CustomerId, RefreshDigest, RefreshFamily, RefreshOutcome, SigningKeyRecord, StoreError, Tenant,
};

/// Refresh-token families and signing keys.
///
/// Object-safe (`#[async_trait]`) like every port, so the server can pick the
/// backend at run time. Every decision that must hold across processes is one
/// method: rotation (with reuse detection), revocation, and the first key.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new family with `first` as its current token. `Conflict` if the
    /// family id or the digest exists.
    async fn insert_refresh_family(
        &self,
        family: &RefreshFamily,
        first: &RefreshDigest,
    ) -> Result<(), StoreError>;

    /// Presents `presented` for rotation, atomically:
    /// - the current token of a live family of `tenant` (not revoked, `now`
    ///   before `expires_at`): `next` becomes current, `presented` stops
    ///   working → [`RefreshOutcome::Rotated`];
    /// - a token the family issued before (already rotated away): the family is
    ///   revoked at `now` → [`RefreshOutcome::Reused`];
    /// - a token of a revoked or expired family → [`RefreshOutcome::Ended`];
    /// - anything else, including another tenant's token → [`RefreshOutcome::Unknown`].
    ///
    /// Of concurrent rotations of one token exactly one is `Rotated`.
    async fn rotate_refresh_token(
        &self,
        tenant: &Tenant,
        presented: &RefreshDigest,
        next: &RefreshDigest,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError>;

    /// Revokes the family of `tenant` that issued `presented` (current or
    /// older token). `false` when no such family is live.
    async fn revoke_refresh_family(
        &self,
        tenant: &Tenant,
        presented: &RefreshDigest,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Revokes every live family of the customer; answers how many.
    async fn revoke_customer_refresh_families(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Deletes up to `batch` families that can no longer refresh (expired at
    /// `now`, or revoked), with every token they issued; answers how many. A
    /// token of a deleted family is then unknown, which refuses it exactly as a
    /// lapsed family did. Safe from several processes at once.
    async fn delete_lapsed_refresh_families(
        &self,
        now: DateTime<Utc>,
        batch: usize,
    ) -> Result<u64, StoreError>;

    /// Stores `key` as the current signing key unless one is current already,
    /// and answers the current key: of processes starting together, all get
    /// the same key.
    async fn insert_signing_key_if_absent(
        &self,
        key: &SigningKeyRecord,
    ) -> Result<SigningKeyRecord, StoreError>;

    /// Retires the current key at `now` (if any) and makes `next` current, in
    /// one step. `Conflict` when a concurrent rotation won.
    async fn rotate_signing_key(
        &self,
        next: &SigningKeyRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The current key and the keys retired after `retired_after`, current
    /// first, then newest retired first.
    async fn signing_keys(
        &self,
        retired_after: DateTime<Utc>,
    ) -> Result<Vec<SigningKeyRecord>, StoreError>;
}
