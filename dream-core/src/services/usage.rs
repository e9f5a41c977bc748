//! Tracking and reading usage: the hot path.

use std::{borrow::Cow, sync::Arc};

use serde_json::json;

use crate::{
    crossed_thresholds, validate_meter_name, ConsumeOutcome, ConsumeRequest, CoreError, Customer,
    EventKind, KeyRate, LimitReached, MeterReset, MeterRule, Period, Tenant, Tier, TierConfig,
    UsageLimit, REQUESTS_METER,
};

use super::Dream;

/// Largest amount one track call may count.
pub const MAX_TRACK_AMOUNT: u64 = 1_000_000;

/// A counted call.
#[derive(Debug, Clone)]
pub struct TrackOutcome {
    /// The customer (possibly created by this call), shared with the store's
    /// cache.
    pub customer: Arc<Customer>,
    /// The plan that applied.
    pub plan: String,
    /// Usage in the period including this call.
    pub used: u64,
    /// The plan's limit, `None` when unlimited.
    pub limit: Option<u64>,
    /// The period counted in.
    pub period: Period,
    /// The meter counted.
    pub meter: Cow<'static, str>,
    /// Credits this call took (0 when the allowance held it).
    pub credits_spent: u64,
}

impl TrackOutcome {
    /// Units left in the period, `None` when unlimited.
    pub fn remaining(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.used))
    }
}

/// A customer's usage in the current period.
#[derive(Debug, Clone)]
pub struct UsageReport {
    /// The customer, shared with the store's cache.
    pub customer: Arc<Customer>,
    /// The plan that applies.
    pub plan: String,
    /// Usage counted so far.
    pub used: u64,
    /// The plan's limit, `None` when unlimited.
    pub limit: Option<u64>,
    /// The current period.
    pub period: Period,
}

impl UsageReport {
    /// Units left, `None` when unlimited.
    pub fn remaining(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.used))
    }
}

/// An accepted consume, for the events it may announce.
struct Counted<'a> {
    tenant: &'a Tenant,
    customer: &'a Customer,
    tier: &'a Tier,
    meter: &'a str,
    period: &'a Period,
    used: u64,
    amount: u64,
}

