//! Idempotency keys in memory.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::IdempotencyStore, ClaimToken, IdempotencyClaim, IdempotencyScope, IdempotencyTimes,
    StoreError, StoredResponse,
};

use super::{lock, MemoryStore};

/// Above this many entries, a claim first drops the expired ones.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct Idempotency {
    entries: HashMap<IdempotencyScope, Entry>,
}

#[derive(Debug)]
struct Entry {
    fingerprint: [u8; 32],
    token: ClaimToken,
    claimed_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    response: Option<StoredResponse>,
}

impl Entry {
    fn is_live(&self, times: &IdempotencyTimes) -> bool {
        let ttl = if self.response.is_some() {
            times.retention
        } else {
            times.lock_timeout
        };
        self.claimed_at + ttl > times.now
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &[u8; 32],
        times: &IdempotencyTimes,
    ) -> Result<IdempotencyClaim, StoreError> {
        let mut idem = lock(&self.idempotency);
        if idem.entries.len() > SWEEP_ABOVE {
            idem.entries.retain(|_, e| e.is_live(times));
        }
        if let Some(entry) = idem.entries.get(scope).filter(|e| e.is_live(times)) {
            return Ok(if &entry.fingerprint != fingerprint {
                IdempotencyClaim::Mismatch
            } else {
                match &entry.response {
                    Some(response) => IdempotencyClaim::Completed(response.clone()),
                    None => IdempotencyClaim::InFlight,
                }
            });
        }
        let token = ClaimToken::generate();
        idem.entries.insert(
            scope.clone(),
            Entry {
                fingerprint: *fingerprint,
                token,
                claimed_at: times.now,
                expires_at: times.now + times.retention,
                response: None,
            },
        );
        Ok(IdempotencyClaim::Claimed(token))
    }

    async fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        token: &ClaimToken,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let mut idem = lock(&self.idempotency);
        let entry = idem
            .entries
            .get_mut(scope)
            .filter(|e| e.token == *token && e.response.is_none())
            .ok_or(StoreError::NotFound)?;
        entry.response = Some(response.clone());
        Ok(())
    }

    async fn release_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        token: &ClaimToken,
    ) -> Result<(), StoreError> {
        let mut idem = lock(&self.idempotency);
        if idem
            .entries
            .get(scope)
            .is_some_and(|e| e.token == *token && e.response.is_none())
        {
            idem.entries.remove(scope);
        }
        Ok(())
    }

    async fn purge_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut idem = lock(&self.idempotency);
        let before = idem.entries.len();
        idem.entries.retain(|_, e| e.expires_at > now);
        Ok((before - idem.entries.len()) as u64)
    }
}
