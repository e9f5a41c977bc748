//! Platforms and tier configuration.

use serde_json::json;

use crate::{validate_tiers, CoreError, EventKind, Platform, PlatformId, Tenant, Tier, TierConfig};

use super::Dream;

impl Dream {
    /// Creates a platform (a developer's app).
    pub async fn create_platform(&self, name: Option<String>) -> Result<Platform, CoreError> {
        if let Some(name) = &name {
            if name.chars().count() > 200 {
                return Err(CoreError::invalid("/name", "at most 200 characters"));
            }
        }
        let platform = Platform {
            id: PlatformId::generate(),
            name,
            created_at: self.now(),
        };
        self.stores.platforms.insert_platform(&platform).await?;
        Ok(platform)
    }

    /// The platform, or `NotFound`.
    pub async fn platform(&self, id: &PlatformId) -> Result<Platform, CoreError> {
        self.stores
            .platforms
            .get_platform(id)
            .await?
            .ok_or(CoreError::NotFound("platform"))
    }

    /// Replaces the tenant's offered tiers. Tiers not listed are archived, not
    /// deleted: customers on them keep their plan and limits.
    pub async fn configure_tiers(
        &self,
        tenant: &Tenant,
        tiers: Vec<Tier>,
    ) -> Result<TierConfig, CoreError> {
        validate_tiers(&tiers)?;
        self.platform(&tenant.platform).await?;
        let current = self.tier_config(tenant).await?;
        let next = current.replace_with(tiers, self.now());
        self.stores.platforms.put_tier_config(tenant, &next).await?;
        let names: Vec<&str> = next.active().map(|t| t.name.as_str()).collect();
        self.emit(
            tenant,
            EventKind::TiersUpdated,
            None,
            json!({ "tiers": names }),
        )
        .await;
        Ok(next)
    }

    /// The tenant's tiers (empty when none were configured).
    pub async fn tier_config(&self, tenant: &Tenant) -> Result<TierConfig, CoreError> {
        Ok(self
            .stores
            .platforms
            .get_tier_config(tenant)
            .await?
            .unwrap_or_default())
    }
}