/// The rule `meter` follows for a customer on `tier`: the tier's own, or, for a
/// meter only other tiers of the tenant define, an allowance of 0 (credits may
/// still pay) with that meter's reset. A meter no tier defines is an error.
/// Callers pass a well-formed name (checked where it entered).
pub(super) fn meter_rule<'a>(
    config: &'a TierConfig,
    tier: &'a Tier,
    meter: &str,
) -> Result<MeterRule<'a>, CoreError> {
    if let Some(rule) = tier.meter(meter) {
        return Ok(rule);
    }
    if let Some(spec) = config.tiers.iter().find_map(|t| t.meters.get(meter)) {
        return Ok(MeterRule {
            limit: UsageLimit::Limited(0),
            reset: spec.reset,
            alerts: &[],
        });
    }
    let mut known: Vec<&str> = config
        .tiers
        .iter()
        .flat_map(|t| t.meters.keys().map(String::as_str))
        .collect();
    known.sort_unstable();
    known.dedup();
    known.insert(0, REQUESTS_METER);
    Err(CoreError::invalid(
        "/meter",
        format!(
            "unknown meter \"{meter}\"; your tiers define {}",
            known
                .iter()
                .map(|m| format!("\"{m}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

pub(super) fn plan_of<'a>(
    config: &'a TierConfig,
    customer: &Customer,
) -> Result<&'a Tier, CoreError> {
    config.find(&customer.plan).ok_or_else(|| {
        CoreError::Conflict(format!(
            "the customer's plan \"{}\" is not among this tenant's tiers",
            customer.plan
        ))
    })
}

impl Dream {
    /// Counts `amount` units for the customer named by `reference` (created on first
    /// sight) against its stored plan, atomically in the store. Refusals
    /// ([`CoreError::UsageLimitReached`], [`CoreError::RateLimited`]) count nothing.
    pub async fn track(
        &self,
        tenant: &Tenant,
        reference: &str,
        plan_hint: Option<&str>,
        amount: u64,
    ) -> Result<TrackOutcome, CoreError> {
        self.track_idempotent(tenant, reference, plan_hint, amount, None)
            .await
    }

    /// [`Dream::track`] with an idempotency receipt: a call repeated with the same
    /// receipt after it was counted is answered with the original count and
    /// counted nothing (see [`ConsumeRequest::receipt`]).
    pub async fn track_idempotent(
        &self,
        tenant: &Tenant,
        reference: &str,
        plan_hint: Option<&str>,
        amount: u64,
        receipt: Option<&str>,
    ) -> Result<TrackOutcome, CoreError> {
        let amount = i64::try_from(amount).unwrap_or(i64::MAX);
        self.track_meter(
            tenant,
            reference,
            plan_hint,
            REQUESTS_METER,
            amount,
            receipt,
        )
        .await
    }

    /// Counts `amount` units of `meter` ([`REQUESTS_METER`] or one of the plan's
    /// [`Tier::meters`]) in the meter's current period, spending the customer's
    /// credits for the meter on what the allowance cannot hold, all or nothing.
    /// A negative `amount` gives units back on a meter that never resets (a seat
    /// freed; never below zero). A meter some other tier of the tenant defines
    /// has an allowance of 0 on this plan (credits may still pay for it); a meter
    /// no tier defines is an error naming `/meter`. The plan's per-minute rate
    /// limit applies to `requests` (calls) only.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), dream_core::CoreError> {
    /// use std::{collections::BTreeMap, sync::Arc};
    /// use dream_core::*;
    /// let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    /// let tenant = Tenant::new(dream.create_platform(None).await?.id, Mode::Test);
    /// let seats = MeterSpec { limit: UsageLimit::Limited(2), reset: MeterReset::Never, alerts: vec![] };
    /// dream.configure_tiers(&tenant, vec![Tier {
    ///     name: "team".into(), display_name: "Team".into(),
    ///     price: Money::from_major(0.0, "usd")?,
    ///     kind: TierKind::Recurring { interval: Interval::Month },
    ///     limit: UsageLimit::Unlimited, rate_limit_per_minute: None,
    ///     features: vec![], flags: vec![], alerts: vec![],
    ///     meters: BTreeMap::from([("seats".to_owned(), seats)]), grants: None, archived: false,
    /// }]).await?;
    /// assert_eq!(dream.track_meter(&tenant, "acme", None, "seats", 2, None).await?.used, 2);
    /// assert!(dream.track_meter(&tenant, "acme", None, "seats", 1, None).await.is_err());
    /// assert_eq!(dream.track_meter(&tenant, "acme", None, "seats", -1, None).await?.used, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn track_meter(
        &self,
        tenant: &Tenant,
        reference: &str,
        plan_hint: Option<&str>,
        meter: &str,
        amount: i64,
        receipt: Option<&str>,
    ) -> Result<TrackOutcome, CoreError> {
        self.count_meter(tenant, reference, plan_hint, meter, amount, receipt, None)
            .await
    }

    /// [`Dream::track_meter`] for a call made with a customer key that has its
    /// own rate limit: the key's window is decided with the plan's in one consume.
    pub(crate) async fn track_with_key(
        &self,
        tenant: &Tenant,
        reference: &str,
        meter: &str,
        amount: i64,
        receipt: Option<&str>,
        key_rate: Option<KeyRate>,
    ) -> Result<TrackOutcome, CoreError> {
        self.count_meter(tenant, reference, None, meter, amount, receipt, key_rate)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn count_meter(
        &self,
        tenant: &Tenant,
        reference: &str,
        plan_hint: Option<&str>,
        meter: &str,
        amount: i64,
        receipt: Option<&str>,
        key_rate: Option<KeyRate>,
    ) -> Result<TrackOutcome, CoreError> {
        let max = i64::try_from(MAX_TRACK_AMOUNT).unwrap_or(i64::MAX);
        if amount == 0 || !(-max..=max).contains(&amount) {
            return Err(CoreError::invalid(
                "/amount",
                format!("must be between 1 and {MAX_TRACK_AMOUNT} (or negative, down to -{MAX_TRACK_AMOUNT}, on a meter that never resets)"),
            ));
        }
        // Malformed input creates no customer.
        validate_meter_name(meter, "/meter")?;
        let (customer, config) = self
            .customer_for_usage(tenant, reference, plan_hint)
            .await?;
        let tier = plan_of(&config, &customer)?;
        let rule = meter_rule(&config, tier, meter)?;
        let now = self.now();
        let period = rule.reset.period(now);
        if amount < 0 {
            return self
                .release(
                    tenant,
                    customer,
                    tier,
                    meter,
                    rule,
                    period,
                    amount.unsigned_abs(),
                )
                .await;
        }
        let amount = amount.unsigned_abs();
        let is_requests = meter == REQUESTS_METER;
        let rate_limit = tier.rate_limit_per_minute.filter(|_| is_requests);
        if let Some(rate) = rate_limit {
            // More than a minute's allowance at once could never be admitted;
            // answering "retry later" would make a client retry forever.
            if amount > u64::from(rate) {
                return Err(CoreError::invalid(
                    "/amount",
                    format!("exceeds the plan's rate limit of {rate} per minute"),
                ));
            }
        }
        if let Some(key_rate) = &key_rate {
            if key_rate.cost > u64::from(key_rate.per_minute) {
                return Err(CoreError::invalid(
                    "/amount",
                    format!(
                        "exceeds the key's rate limit of {} per minute",
                        key_rate.per_minute
                    ),
                ));
            }
        }
        let request = ConsumeRequest {
            tenant: tenant.clone(),
            customer: customer.id.clone(),
            meter: if is_requests {
                Cow::Borrowed(REQUESTS_METER)
            } else {
                Cow::Owned(meter.to_owned())
            },
            period,
            amount,
            limit: rule.limit,
            rate_limit_per_minute: rate_limit,
            key_rate,
            now,
            receipt: receipt.map(str::to_owned),
        };
        match self.stores.usage.consume_usage(&request).await? {
            ConsumeOutcome::Accepted {
                used,
                credits_spent,
            } => {
                self.usage_tally.add(tenant, meter, now, amount);
                let counted = Counted {
                    tenant,
                    customer: &customer,
                    tier,
                    meter,
                    period: &period,
                    used,
                    amount,
                };
                if let UsageLimit::Limited(limit) = rule.limit {
                    self.emit_thresholds(&counted, rule.alerts, limit).await;
                    if used == limit {
                        self.emit_limit_reached(&counted, limit).await;
                    }
                }
                if credits_spent > 0 {
                    self.emit_credits_consumed(&counted, credits_spent, receipt)
                        .await;
                }
                Ok(TrackOutcome {
                    plan: tier.name.clone(),
                    limit: rule.limit.as_option(),
                    meter: request.meter,
                    credits_spent,
                    customer,
                    used,
                    period,
                })
            }
            ConsumeOutcome::LimitReached { used } => {
                Err(CoreError::UsageLimitReached(LimitReached {
                    plan: tier.name.clone(),
                    limit: rule.limit.as_option().unwrap_or(u64::MAX),
                    used,
                    period_end: period.end,
                }))
            }
            ConsumeOutcome::RateLimited { retry_after_ms } => Err(CoreError::RateLimited {
                // The plan's limit when it applies, else the key's: the only other
                // window a consume has.
                limit_per_minute: rate_limit
                    .or(request.key_rate.as_ref().map(|k| k.per_minute))
                    .unwrap_or(0),
                retry_after_ms,
            }),
        }
    }

    /// Gives back `amount` units of a meter that never resets.
    #[allow(clippy::too_many_arguments)]
    async fn release(
        &self,
        tenant: &Tenant,
        customer: Arc<Customer>,
        tier: &Tier,
        meter: &str,
        rule: MeterRule<'_>,
        period: Period,
        amount: u64,
    ) -> Result<TrackOutcome, CoreError> {
        if rule.reset != MeterReset::Never {
            return Err(CoreError::invalid(
                "/amount",
                format!(
                    "must be at least 1: only a meter that never resets takes a negative amount, and \"{meter}\" resets every {}",
                    rule.reset.as_str()
                ),
            ));
        }
        let used = self
            .stores
            .usage
            .release_usage(tenant, &customer.id, meter, &period, amount)
            .await?;
        Ok(TrackOutcome {
            plan: tier.name.clone(),
            limit: rule.limit.as_option(),
            meter: Cow::Owned(meter.to_owned()),
            credits_spent: 0,
            customer,
            used,
            period,
        })
    }

    /// Emits `usage.limit_reached` once per customer, meter, period, plan and
    /// limit: a receipt replay answers `used == limit` again.
    async fn emit_limit_reached(&self, counted: &Counted<'_>, limit: u64) {
        let (tenant, customer, period) = (counted.tenant, counted.customer, counted.period);
        // The `requests` key has no meter part, so ids of events emitted before
        // meters existed stay the same.
        let meter_part = if counted.meter == REQUESTS_METER {
            String::new()
        } else {
            format!("\n{}", counted.meter)
        };
        let key = format!(
            "usage.limit_reached\n{}\n{}\n{}\n{}\n{}\n{limit}{meter_part}",
            tenant.platform,
            tenant.mode.as_str(),
            customer.id,
            period.start.timestamp(),
            counted.tier.name,
        );
        self.emit_once(
            &key,
            tenant,
            EventKind::UsageLimitReached,
            &customer.id,
            json!({ "plan": counted.tier.name, "meter": counted.meter, "limit": limit,
                    "periodEnd": period.end }),
        )
        .await;
    }

    /// Emits `credits.consumed`; with a receipt its id is derived from it, so a
    /// replayed call (which answers the same spending) announces it once.
    async fn emit_credits_consumed(
        &self,
        counted: &Counted<'_>,
        credits_spent: u64,
        receipt: Option<&str>,
    ) {
        let tenant = counted.tenant;
        let customer = &counted.customer.id;
        let data = json!({ "meter": counted.meter, "amount": credits_spent,
                           "used": counted.used, "plan": counted.tier.name });
        match receipt {
            Some(receipt) => {
                let key = format!(
                    "credits.consumed\n{}\n{}\n{receipt}",
                    tenant.platform,
                    tenant.mode.as_str()
                );
                self.emit_once(&key, tenant, EventKind::CreditsConsumed, customer, data)
                    .await;
            }
            None => {
                self.emit(tenant, EventKind::CreditsConsumed, Some(customer), data)
                    .await;
            }
        }
    }

    /// Emits `usage.threshold_reached` for each alert threshold this accepted call
    /// crossed. The event id is derived from (tenant, customer, meter, period,
    /// threshold), so the event log takes it once: a consume replayed by its
    /// receipt answers the same `used` and crosses the same threshold again, and
    /// its append is refused as a duplicate.
    async fn emit_thresholds(&self, counted: &Counted<'_>, alerts: &[u8], limit: u64) {
        let (tenant, period) = (counted.tenant, counted.period);
        for percent in crossed_thresholds(alerts, limit, counted.used, counted.amount) {
            let key = format!(
                "usage.threshold_reached\n{}\n{}\n{}\n{}\n{}\n{percent}",
                tenant.platform,
                tenant.mode.as_str(),
                counted.customer.id,
                counted.meter,
                period.start.timestamp(),
            );
            self.emit_once(
                &key,
                tenant,
                EventKind::UsageThresholdReached,
                &counted.customer.id,
                json!({ "meter": counted.meter, "percent": percent, "used": counted.used,
                        "limit": limit, "plan": counted.tier.name,
                        "periodStart": period.start, "periodEnd": period.end }),
            )
            .await;
        }
    }

    /// The customer's usage in the current period; never changes it (but creates an
    /// unknown customer on first sight, like [`Dream::track`]).
    pub async fn usage(
        &self,
        tenant: &Tenant,
        reference: &str,
        plan_hint: Option<&str>,
    ) -> Result<UsageReport, CoreError> {
        let (customer, config) = self
            .customer_for_usage(tenant, reference, plan_hint)
            .await?;
        let tier = plan_of(&config, &customer)?;
        let period = Period::calendar_month(self.now());
        let used = self
            .stores
            .usage
            .get_usage(tenant, &customer.id, &period)
            .await?;
        Ok(UsageReport {
            plan: tier.name.clone(),
            limit: tier.limit.as_option(),
            customer,
            used,
            period,
        })
    }
}
