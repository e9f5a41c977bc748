//! The plan gate: developer accounts as customers of the operator's own "house"
//! platform. The account's plan is its house customer's plan, so the house
//! platform's subscription webhooks change it with no code of their own.

use crate::{
    Account, CheckoutSession, CheckoutUrls, CoreError, Customer, Mode, NewCustomer, PlatformId,
    Tenant, Tier, TierConfig,
};

use super::Dream;

/// The house platform and which of its tiers unlocks live mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HousePlatform {
    /// One of this deployment's platforms (`DREAM_HOUSE_PLATFORM`).
    pub platform: PlatformId,
    /// The tier that unlocks live mode (`DREAM_HOUSE_LIVE_TIER`); `None`: the
    /// first paid recurring tier.
    pub live_tier: Option<String>,
}

/// An account's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPlan {
    /// The house customer's plan; `None` without a house platform.
    pub plan: Option<String>,
    /// Whether the account may use live mode (always, without a house platform).
    pub live_allowed: bool,
}

/// What a 402 says: where to go.
const UPGRADE_NEEDED: &str =
    "live mode needs the paid plan: POST /account/upgrade for a checkout link";

impl Dream {
    /// The account's plan and whether it unlocks live mode.
    pub async fn account_plan(&self, account: &Account) -> Result<AccountPlan, CoreError> {
        let Some(house) = &self.accounts.house else {
            return Ok(AccountPlan {
                plan: None,
                live_allowed: true,
            });
        };
        let (tenant, customer) = self.house_customer(account).await?;
        let config = self.tier_config(&tenant).await?;
        let live_allowed = match (config.find(&customer.plan), unlocking_tier(house, &config)) {
            (Some(plan), Some(unlock)) => {
                plan.name == unlock.name
                    || (!plan.price.is_free()
                        && plan.monthly_amount_minor() >= unlock.monthly_amount_minor())
            }
            _ => false,
        };
        Ok(AccountPlan {
            plan: Some(customer.plan),
            live_allowed,
        })
    }

    /// Refuses live mode with [`CoreError::PlanRequired`] unless the account's plan
    /// allows it.
    pub async fn require_mode_allowed(
        &self,
        account: &Account,
        mode: Mode,
    ) -> Result<(), CoreError> {
        if mode == Mode::Live && !self.account_plan(account).await?.live_allowed {
            return Err(CoreError::PlanRequired(UPGRADE_NEEDED));
        }
        Ok(())
    }

    /// The house platform, or a `Conflict` saying there are no plans to buy.
    pub fn house(&self) -> Result<&HousePlatform, CoreError> {
        self.accounts.house.as_ref().ok_or_else(|| {
            CoreError::Conflict(
                "this server has no plans to buy (no house platform): every account may use live mode"
                    .into(),
            )
        })
    }

    /// A Stripe Checkout on the house platform for the tier that unlocks live mode.
    pub async fn upgrade_checkout(
        &self,
        account: &Account,
        urls: &CheckoutUrls,
    ) -> Result<CheckoutSession, CoreError> {
        let house = self.house()?;
        let (tenant, customer) = self.house_customer(account).await?;
        let config = self.tier_config(&tenant).await?;
        let tier = unlocking_tier(house, &config)
            .ok_or_else(|| CoreError::Conflict("the house platform has no paid tier".into()))?
            .name
            .clone();
        self.subscription_checkout(&tenant, customer.id.as_str(), &tier, urls)
            .await
    }

    /// The house tenant and the account's customer in it, created on first need
    /// (its external id is the account id).
    pub(super) async fn house_customer(
        &self,
        account: &Account,
    ) -> Result<(Tenant, Customer), CoreError> {
        let tenant = self.house_tenant().await?;
        let external_id = account.id.as_str();
        if let Some(found) = self.find_customer(&tenant, external_id).await? {
            return Ok((tenant, found));
        }
        let new = NewCustomer {
            external_id: Some(external_id.to_owned()),
            email: Some(account.email.clone()),
            ..NewCustomer::default()
        };
        match self.create_customer(&tenant, new).await {
            Ok(created) => Ok((tenant, created)),
            // Two requests created it at once: the other one won.
            Err(CoreError::Conflict(_)) => {
                let found = self.customer(&tenant, external_id).await?;
                Ok((tenant, found))
            }
            Err(other) => Err(other),
        }
    }

    /// The house platform's live tenant when live tiers are configured there, else
    /// its test tenant (an operator trying the gate out before going live).
    async fn house_tenant(&self) -> Result<Tenant, CoreError> {
        let Some(house) = &self.accounts.house else {
            return Err(CoreError::NotFound("house platform"));
        };
        let live = Tenant::new(house.platform.clone(), Mode::Live);
        if self.tier_config(&live).await?.active().next().is_some() {
            Ok(live)
        } else {
            Ok(Tenant::new(house.platform.clone(), Mode::Test))
        }
    }
}

/// The named live tier, else the first paid recurring tier on offer.
fn unlocking_tier<'a>(house: &HousePlatform, config: &'a TierConfig) -> Option<&'a Tier> {
    match &house.live_tier {
        Some(name) => config.offered_plan(name),
        None => config.active().find(|t| t.is_plan() && !t.price.is_free()),
    }
}
