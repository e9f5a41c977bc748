//! The idempotency-key port: claim, complete or release a request's key atomically.

use async_trait::async_trait;

use crate::{IdempotencyClaim, IdempotencyScope, IdempotencyTimes, StoreError, StoredResponse};

/// Idempotency keys: claim, then complete or release; all atomic per scope.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Atomically: if the scope has no live entry (none, expired, or a claim older
    /// than the lock timeout), record a claim with `fingerprint` and return
    /// `Claimed`. Otherwise compare fingerprints: different → `Mismatch`; same and
    /// completed → `Completed`; same and running → `InFlight`.
    async fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &[u8; 32],
        times: &IdempotencyTimes,
    ) -> Result<IdempotencyClaim, StoreError>;

    /// Stores the response of a claimed request.
    async fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;

    /// Forgets a claim whose request did not complete, so the client may retry.
    async fn release_idempotency_key(&self, scope: &IdempotencyScope) -> Result<(), StoreError>;
}
