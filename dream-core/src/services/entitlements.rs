//! Entitlements: what a customer's plan allows (flags and meters), read without
//! consuming anything.

use std::collections::BTreeMap;

use crate::{
    validate_flag_name, within_limit, CoreError, Customer, Period, Tenant, TierConfig,
    REQUESTS_METER,
};

use super::{usage::MAX_TRACK_AMOUNT, Dream};

/// One meter of a customer's plan in the current period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterState {
    /// Units counted in the period.
    pub used: u64,
    /// The plan's limit, `None` when unlimited.
    pub limit: Option<u64>,
    /// The period counted in; `resetsAt` is its end.
    pub period: Period,
}

impl MeterState {
    /// Units left, `None` when unlimited.
    pub fn remaining(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.used))
    }
}

/// What a customer's plan allows now.
#[derive(Debug, Clone)]
pub struct Entitlements {
    /// The customer (possibly created by this read).
    pub customer: Customer,
    /// The plan that applies.
    pub plan: String,
    /// Every flag any of the tenant's tiers names, `true` when the plan has it.
    pub flags: BTreeMap<String, bool>,
    /// Each meter by name (this release has one, [`REQUESTS_METER`]).
    pub meters: BTreeMap<String, MeterState>,
}

/// What [`Dream::check`] asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckQuery {
    /// Whether the plan has this flag.
    Flag(String),
    /// Whether `amount` units of this meter would be accepted now.
    Meter {
        /// The meter's name.
        meter: String,
        /// Units the caller is about to use (≥ 1).
        amount: u64,
    },
}

/// The answer of [`Dream::check`].
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// The customer (possibly created by this read).
    pub customer: Customer,
    /// The plan that applies.
    pub plan: String,
    /// Whether the flag is on, or the amount would be accepted by the usage limit.
    pub allowed: bool,
    /// For a meter: its state now (nothing was consumed).
    pub meter: Option<MeterState>,
}

/// Every flag named by any tier of the tenant, archived ones included (a
/// customer may still be on one), each `true` when `plan` has it.
fn flag_map(config: &TierConfig, plan: &str) -> BTreeMap<String, bool> {
    let mut flags = BTreeMap::new();
    for tier in &config.tiers {
        for flag in &tier.flags {
            flags.entry(flag.clone()).or_insert(false);
        }
    }
    if let Some(tier) = config.find(plan) {
        for flag in &tier.flags {
            flags.insert(flag.clone(), true);
        }
    }
    flags
}

impl Dream {
    /// The customer's plan, its flags and its meters with their usage in the
    /// current period: one read of the counter, next to the cached tiers. Creates
    /// an unknown customer on first sight, like [`Dream::usage`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), dream_core::CoreError> {
    /// use std::sync::Arc;
    /// use dream_core::{Dream, Interval, Mode, Money, Tenant, Tier, TierKind, UsageLimit};
    /// let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    /// let tenant = Tenant::new(dream.create_platform(None).await?.id, Mode::Test);
    /// dream.configure_tiers(&tenant, vec![Tier {
    ///     name: "pro".into(), display_name: "Pro".into(),
    ///     price: Money::from_major(29.0, "usd")?,
    ///     kind: TierKind::Recurring { interval: Interval::Month },
    ///     limit: UsageLimit::Limited(100), rate_limit_per_minute: None,
    ///     features: vec![], flags: vec!["sso".into()], alerts: vec![80, 100],
    ///     archived: false,
    /// }]).await?;
    /// dream.track(&tenant, "user-1", None, 3).await?;
    /// let e = dream.entitlements(&tenant, "user-1", None).await?;
    /// assert_eq!(e.flags.get("sso"), Some(&true));
    /// assert_eq!(e.meters["requests"].remaining(), Some(97));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn entitlements(
        &self,
        tenant: &Tenant,
        reference: &str,
        plan_hint: Option<&str>,
    ) -> Result<Entitlements, CoreError> {
        // One read of the tiers and one of the counter: the flags, the plan and
        // the limit all come from the same configuration.
        let (customer, config) = self
            .customer_for_usage(tenant, reference, plan_hint)
            .await?;
        let meter = self.requests_meter(tenant, &customer, &config).await?;
        Ok(Entitlements {
            flags: flag_map(&config, &customer.plan),
            meters: BTreeMap::from([(REQUESTS_METER.to_owned(), meter)]),
            plan: customer.plan.clone(),
            customer,
        })
    }

    /// The `requests` meter of the customer's plan: one read of the counter.
    async fn requests_meter(
        &self,
        tenant: &Tenant,
        customer: &Customer,
        config: &TierConfig,
    ) -> Result<MeterState, CoreError> {
        let tier = config.find(&customer.plan).ok_or_else(|| {
            CoreError::Conflict(format!(
                "the customer's plan \"{}\" is not among this tenant's tiers",
                customer.plan
            ))
        })?;
        let period = Period::calendar_month(self.now());
        let used = self
            .stores
            .usage
            .get_usage(tenant, &customer.id, &period)
            .await?;
        Ok(MeterState {
            used,
            limit: tier.limit.as_option(),
            period,
        })
    }

    /// Whether the customer's plan has a flag, or would accept `amount` units of a
    /// meter now, without consuming anything and without touching the rate
    /// window (the per-minute rate limit is not part of the answer). An unknown
    /// flag is not allowed; an unknown meter is a caller error naming `meter`.
    pub async fn check(
        &self,
        tenant: &Tenant,
        reference: &str,
        plan_hint: Option<&str>,
        query: &CheckQuery,
    ) -> Result<CheckOutcome, CoreError> {
        match query {
            CheckQuery::Flag(flag) => {
                validate_flag_name(flag, "flag")?;
                let (customer, config) = self
                    .customer_for_usage(tenant, reference, plan_hint)
                    .await?;
                let allowed = config
                    .find(&customer.plan)
                    .is_some_and(|tier| tier.flags.iter().any(|f| f == flag));
                Ok(CheckOutcome {
                    plan: customer.plan.clone(),
                    customer,
                    allowed,
                    meter: None,
                })
            }
            CheckQuery::Meter { meter, amount } => {
                if meter != REQUESTS_METER {
                    return Err(CoreError::invalid(
                        "meter",
                        format!(
                            "unknown meter \"{meter}\"; this server meters \"{REQUESTS_METER}\""
                        ),
                    ));
                }
                if !(1..=MAX_TRACK_AMOUNT).contains(amount) {
                    return Err(CoreError::invalid(
                        "amount",
                        format!("must be between 1 and {MAX_TRACK_AMOUNT}"),
                    ));
                }
                let (customer, config) = self
                    .customer_for_usage(tenant, reference, plan_hint)
                    .await?;
                let state = self.requests_meter(tenant, &customer, &config).await?;
                let limit = state
                    .limit
                    .map_or(crate::UsageLimit::Unlimited, crate::UsageLimit::Limited);
                Ok(CheckOutcome {
                    allowed: within_limit(state.used, *amount, limit),
                    meter: Some(state),
                    plan: customer.plan.clone(),
                    customer,
                })
            }
        }
    }
}
