//! Key pairs in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::KeyStore, KeyDigest, KeyId, KeyRecord, Mode, PlatformId, StoreError, Tenant,
};

use super::{lock, MemoryStore};

#[async_trait]
impl KeyStore for MemoryStore {
    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let mut c = lock(&self.platforms);
        if c.keys.contains_key(&key.id)
            || c.key_by_digest.contains_key(&key.secret_digest)
            || c.key_by_publishable.contains_key(&key.publishable_key)
        {
            return Err(StoreError::Conflict("key exists"));
        }
        c.key_by_digest.insert(key.secret_digest, key.id.clone());
        c.key_by_publishable
            .insert(key.publishable_key.clone(), key.id.clone());
        c.keys.insert(key.id.clone(), key.clone());
        Ok(())
    }

    async fn find_key_by_digest(
        &self,
        digest: &KeyDigest,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let c = lock(&self.platforms);
        Ok(c.key_by_digest
            .get(digest)
            .and_then(|id| c.keys.get(id))
            .cloned())
    }

    async fn find_key_by_publishable(
        &self,
        publishable_key: &str,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let c = lock(&self.platforms);
        Ok(c.key_by_publishable
            .get(publishable_key)
            .and_then(|id| c.keys.get(id))
            .cloned())
    }

    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        Ok(lock(&self.platforms).keys.get(id).cloned())
    }

    async fn list_keys(
        &self,
        platform: &PlatformId,
        mode: Option<Mode>,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        let c = lock(&self.platforms);
        let mut keys: Vec<KeyRecord> = c
            .keys
            .values()
            .filter(|k| &k.tenant.platform == platform && mode.is_none_or(|m| k.tenant.mode == m))
            .cloned()
            .collect();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn revoke_key(
        &self,
        id: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let mut c = lock(&self.platforms);
        Ok(c.keys.get_mut(id).map(|k| {
            k.revoked_at.get_or_insert(at);
            k.clone()
        }))
    }

    async fn expire_key(
        &self,
        id: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let mut c = lock(&self.platforms);
        Ok(c.keys.get_mut(id).map(|k| {
            k.expires_at = Some(k.expires_at.map_or(at, |earlier| earlier.min(at)));
            k.clone()
        }))
    }

    async fn count_active_keys(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Ok(lock(&self.platforms)
            .keys
            .values()
            .filter(|k| &k.tenant == tenant && k.is_active(now))
            .count())
    }
}
