//! Platforms and tier configuration, and `/create-products`: a platform's tiers
//! configured, synced to Stripe and its first key pair issued in one call.

use serde_json::json;

use crate::{
    validate_tiers, AccountId, CoreError, EventKind, Mode, Platform, PlatformId, SecretKey, Tenant,
    Tier, TierConfig,
};

use super::{Dream, TierPriceIds};

/// What [`Dream::create_products`] set up.
#[derive(Debug)]
pub struct ProductsCreated {
    /// The platform (created when none was named).
    pub platform: Platform,
    /// The tenant the tiers belong to.
    pub tenant: Tenant,
    /// The tiers after the Stripe sync.
    pub config: TierConfig,
    /// Stripe ids per tier (`None` for free tiers or without Stripe).
    pub price_ids: Vec<TierPriceIds>,
    /// An active publishable key of the tenant.
    pub publishable_key: String,
    /// The secret key, only when this call issued the tenant's first pair: a
    /// secret is shown once.
    pub secret_key: Option<SecretKey>,
}

impl Dream {
    /// Creates a platform (a developer's app) that no account owns.
    pub async fn create_platform(&self, name: Option<String>) -> Result<Platform, CoreError> {
        self.insert_platform(name, None).await
    }

    /// Creates a platform owned by `owner` (or by nobody: an operator's).
    pub(super) async fn insert_platform(
        &self,
        name: Option<String>,
        owner: Option<AccountId>,
    ) -> Result<Platform, CoreError> {
        if let Some(name) = &name {
            validate_platform_name(name)?;
        }
        let platform = Platform {
            id: PlatformId::generate(),
            name,
            created_at: self.now(),
            owner,
            deleted_at: None,
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

    /// The seeds' `/create-products`: replaces `mode`'s tiers of `platform` (a new
    /// platform when `None`), syncs them to Stripe when connected, and issues a
    /// key pair when the tenant has no active one.
    ///
    /// Stripe is synced before keys are issued: if Stripe fails, the caller
    /// retries without having lost a shown-once secret.
    pub async fn create_products(
        &self,
        platform: Option<&PlatformId>,
        mode: Mode,
        tiers: Vec<Tier>,
    ) -> Result<ProductsCreated, CoreError> {
        validate_tiers(&tiers)?;
        let platform = match platform {
            Some(id) => self.platform(id).await?,
            None => self.create_platform(None).await?,
        };
        let tenant = Tenant::new(platform.id.clone(), mode);
        self.configure_tiers(&tenant, tiers).await?;
        let config = self.sync_tiers_if_connected(&tenant).await?;
        let price_ids = self.price_ids(&tenant, &config).await?;
        let now = self.now();
        let active = self
            .list_keys(&platform.id, Some(mode))
            .await?
            .into_iter()
            .rev()
            .find(|k| k.is_active(now));
        let (publishable_key, secret_key) = match active {
            Some(key) => (key.publishable_key, None),
            None => {
                let issued = self
                    .issue_key(&tenant, Some("default".into()), None)
                    .await?;
                (issued.record.publishable_key, Some(issued.secret))
            }
        };
        Ok(ProductsCreated {
            platform,
            tenant,
            config,
            price_ids,
            publishable_key,
            secret_key,
        })
    }
}

/// Platform names: at most 200 characters.
pub(super) fn validate_platform_name(name: &str) -> Result<(), CoreError> {
    if name.chars().count() > 200 {
        return Err(CoreError::invalid("/name", "at most 200 characters"));
    }
    Ok(())
}
