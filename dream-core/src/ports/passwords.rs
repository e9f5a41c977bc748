//! Password hashing as a port: Argon2id costs 19 MiB and tens of milliseconds per
//! call, so how many run at once is a resource decision for the runtime that embeds
//! the core (the server bounds it with a semaphore; `dream-core` has no runtime).

use async_trait::async_trait;

use crate::{CoreError, PasswordHash};

/// Hashes and verifies passwords.
///
/// An implementation may refuse with [`CoreError::Busy`] when it is at capacity,
/// rather than queueing without bound.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes an already validated password with Argon2id.
    async fn hash(&self, password: String) -> Result<PasswordHash, CoreError>;

    /// Whether `password` matches `hash`.
    async fn verify(&self, hash: PasswordHash, password: String) -> Result<bool, CoreError>;
}

/// Hashes on the calling task, without a bound: for embedders that run the core
/// on their own thread pool and bound concurrency themselves, and for tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct InlinePasswordHasher;

#[async_trait]
impl PasswordHasher for InlinePasswordHasher {
    async fn hash(&self, password: String) -> Result<PasswordHash, CoreError> {
        PasswordHash::hash(&password)
    }

    async fn verify(&self, hash: PasswordHash, password: String) -> Result<bool, CoreError> {
        Ok(hash.verify(&password))
    }
}
