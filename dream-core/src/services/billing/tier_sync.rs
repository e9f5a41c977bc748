//! Tier sync: a product per paid tier and a price per amount on the developer's
//! Stripe account, one recorded provider call at a time (see
//! [`next_sync_step`](crate::next_sync_step)), with idempotency keys derived from our ids.

use super::{short_hash, tenant_key, tenant_metadata};
use crate::services::Dream;
use crate::{
    metadata_keys as meta, next_sync_step, ports::BillingProvider, AuditAction, BillingAccount,
    BillingConnection, BillingError, CoreError, Metadata, Mode, PlatformId, PriceSpec, ProductSpec,
    ProductUpdate, StripeTierRefs, SyncStep, Tenant, Tier, TierConfig, TierKind,
};

/// Provider calls one tier's sync may make before it is treated as a bug.
const MAX_SYNC_STEPS_PER_TIER: usize = 8;

/// A tier's Stripe ids, as `/create-products` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierPriceIds {
    /// The tier.
    pub tier: String,
    /// `price_…`, or `None` for free tiers and before Stripe is connected.
    pub price_id: Option<String>,
    /// `prod_…`, or `None` likewise.
    pub product_id: Option<String>,
}

impl Dream {
    /// Brings the tenant's Stripe products and prices in line with its tiers, when a
    /// Stripe account is connected; otherwise returns the configuration unchanged.
    pub async fn sync_tiers_if_connected(&self, tenant: &Tenant) -> Result<TierConfig, CoreError> {
        if self
            .stores
            .billing
            .get_billing_connection(tenant)
            .await?
            .is_none()
        {
            return self.tier_config(tenant).await;
        }
        self.sync_tiers(tenant).await
    }

    /// Brings the tenant's Stripe products and prices in line with its tiers: a
    /// product per paid tier (limits in metadata), a price per amount (a change makes
    /// a new price and deactivates the old one), archived tiers archived on Stripe,
    /// free tiers nothing. Running it again creates nothing.
    pub async fn sync_tiers(&self, tenant: &Tenant) -> Result<TierConfig, CoreError> {
        let (connection, account, provider) = self.stripe_account(tenant).await?;
        let account_key = connection.account_key().to_owned();
        let mut config = self.tier_config(tenant).await?;
        let tiers = config.tiers.clone();
        for tier in &tiers {
            let mut refs = config
                .stripe_refs(&tier.name, &account_key)
                .cloned()
                .unwrap_or_else(|| StripeTierRefs {
                    account: account_key.clone(),
                    ..StripeTierRefs::default()
                });
            let mut steps = 0;
            while let Some(step) = next_sync_step(tier, &refs) {
                // A tier converges in at most four calls (the property test of
                // `next_sync_step` checks it); a bug here must not loop on Stripe.
                steps += 1;
                if steps > MAX_SYNC_STEPS_PER_TIER {
                    tracing::error!(tier = %tier.name, ?step, "tier sync does not converge");
                    return Err(CoreError::Billing(BillingError::new(
                        crate::BillingErrorKind::InvalidRequest,
                        format!("syncing tier \"{}\" to Stripe does not converge", tier.name),
                    )));
                }
                let keys = SyncKeys::new(tenant, &account_key, tier);
                apply_sync_step(
                    provider.as_ref(),
                    &account,
                    tenant,
                    tier,
                    &keys,
                    &step,
                    &mut refs,
                )
                .await
                .map_err(CoreError::Billing)?;
                // Record every step at once: a later failure resumes from here.
                config.stripe.insert(tier.name.clone(), refs.clone());
                self.stores
                    .platforms
                    .put_tier_config(tenant, &config)
                    .await?;
            }
        }
        self.record(
            &tenant.platform,
            Some(tenant.mode),
            AuditAction::TiersSynced,
            None,
            serde_json::json!({ "tiers": config.active().map(|t| t.name.as_str()).collect::<Vec<_>>() }),
        )
        .await;
        Ok(config)
    }

    /// Copies the test mode's offered tiers to live mode and syncs them to the live
    /// Stripe account when one is connected. Stripe ids are per mode, so none are
    /// copied.
    pub async fn promote_to_live(&self, platform: &PlatformId) -> Result<TierConfig, CoreError> {
        let test = Tenant::new(platform.clone(), Mode::Test);
        let live = Tenant::new(platform.clone(), Mode::Live);
        self.platform(platform).await?;
        let tiers: Vec<Tier> = self.tier_config(&test).await?.active().cloned().collect();
        if tiers.is_empty() {
            return Err(CoreError::Conflict(
                "test mode has no tiers to promote: configure them with /create-products first"
                    .into(),
            ));
        }
        self.configure_tiers(&live, tiers).await?;
        let config = self.sync_tiers_if_connected(&live).await?;
        self.record(
            platform,
            Some(Mode::Live),
            AuditAction::TiersPromoted,
            None,
            serde_json::json!({ "tiers": config.active().map(|t| t.name.as_str()).collect::<Vec<_>>() }),
        )
        .await;
        Ok(config)
    }

