//! Platforms and their tier configurations in memory (and the key map they share a lock with).

use std::collections::HashMap;

use async_trait::async_trait;
use dream_core::{
    ports::PlatformStore, AccountId, KeyDigest, KeyId, KeyRecord, Platform, PlatformId, StoreError,
    Tenant, TierConfig,
};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct PlatformsAndKeys {
    pub(super) platforms: HashMap<PlatformId, Platform>,
    pub(super) tiers: HashMap<Tenant, TierConfig>,
    pub(super) keys: HashMap<KeyId, KeyRecord>,
    pub(super) key_by_digest: HashMap<KeyDigest, KeyId>,
    pub(super) key_by_publishable: HashMap<String, KeyId>,
    /// Allowed browser origins per platform; absent = none set.
    pub(super) allowed_origins: HashMap<PlatformId, Vec<String>>,
}

#[async_trait]
impl PlatformStore for MemoryStore {
    async fn insert_platform(&self, platform: &Platform) -> Result<(), StoreError> {
        let mut c = lock(&self.platforms);
        if c.platforms.contains_key(&platform.id) {
            return Err(StoreError::Conflict("platform id exists"));
        }
        c.platforms.insert(platform.id.clone(), platform.clone());
        Ok(())
    }

    async fn get_platform(&self, id: &PlatformId) -> Result<Option<Platform>, StoreError> {
        Ok(lock(&self.platforms).platforms.get(id).cloned())
    }

    async fn list_platforms_by_owner(
        &self,
        owner: &AccountId,
    ) -> Result<Vec<Platform>, StoreError> {
        let mut owned: Vec<Platform> = lock(&self.platforms)
            .platforms
            .values()
            .filter(|p| p.is_owned_by(owner))
            .cloned()
            .collect();
        owned.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(owned)
    }

    async fn update_platform(&self, platform: &Platform) -> Result<(), StoreError> {
        let mut c = lock(&self.platforms);
        let stored = c
            .platforms
            .get_mut(&platform.id)
            .ok_or(StoreError::NotFound)?;
        stored.name.clone_from(&platform.name);
        stored.deleted_at = platform.deleted_at;
        Ok(())
    }

    async fn put_tier_config(
        &self,
        tenant: &Tenant,
        config: &TierConfig,
    ) -> Result<(), StoreError> {
        lock(&self.platforms)
            .tiers
            .insert(tenant.clone(), config.clone());
        Ok(())
    }

    async fn get_tier_config(&self, tenant: &Tenant) -> Result<Option<TierConfig>, StoreError> {
        Ok(lock(&self.platforms).tiers.get(tenant).cloned())
    }

    async fn put_allowed_origins(
        &self,
        platform: &PlatformId,
        origins: &[String],
    ) -> Result<bool, StoreError> {
        let mut c = lock(&self.platforms);
        if !c.platforms.contains_key(platform) {
            return Ok(false);
        }
        c.allowed_origins.insert(platform.clone(), origins.to_vec());
        Ok(true)
    }

    async fn get_allowed_origins(
        &self,
        platform: &PlatformId,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let c = lock(&self.platforms);
        Ok(c.platforms
            .contains_key(platform)
            .then(|| c.allowed_origins.get(platform).cloned().unwrap_or_default()))
    }
}
