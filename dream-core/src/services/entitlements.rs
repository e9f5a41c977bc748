//! Entitlements: what a customer's plan allows (flags and meters), read without
//! consuming anything.

use std::{collections::BTreeMap, sync::Arc};

use crate::{
    decide_usage, validate_flag_name, validate_meter_name, CoreError, Customer, MeterPeriod,
    MeterReset, Period, Tenant, TierConfig, REQUESTS_METER,
};

use super::{
    usage::{meter_rule, plan_of, MAX_TRACK_AMOUNT},
    Dream,
};

/// One meter of a customer's plan in the current period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterState {
    /// Units counted in the period.
    pub used: u64,
    /// The plan's limit, `None` when unlimited.
    pub limit: Option<u64>,
    /// The period counted in; `resetsAt` is its end.
    pub period: Period,
    /// When the meter starts again.
    pub reset: MeterReset,
    /// The customer's credit balance for the meter (spent after the allowance).
    pub credits: u64,
}

impl MeterState {
    /// Units of the plan's allowance left, `None` when unlimited (credits not
    /// included).
    pub fn remaining(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.used))
    }
}

/// What a customer's plan allows now.
#[derive(Debug, Clone)]
pub struct Entitlements {
    /// The customer (possibly created by this read), shared with the store's
    /// cache.
    pub customer: Arc<Customer>,
    /// The plan that applies.
    pub plan: String,
    /// Every flag any of the tenant's tiers names, `true` when the plan has it.
    pub flags: BTreeMap<String, bool>,
    /// Each meter of the plan by name ([`REQUESTS_METER`] first among equals),
    /// plus any other meter of the tenant the customer holds credits for.
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
    /// The customer (possibly created by this read), shared with the store's
    /// cache.
    pub customer: Arc<Customer>,
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
    ///     meters: Default::default(), grants: None, archived: false,
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
        // One read of the tiers and one of the counters and credits: the flags,
        // the plan and the limits all come from the same configuration.
        let (customer, config) = self
            .customer_for_usage(tenant, reference, plan_hint)
            .await?;
        let tier = plan_of(&config, &customer)?;
        let now = self.now();
        // Every meter any tier defines, so that one read also covers a meter only
        // other tiers define that the customer holds credits for or counted on.
        let mut names: Vec<&str> = config
            .tiers
            .iter()
            .flat_map(|t| t.meters.keys().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        names.insert(0, REQUESTS_METER);
        let mut rules = Vec::with_capacity(names.len());
        for name in &names {
            rules.push(meter_rule(&config, tier, name)?);
        }
        let asked: Vec<MeterPeriod> = names
            .iter()
            .zip(&rules)
            .map(|(name, rule)| MeterPeriod {
                meter: (*name).to_owned(),
                period: rule.reset.period(now),
            })
            .collect();
        let reading = self
            .stores
            .usage
            .read_meters(tenant, &customer.id, &asked)
            .await?;
        let mut meters = BTreeMap::new();
        for ((asked, rule), used) in asked.iter().zip(&rules).zip(&reading.used) {
            let credits = reading.credits.get(&asked.meter).copied().unwrap_or(0);
            let on_plan = tier.meter(&asked.meter).is_some();
            if on_plan || credits > 0 || *used > 0 {
                let state = MeterState {
                    used: *used,
                    limit: rule.limit.as_option(),
                    period: asked.period,
                    reset: rule.reset,
                    credits,
                };
                meters.insert(asked.meter.clone(), state);
            }
        }
        Ok(Entitlements {
            flags: flag_map(&config, &customer.plan),
            meters,
            plan: customer.plan.clone(),
            customer,
        })
    }

    /// One meter of the customer's plan now: one read of its counter and credits.
    pub(super) async fn meter_state(
        &self,
        tenant: &Tenant,
        customer: &Customer,
        config: &TierConfig,
        meter: &str,
    ) -> Result<MeterState, CoreError> {
        let tier = plan_of(config, customer)?;
        let rule = meter_rule(config, tier, meter)?;
        let period = rule.reset.period(self.now());
        let asked = [MeterPeriod {
            meter: meter.to_owned(),
            period,
        }];
        let reading = self
            .stores
            .usage
            .read_meters(tenant, &customer.id, &asked)
            .await?;
        Ok(MeterState {
            used: reading.used.first().copied().unwrap_or(0),
            limit: rule.limit.as_option(),
            period,
            reset: rule.reset,
            credits: reading.credits.get(meter).copied().unwrap_or(0),
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
                validate_meter_name(meter, "meter")?;
                if !(1..=MAX_TRACK_AMOUNT).contains(amount) {
                    return Err(CoreError::invalid(
                        "amount",
                        format!("must be between 1 and {MAX_TRACK_AMOUNT}"),
                    ));
                }
                let (customer, config) = self
                    .customer_for_usage(tenant, reference, plan_hint)
                    .await?;
                let state = self
                    .meter_state(tenant, &customer, &config, meter)
                    .await
                    .map_err(|err| match err {
                        // The query names it `meter`, not a body pointer.
                        CoreError::InvalidInput { field, reason } if field == "/meter" => {
                            CoreError::invalid("meter", reason)
                        }
                        other => other,
                    })?;
                let limit = state
                    .limit
                    .map_or(crate::UsageLimit::Unlimited, crate::UsageLimit::Limited);
                Ok(CheckOutcome {
                    allowed: decide_usage(state.used, *amount, limit, state.credits).is_some(),
                    meter: Some(state),
                    plan: customer.plan.clone(),
                    customer,
                })
            }
        }
    }
}
