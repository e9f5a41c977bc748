//! Refresh families and signing keys in memory, under one lock: every decision
//! (rotation, reuse, revocation, the first key) happens inside it.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::TokenStore, CustomerId, RefreshDigest, RefreshFamily, RefreshFamilyId, RefreshOutcome,
    SigningKeyRecord, StoreError, Tenant,
};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct Tokens {
    families: HashMap<RefreshFamilyId, (RefreshFamily, RefreshDigest)>,
    /// Every digest a family issued, current or rotated away.
    issued: HashMap<RefreshDigest, RefreshFamilyId>,
    keys: Vec<SigningKeyRecord>,
}

impl Tokens {
    fn family_of(
        &mut self,
        tenant: &Tenant,
        digest: &RefreshDigest,
    ) -> Option<&mut (RefreshFamily, RefreshDigest)> {
        let id = self.issued.get(digest)?;
        self.families
            .get_mut(id)
            .filter(|(family, _)| &family.tenant == tenant)
    }
}

fn live(family: &RefreshFamily, now: DateTime<Utc>) -> bool {
    family.revoked_at.is_none() && now < family.expires_at
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn insert_refresh_family(
        &self,
        family: &RefreshFamily,
        first: &RefreshDigest,
    ) -> Result<(), StoreError> {
        let mut t = lock(&self.tokens);
        if t.families.contains_key(&family.id) || t.issued.contains_key(first) {
            return Err(StoreError::Conflict("refresh family or token exists"));
        }
        t.issued.insert(*first, family.id.clone());
        t.families
            .insert(family.id.clone(), (family.clone(), *first));
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        tenant: &Tenant,
        presented: &RefreshDigest,
        next: &RefreshDigest,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut t = lock(&self.tokens);
        if t.issued.contains_key(next) {
            return Err(StoreError::Conflict("refresh token exists"));
        }
        let Some((family, current)) = t.family_of(tenant, presented) else {
            return Ok(RefreshOutcome::Unknown);
        };
        if !live(family, now) {
            return Ok(RefreshOutcome::Ended);
        }
        if current != presented {
            family.revoked_at = Some(now);
            return Ok(RefreshOutcome::Reused);
        }
        *current = *next;
        let family = family.clone();
        t.issued.insert(*next, family.id.clone());
        Ok(RefreshOutcome::Rotated(family))
    }

    async fn revoke_refresh_family(
        &self,
        tenant: &Tenant,
        presented: &RefreshDigest,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut t = lock(&self.tokens);
        match t.family_of(tenant, presented) {
            Some((family, _)) if live(family, now) => {
                family.revoked_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_customer_refresh_families(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut t = lock(&self.tokens);
        let mut n = 0;
        for (family, _) in t.families.values_mut() {
            if &family.tenant == tenant && &family.customer == customer && live(family, now) {
                family.revoked_at = Some(now);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn delete_lapsed_refresh_families(
        &self,
        now: DateTime<Utc>,
        batch: usize,
    ) -> Result<u64, StoreError> {
        let mut t = lock(&self.tokens);
        let lapsed: Vec<RefreshFamilyId> = t
            .families
            .iter()
            .filter(|(_, (family, _))| !live(family, now))
            .map(|(id, _)| id.clone())
            .take(batch)
            .collect();
        for id in &lapsed {
            t.families.remove(id);
        }
        t.issued.retain(|_, family| !lapsed.contains(family));
        Ok(lapsed.len() as u64)
    }

    async fn insert_signing_key_if_absent(
        &self,
        key: &SigningKeyRecord,
    ) -> Result<SigningKeyRecord, StoreError> {
        let mut t = lock(&self.tokens);
        if let Some(current) = t.keys.iter().find(|k| k.retired_at.is_none()) {
            return Ok(current.clone());
        }
        if t.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Conflict("signing key id exists"));
        }
        let mut key = key.clone();
        key.retired_at = None;
        t.keys.push(key.clone());
        Ok(key)
    }

    async fn rotate_signing_key(
        &self,
        next: &SigningKeyRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut t = lock(&self.tokens);
        if t.keys.iter().any(|k| k.kid == next.kid) {
            return Err(StoreError::Conflict("signing key id exists"));
        }
        for key in t.keys.iter_mut().filter(|k| k.retired_at.is_none()) {
            key.retired_at = Some(now);
        }
        let mut next = next.clone();
        next.retired_at = None;
        t.keys.push(next);
        Ok(())
    }

    async fn signing_keys(
        &self,
        retired_after: DateTime<Utc>,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let t = lock(&self.tokens);
        let mut keys: Vec<SigningKeyRecord> = t
            .keys
            .iter()
            .filter(|k| k.retired_at.is_none_or(|at| at > retired_after))
            .cloned()
            .collect();
        // Current first, then newest retired first (`None` sorts before `Some`
        // when reversed through `Reverse`).
        keys.sort_by_key(|k| (k.retired_at.is_some(), std::cmp::Reverse(k.retired_at)));
        Ok(keys)
    }
}
