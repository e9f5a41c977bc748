//! Customer keys in memory.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::CustomerKeyStore, CustomerId, CustomerKeyId, CustomerKeyRecord, KeyDigest, StoreError,
    Tenant,
};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct CustomerKeys {
    keys: HashMap<CustomerKeyId, CustomerKeyRecord>,
    by_digest: HashMap<KeyDigest, CustomerKeyId>,
}

impl MemoryStore {
    fn update_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
        change: impl FnOnce(&mut CustomerKeyRecord),
    ) -> Option<CustomerKeyRecord> {
        let mut c = lock(&self.customer_keys);
        c.keys.get_mut(id).filter(|k| &k.tenant == tenant).map(|k| {
            change(k);
            k.clone()
        })
    }
}

#[async_trait]
impl CustomerKeyStore for MemoryStore {
    async fn insert_customer_key(&self, key: &CustomerKeyRecord) -> Result<(), StoreError> {
        let mut c = lock(&self.customer_keys);
        if c.keys.contains_key(&key.id) || c.by_digest.contains_key(&key.digest) {
            return Err(StoreError::Conflict("customer key exists"));
        }
        c.by_digest.insert(key.digest, key.id.clone());
        c.keys.insert(key.id.clone(), key.clone());
        Ok(())
    }

    async fn find_customer_key_by_digest(
        &self,
        digest: &KeyDigest,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        let c = lock(&self.customer_keys);
        Ok(c.by_digest
            .get(digest)
            .and_then(|id| c.keys.get(id))
            .cloned())
    }

    async fn get_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        Ok(lock(&self.customer_keys)
            .keys
            .get(id)
            .filter(|k| &k.tenant == tenant)
            .cloned())
    }

    async fn list_customer_keys(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Vec<CustomerKeyRecord>, StoreError> {
        let c = lock(&self.customer_keys);
        let mut keys: Vec<CustomerKeyRecord> = c
            .keys
            .values()
            .filter(|k| &k.tenant == tenant && &k.customer == customer)
            .cloned()
            .collect();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn revoke_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        Ok(self.update_customer_key(tenant, id, |k| {
            k.revoked_at.get_or_insert(at);
        }))
    }

    async fn expire_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        Ok(self.update_customer_key(tenant, id, |k| {
            k.expires_at = Some(k.expires_at.map_or(at, |earlier| earlier.min(at)));
        }))
    }
}
