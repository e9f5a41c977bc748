//! Types of the idempotency-key port.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Tenant;

/// Where an idempotency key lives: per tenant and endpoint, so tenant A can never
/// be served tenant B's stored response (it may hold a shown-once secret).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdempotencyScope {
    /// Tenant, or the admin scope's pseudo-tenant.
    pub tenant: Tenant,
    /// `POST /api/data` etc.
    pub endpoint: String,
    /// The client's `Idempotency-Key`.
    pub key: String,
}

/// A response kept for replay, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers worth replaying (content type, rate-limit headers).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Identifies one claim of a key. Completing or releasing needs it, so a request
/// whose lock expired and whose key was claimed again cannot complete or release
/// the newer claim (both would otherwise run and the slower one win).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimToken([u8; 16]);

impl ClaimToken {
    /// A fresh random token (backends call this when they record a claim).
    pub fn generate() -> Self {
        Self(crate::ids::random_bytes::<16>())
    }

    /// Rebuilds a stored token.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// The outcome of claiming a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use: run the request, then complete or release the key with this token.
    Claimed(ClaimToken),
    /// A request with this key is still running.
    InFlight,
    /// Same key, same request: replay this.
    Completed(StoredResponse),
    /// Same key, different request.
    Mismatch,
}

/// How long keys live.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyTimes {
    /// Now.
    pub now: DateTime<Utc>,
    /// Completed responses are kept at least this long (24 h).
    pub retention: chrono::Duration,
    /// A claim that is neither completed nor released within this time (a crashed
    /// request) may be claimed again.
    pub lock_timeout: chrono::Duration,
}

impl IdempotencyTimes {
    /// 24 h retention, 5 min lock timeout (longer than any request: see
    /// `DREAM_IDEMPOTENCY_LOCK_SECS`).
    pub fn standard(now: DateTime<Utc>) -> Self {
        Self {
            now,
            retention: chrono::Duration::hours(24),
            lock_timeout: chrono::Duration::minutes(5),
        }
    }
}
