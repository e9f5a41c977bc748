//! Tracking and reading usage: the hot path.

use serde_json::json;

use crate::{
    crossed_thresholds, ConsumeOutcome, ConsumeRequest, CoreError, Customer, CustomerId, Event,
    EventId, EventKind, LimitReached, Period, StoreError, Tenant, Tier, TierConfig, UsageLimit,
    REQUESTS_METER,
};

use super::Dream;

/// Largest amount one track call may count.
pub const MAX_TRACK_AMOUNT: u64 = 1_000_000;

/// A counted call.
#[derive(Debug, Clone)]
pub struct TrackOutcome {
    /// The customer (possibly created by this call).
    pub customer: Customer,
    /// The plan that applied.
    pub plan: String,
    /// Usage in the period including this call.
    pub used: u64,
    /// The plan's limit, `None` when unlimited.
    pub limit: Option<u64>,
    /// The period counted in.
    pub period: Period,
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
    /// The customer.
    pub customer: Customer,
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

fn plan_of<'a>(config: &'a TierConfig, customer: &Customer) -> Result<&'a Tier, CoreError> {
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
        if !(1..=MAX_TRACK_AMOUNT).contains(&amount) {
            return Err(CoreError::invalid(
                "/amount",
                format!("must be between 1 and {MAX_TRACK_AMOUNT}"),
            ));
        }
        let (customer, config) = self
            .customer_for_usage(tenant, reference, plan_hint)
            .await?;
        let tier = plan_of(&config, &customer)?;
        if let Some(rate) = tier.rate_limit_per_minute {
            // More than a minute's allowance at once could never be admitted;
            // answering "retry later" would make a client retry forever.
            if amount > u64::from(rate) {
                return Err(CoreError::invalid(
                    "/amount",
                    format!("exceeds the plan's rate limit of {rate} per minute"),
                ));
            }
        }
        let now = self.now();
        let period = Period::calendar_month(now);
        let request = ConsumeRequest {
            tenant: tenant.clone(),
            customer: customer.id.clone(),
            meter: std::borrow::Cow::Borrowed(REQUESTS_METER),
            period,
            amount,
            limit: tier.limit,
            rate_limit_per_minute: tier.rate_limit_per_minute,
            now,
            receipt: receipt.map(str::to_owned),
        };
        match self.stores.usage.consume_usage(&request).await? {
            ConsumeOutcome::Accepted { used, .. } => {
                self.usage_tally.add(tenant, now, amount);
                if let UsageLimit::Limited(limit) = tier.limit {
                    self.emit_thresholds(tenant, &customer, tier, &period, limit, used, amount)
                        .await;
                    if used == limit {
                        // Once per customer, period, plan and limit: a receipt
                        // replay answers `used == limit` again.
                        let key = format!(
                            "usage.limit_reached\n{}\n{}\n{}\n{}\n{}\n{limit}",
                            tenant.platform,
                            tenant.mode.as_str(),
                            customer.id,
                            period.start.timestamp(),
                            tier.name,
                        );
                        self.append_once(
                            &key,
                            tenant,
                            EventKind::UsageLimitReached,
                            &customer.id,
                            json!({ "plan": tier.name, "limit": limit,
                                    "periodEnd": period.end }),
                        )
                        .await;
                    }
                }
                Ok(TrackOutcome {
                    plan: tier.name.clone(),
                    limit: tier.limit.as_option(),
                    customer,
                    used,
                    period,
                })
            }
            ConsumeOutcome::LimitReached { used } => {
                Err(CoreError::UsageLimitReached(LimitReached {
                    plan: tier.name.clone(),
                    limit: tier.limit.as_option().unwrap_or(u64::MAX),
                    used,
                    period_end: period.end,
                }))
            }
            ConsumeOutcome::RateLimited { retry_after_ms } => Err(CoreError::RateLimited {
                limit_per_minute: tier.rate_limit_per_minute.unwrap_or(0),
                retry_after_ms,
            }),
        }
    }

    /// Emits `usage.threshold_reached` for each alert threshold this accepted call
    /// crossed. The event id is derived from (tenant, customer, meter, period,
    /// threshold), so the event log takes it once: a consume replayed by its
    /// receipt answers the same `used` and crosses the same threshold again, and
    /// its append is refused as a duplicate.
    #[allow(clippy::too_many_arguments)]
    async fn emit_thresholds(
        &self,
        tenant: &Tenant,
        customer: &Customer,
        tier: &Tier,
        period: &Period,
        limit: u64,
        used: u64,
        amount: u64,
    ) {
        for percent in crossed_thresholds(&tier.alerts, limit, used, amount) {
            let key = format!(
                "usage.threshold_reached\n{}\n{}\n{}\n{REQUESTS_METER}\n{}\n{percent}",
                tenant.platform,
                tenant.mode.as_str(),
                customer.id,
                period.start.timestamp(),
            );
            self.append_once(
                &key,
                tenant,
                EventKind::UsageThresholdReached,
                &customer.id,
                json!({ "meter": REQUESTS_METER, "percent": percent, "used": used,
                        "limit": limit, "plan": tier.name,
                        "periodStart": period.start, "periodEnd": period.end }),
            )
            .await;
        }
    }

    /// Appends an event whose id is derived from `key`, so that the same fact
    /// announced again (a replay, another process) is refused by the event log's
    /// unique id instead of being delivered twice.
    async fn append_once(
        &self,
        key: &str,
        tenant: &Tenant,
        kind: EventKind,
        customer: &CustomerId,
        data: serde_json::Value,
    ) {
        let event = Event {
            id: EventId::derived(key),
            tenant: tenant.clone(),
            kind,
            customer: Some(customer.clone()),
            data,
            created_at: self.now(),
        };
        match self.stores.events.append_event(&event).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(err) => {
                tracing::warn!(error = %err, kind = kind.as_str(), "could not append a usage event");
            }
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