    /// Each offered tier's Stripe ids on the tenant's current account.
    pub async fn price_ids(
        &self,
        tenant: &Tenant,
        config: &TierConfig,
    ) -> Result<Vec<TierPriceIds>, CoreError> {
        let connection = self.stores.billing.get_billing_connection(tenant).await?;
        let account = connection.as_ref().map(BillingConnection::account_key);
        Ok(config
            .active()
            .map(|tier| {
                let refs = account.and_then(|a| config.stripe_refs(&tier.name, a));
                TierPriceIds {
                    tier: tier.name.clone(),
                    price_id: refs.and_then(|r| r.price_id.clone()),
                    product_id: refs.and_then(|r| r.product_id.clone()),
                }
            })
            .collect())
    }
}

/// Idempotency keys of one tier's sync calls. Each includes a hash of what the call
/// sets, so a retry after a crash reuses the object Stripe made, while a retry after
/// the developer changed the tier makes a new one instead of failing Stripe's
/// "same key, different parameters" check.
struct SyncKeys {
    base: String,
}

impl SyncKeys {
    fn new(tenant: &Tenant, account_key: &str, tier: &Tier) -> Self {
        Self {
            base: format!(
                "dream-{}-{}-{}",
                tenant_key(tenant),
                short_hash(account_key),
                tier.name
            ),
        }
    }

    fn create_product(&self, tier: &Tier) -> String {
        format!(
            "{}-product-{}",
            self.base,
            short_hash(&crate::product_fingerprint(tier))
        )
    }

    fn update_product(&self, refs: &StripeTierRefs, tier: &Tier, active: bool) -> String {
        format!(
            "{}-product-update-{}-{}-{active}",
            self.base,
            refs.product_updates,
            short_hash(&crate::product_fingerprint(tier))
        )
    }

    fn create_price(&self, refs: &StripeTierRefs, tier: &Tier) -> String {
        format!(
            "{}-price-{}-{}",
            self.base,
            refs.prices_created,
            short_hash(&crate::price_fingerprint(tier))
        )
    }

    fn deactivate_price(&self, price_id: &str) -> String {
        format!("{}-deactivate-{price_id}", self.base)
    }
}

async fn apply_sync_step(
    provider: &dyn BillingProvider,
    account: &BillingAccount,
    tenant: &Tenant,
    tier: &Tier,
    keys: &SyncKeys,
    step: &SyncStep,
    refs: &mut StripeTierRefs,
) -> Result<(), BillingError> {
    match step {
        SyncStep::CreateProduct => {
            let id = provider
                .create_product(
                    account,
                    &ProductSpec {
                        name: product_name(tier),
                        metadata: product_metadata(tenant, tier),
                        idempotency_key: keys.create_product(tier),
                    },
                )
                .await?;
            refs.product_created(id, tier);
        }
        SyncStep::UpdateProduct { active } => {
            let product_id = refs.product_id.clone().unwrap_or_default();
            provider
                .update_product(
                    account,
                    &product_id,
                    &ProductUpdate {
                        name: product_name(tier),
                        metadata: product_metadata(tenant, tier),
                        active: *active,
                        idempotency_key: keys.update_product(refs, tier, *active),
                    },
                )
                .await?;
            refs.product_updated(*active, tier);
        }
        SyncStep::CreatePrice => {
            let mut metadata = tenant_metadata(tenant);
            metadata.insert(meta::TIER.into(), tier.name.clone());
            let id = provider
                .create_price(
                    account,
                    &PriceSpec {
                        product_id: refs.product_id.clone().unwrap_or_default(),
                        unit_amount: tier.price.amount_minor,
                        currency: tier.price.currency.clone(),
                        recurring: match tier.kind {
                            TierKind::Recurring { interval } => Some(interval),
                            TierKind::OneTime { .. } => None,
                        },
                        lookup_key: Some(format!("dream_{}_{}", tenant.platform, tier.name)),
                        metadata,
                        idempotency_key: keys.create_price(refs, tier),
                    },
                )
                .await?;
            refs.price_created(id, tier);
        }
        SyncStep::DeactivatePrice { price_id } => {
            provider
                .deactivate_price(account, price_id, &keys.deactivate_price(price_id))
                .await?;
            refs.price_deactivated(price_id);
        }
    }
    Ok(())
}

fn product_name(tier: &Tier) -> String {
    if tier.display_name.trim().is_empty() {
        tier.name.clone()
    } else {
        tier.display_name.clone()
    }
}

fn product_metadata(tenant: &Tenant, tier: &Tier) -> Metadata {
    let mut metadata = tenant_metadata(tenant);
    metadata.insert(meta::TIER.into(), tier.name.clone());
    metadata.insert(meta::LIMIT.into(), crate::limit_text(tier.limit));
    metadata
}
