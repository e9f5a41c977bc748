//! Usage counters and rate windows in memory.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    decide_usage, gcra, ports::UsageStore, ConsumeOutcome, ConsumeRequest, CreditGrant,
    CreditGrantOutcome, CustomerId, MeterPeriod, MetersReading, Period, StoreError, Tenant,
    CREDIT_BALANCE_FULL, MAX_CREDIT_BALANCE, RECEIPT_RETENTION_HOURS, REQUESTS_METER,
};

use super::{lock, MemoryStore};

type CustomerKey = (Tenant, CustomerId);

/// Above this many receipts, a consume first drops the expired ones.
const RECEIPT_SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct Usage {
    /// `requests` counters by (tenant, period start), kept apart from the other
    /// meters so the default track and the dashboard's sums need no meter key.
    counters: HashMap<(Tenant, DateTime<Utc>), HashMap<CustomerId, u64>>,
    /// Every other meter's counters by (tenant, meter, period start).
    meter_counters: HashMap<(Tenant, String, DateTime<Utc>), HashMap<CustomerId, u64>>,
    /// Credit balances by (tenant, customer, meter).
    credits: HashMap<(Tenant, CustomerId, String), u64>,
    /// Grants by (tenant, grant id): the balance the grant produced.
    grants: HashMap<(Tenant, String), u64>,
    rate_tat_us: HashMap<CustomerKey, i64>,
    /// Customer keys' own rate windows by (tenant, window id).
    key_tat_us: HashMap<(Tenant, String), i64>,
    last_consumed: HashMap<CustomerKey, DateTime<Utc>>,
    /// Accepted consumes by receipt: the usage they produced, the credits they
    /// took, and when.
    receipts: HashMap<(Tenant, String), (u64, u64, DateTime<Utc>)>,
}

impl Usage {
    fn count(&self, tenant: &Tenant, customer: &CustomerId, meter: &str, period: &Period) -> u64 {
        let counters = if meter == REQUESTS_METER {
            self.counters.get(&(tenant.clone(), period.start))
        } else {
            self.meter_counters
                .get(&(tenant.clone(), meter.to_owned(), period.start))
        };
        counters.and_then(|m| m.get(customer)).copied().unwrap_or(0)
    }

    fn set_count(
        &mut self,
        tenant: &Tenant,
        customer: &CustomerId,
        meter: &str,
        period: &Period,
        used: u64,
    ) {
        let counters = if meter == REQUESTS_METER {
            self.counters
                .entry((tenant.clone(), period.start))
                .or_default()
        } else {
            self.meter_counters
                .entry((tenant.clone(), meter.to_owned(), period.start))
                .or_default()
        };
        counters.insert(customer.clone(), used);
    }

