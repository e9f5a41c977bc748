//! The platform port: platforms and each tenant's tier configuration.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{AccountId, Platform, PlatformId, StoreError, Tenant, TierConfig};

/// Platforms and their per-mode tier configuration.
#[async_trait]
pub trait PlatformStore: Send + Sync {
    /// Stores a new platform. `Conflict` if the id exists.
    async fn insert_platform(&self, platform: &Platform) -> Result<(), StoreError>;

    /// The platform, if it exists.
    async fn get_platform(&self, id: &PlatformId) -> Result<Option<Platform>, StoreError>;

    /// The platforms `owner` owns and has not deleted, oldest first.
    async fn list_platforms_by_owner(&self, owner: &AccountId)
        -> Result<Vec<Platform>, StoreError>;

    /// Writes the platform's `name` and `deleted_at` (its id, owner and creation
    /// time never change). `NotFound` if it does not exist.
    async fn update_platform(&self, platform: &Platform) -> Result<(), StoreError>;

    /// Replaces the tenant's tier configuration.
    async fn put_tier_config(&self, tenant: &Tenant, config: &TierConfig)
        -> Result<(), StoreError>;

    /// The tenant's tier configuration, if one was ever stored.
    async fn get_tier_config(&self, tenant: &Tenant) -> Result<Option<TierConfig>, StoreError>;

    /// [`get_tier_config`](Self::get_tier_config) behind a shared pointer, for the
    /// hot path: a cache hands out its entry instead of a copy of every tier,
    /// feature and meter. The default wraps `get_tier_config`'s answer.
    async fn get_shared_tier_config(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<Arc<TierConfig>>, StoreError> {
        Ok(self.get_tier_config(tenant).await?.map(Arc::new))
    }

    /// Replaces the browser origins allowed to read the platform's public
    /// (publishable-key) endpoints. `false` if no such platform exists.
    async fn put_allowed_origins(
        &self,
        platform: &PlatformId,
        origins: &[String],
    ) -> Result<bool, StoreError>;

    /// The platform's allowed origins (empty when none were set), or `None` if no
    /// such platform exists.
    async fn get_allowed_origins(
        &self,
        platform: &PlatformId,
    ) -> Result<Option<Vec<String>>, StoreError>;
}
