//! The idempotency-key port: claim, complete or release a request's key atomically.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    ClaimToken, IdempotencyClaim, IdempotencyScope, IdempotencyTimes, StoreError, StoredResponse,
};

/// Idempotency keys: claim, then complete or release; all atomic per scope.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Atomically: if the scope has no live entry (none, expired, or a claim older
    /// than the lock timeout), record a claim with `fingerprint` and a fresh
    /// [`ClaimToken`] and return `Claimed(token)`. Otherwise compare fingerprints: different → `Mismatch`; same and
    /// completed → `Completed`; same and running → `InFlight`.
    async fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &[u8; 32],
        times: &IdempotencyTimes,
    ) -> Result<IdempotencyClaim, StoreError>;

    /// Stores the response of the claim `token`, atomically and only while that
    /// claim is the key's current, unfinished one; otherwise (taken over after the
    /// lock timeout, released, completed) changes nothing and returns `NotFound`.
    async fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        token: &ClaimToken,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;

    /// Forgets the claim `token` if it is still the key's current, unfinished
    /// claim, so the client may retry; otherwise changes nothing.
    async fn release_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        token: &ClaimToken,
    ) -> Result<(), StoreError>;

    /// Deletes every entry whose retention (from its claim's
    /// [`IdempotencyTimes::retention`]) has passed by `now`, completed or not, and
    /// returns how many. Entries still within their retention are untouched, so a
    /// sweep never changes what a claim would answer.
    async fn purge_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