    fn credit_balance(&self, tenant: &Tenant, customer: &CustomerId, meter: &str) -> u64 {
        self.credits
            .get(&(tenant.clone(), customer.clone(), meter.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

#[async_trait]
impl UsageStore for MemoryStore {
    async fn consume_usage(&self, req: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError> {
        let mut u = lock(&self.usage);
        if let Some(receipt) = &req.receipt {
            let retention = chrono::Duration::hours(RECEIPT_RETENTION_HOURS);
            if u.receipts.len() > RECEIPT_SWEEP_ABOVE {
                u.receipts.retain(|_, (_, _, at)| *at + retention > req.now);
            }
            let key = (req.tenant.clone(), receipt.clone());
            if let Some((used, credits_spent, at)) = u.receipts.get(&key) {
                if *at + retention > req.now {
                    return Ok(ConsumeOutcome::Accepted {
                        used: *used,
                        credits_spent: *credits_spent,
                    });
                }
            }
        }
        let used = u.count(&req.tenant, &req.customer, &req.meter, &req.period);
        let balance = if dream_core::within_limit(used, req.amount, req.limit) {
            0
        } else {
            u.credit_balance(&req.tenant, &req.customer, &req.meter)
        };
        let Some(credits_spent) = decide_usage(used, req.amount, req.limit, balance) else {
            return Ok(ConsumeOutcome::LimitReached { used });
        };
        let customer_key = (req.tenant.clone(), req.customer.clone());
        let now_us = req.now.timestamp_micros();
        // Both windows decide before either is written: a refusal changes nothing.
        let customer_tat = match req.rate_limit_per_minute {
            Some(rate) => {
                let tat = u.rate_tat_us.get(&customer_key).copied();
                match gcra(tat, now_us, rate, req.amount) {
                    Ok(new_tat) => Some(new_tat),
                    Err(retry_after_ms) => {
                        return Ok(ConsumeOutcome::RateLimited { retry_after_ms })
                    }
                }
            }
            None => None,
        };
        let key_tat = match &req.key_rate {
            Some(key) => {
                let window = (req.tenant.clone(), key.window.clone());
                let tat = u.key_tat_us.get(&window).copied();
                match gcra(tat, now_us, key.per_minute, key.cost) {
                    Ok(new_tat) => Some((window, new_tat)),
                    Err(retry_after_ms) => {
                        return Ok(ConsumeOutcome::RateLimited { retry_after_ms })
                    }
                }
            }
            None => None,
        };
        if let Some(new_tat) = customer_tat {
            u.rate_tat_us.insert(customer_key.clone(), new_tat);
        }
        if let Some((window, new_tat)) = key_tat {
            u.key_tat_us.insert(window, new_tat);
        }
        let used = used + req.amount;
        u.set_count(&req.tenant, &req.customer, &req.meter, &req.period, used);
        if credits_spent > 0 {
            u.credits.insert(
                (
                    req.tenant.clone(),
                    req.customer.clone(),
                    req.meter.to_string(),
                ),
                balance - credits_spent,
            );
        }
        u.last_consumed.insert(customer_key, req.now);
        if let Some(receipt) = &req.receipt {
            u.receipts.insert(
                (req.tenant.clone(), receipt.clone()),
                (used, credits_spent, req.now),
            );
        }
        Ok(ConsumeOutcome::Accepted {
            used,
            credits_spent,
        })
    }

    async fn release_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        meter: &str,
        period: &Period,
        amount: u64,
    ) -> Result<u64, StoreError> {
        let mut u = lock(&self.usage);
        let before = u.count(tenant, customer, meter, period);
        if before == 0 {
            // Nothing to give back: no counter is created (it would make the
            // customer look active in the period).
            return Ok(0);
        }
        let used = before.saturating_sub(amount);
        u.set_count(tenant, customer, meter, period, used);
        Ok(used)
    }

    async fn grant_credits(&self, grant: &CreditGrant) -> Result<CreditGrantOutcome, StoreError> {
        let mut u = lock(&self.usage);
        let grant_key = (grant.tenant.clone(), grant.grant_id.clone());
        if let Some(balance) = u.grants.get(&grant_key) {
            return Ok(CreditGrantOutcome {
                balance: *balance,
                replayed: true,
            });
        }
        let balance_key = (
            grant.tenant.clone(),
            grant.customer.clone(),
            grant.meter.clone(),
        );
        let balance = u
            .credits
            .get(&balance_key)
            .copied()
            .unwrap_or(0)
            .checked_add(grant.amount)
            .filter(|b| *b <= MAX_CREDIT_BALANCE)
            .ok_or(StoreError::Conflict(CREDIT_BALANCE_FULL))?;
        u.credits.insert(balance_key, balance);
        u.grants.insert(grant_key, balance);
        Ok(CreditGrantOutcome {
            balance,
            replayed: false,
        })
    }

    async fn read_meters(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        meters: &[MeterPeriod],
    ) -> Result<MetersReading, StoreError> {
        let u = lock(&self.usage);
        let used = meters
            .iter()
            .map(|m| u.count(tenant, customer, &m.meter, &m.period))
            .collect();
        let credits = u
            .credits
            .iter()
            .filter(|((t, c, _), balance)| t == tenant && c == customer && **balance > 0)
            .map(|((_, _, meter), balance)| (meter.clone(), *balance))
            .collect();
        Ok(MetersReading { used, credits })
    }

    async fn get_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        period: &Period,
    ) -> Result<u64, StoreError> {
        Ok(lock(&self.usage).count(tenant, customer, REQUESTS_METER, period))
    }

    async fn last_consumed_at(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(lock(&self.usage)
            .last_consumed
            .get(&(tenant.clone(), customer.clone()))
            .copied())
    }

    async fn active_customers(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        Ok(lock(&self.usage)
            .counters
            .get(&(tenant.clone(), period.start))
            .map_or(0, |m| m.len() as u64))
    }

    async fn total_usage(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        Ok(lock(&self.usage)
            .counters
            .get(&(tenant.clone(), period.start))
            .map_or(0, |m| m.values().sum()))
    }
}
