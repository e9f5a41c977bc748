//! Platforms and tier configuration, and `/create-products`: a platform's tiers
//! configured, synced to Stripe and its first key pair issued in one call.

use std::sync::Arc;

use serde_json::json;

use crate::{
    origin_allowed, validate_allowed_origins, validate_tiers, AccountId, AuditAction, CoreError,
    EventKind, Mode, Platform, PlatformId, SecretKey, Tenant, Tier, TierConfig,
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
        self.record(
            &platform.id,
            None,
            AuditAction::PlatformCreated,
            Some(platform.id.to_string()),
            json!({ "name": platform.name }),
        )
        .await;
        Ok(platform)
    }

    /// Replaces the browser origins allowed to read the platform's publishable-key
    /// endpoints (`GET /api/tiers`, `GET /api/products`) with CORS. Each must be
    /// an exact origin (see [`validate_allowed_origins`]); returns the stored,
    /// canonical list. An empty list allows no browser origin.
    pub async fn set_allowed_origins(
        &self,
        platform: &PlatformId,
        origins: &[String],
    ) -> Result<Vec<String>, CoreError> {
        let origins = validate_allowed_origins(origins)?;
        if !self
            .stores
            .platforms
            .put_allowed_origins(platform, &origins)
            .await?
        {
            return Err(CoreError::NotFound("platform"));
        }
        self.record(
            platform,
            None,
            AuditAction::AllowedOriginsReplaced,
            Some(platform.to_string()),
            json!({ "allowedOrigins": origins }),
        )
        .await;
        Ok(origins)
    }

    /// The platform's allowed browser origins (empty when none were set).
    pub async fn allowed_origins(&self, platform: &PlatformId) -> Result<Vec<String>, CoreError> {
        self.stores
            .platforms
            .get_allowed_origins(platform)
            .await?
            .ok_or(CoreError::NotFound("platform"))
    }

    /// Whether a browser page at `origin` may read the platform's public data.
    /// Served from the cache on the hot path (see `dream_store::cached`).
    pub async fn allows_origin(
        &self,
        platform: &PlatformId,
        origin: &str,
    ) -> Result<bool, CoreError> {
        Ok(origin_allowed(
            &self.allowed_origins(platform).await?,
            origin,
        ))
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
        self.record(
            &tenant.platform,
            Some(tenant.mode),
            AuditAction::TiersReplaced,
            None,
            json!({ "tiers": names }),
        )
        .await;
        Ok(next)
    }

    /// Replaces the tenant's offered tiers ([`Dream::configure_tiers`]) and syncs
    /// them to Stripe when an account is connected: what a developer means by
    /// "save my tiers", from `/create-products` or the dashboard.
    pub async fn replace_tiers(
        &self,
        tenant: &Tenant,
        tiers: Vec<Tier>,
    ) -> Result<TierConfig, CoreError> {
        self.configure_tiers(tenant, tiers).await?;
        self.sync_tiers_if_connected(tenant).await
    }

    /// The tenant's tiers (empty when none were configured).
    pub async fn tier_config(&self, tenant: &Tenant) -> Result<TierConfig, CoreError> {
        Ok(Arc::unwrap_or_clone(self.shared_tier_config(tenant).await?))
    }

    /// The tenant's tiers as the store's cache holds them, shared rather than
    /// copied: what the hot path reads on every call.
    pub(crate) async fn shared_tier_config(
        &self,
        tenant: &Tenant,
    ) -> Result<Arc<TierConfig>, CoreError> {
        Ok(self
            .stores
            .platforms
            .get_shared_tier_config(tenant)
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
        let config = self.replace_tiers(&tenant, tiers).await?;
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
