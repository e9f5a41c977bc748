//! Usage counters and rate windows in memory.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    gcra, ports::UsageStore, within_limit, ConsumeOutcome, ConsumeRequest, CustomerId, Period,
    StoreError, Tenant, RECEIPT_RETENTION_HOURS,
};

use super::{lock, MemoryStore};

type CustomerKey = (Tenant, CustomerId);

/// Above this many receipts, a consume first drops the expired ones.
const RECEIPT_SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct Usage {
    counters: HashMap<(Tenant, DateTime<Utc>), HashMap<CustomerId, u64>>,
    rate_tat_us: HashMap<CustomerKey, i64>,
    last_consumed: HashMap<CustomerKey, DateTime<Utc>>,
    /// Accepted consumes by receipt: the usage they produced and when.
    receipts: HashMap<(Tenant, String), (u64, DateTime<Utc>)>,
}

#[async_trait]
impl UsageStore for MemoryStore {
    async fn consume_usage(&self, req: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError> {
        let mut u = lock(&self.usage);
        if let Some(receipt) = &req.receipt {
            let retention = chrono::Duration::hours(RECEIPT_RETENTION_HOURS);
            if u.receipts.len() > RECEIPT_SWEEP_ABOVE {
                u.receipts.retain(|_, (_, at)| *at + retention > req.now);
            }
            let key = (req.tenant.clone(), receipt.clone());
            if let Some((used, at)) = u.receipts.get(&key) {
                if *at + retention > req.now {
                    return Ok(ConsumeOutcome::Accepted { used: *used });
                }
            }
        }
        let period_key = (req.tenant.clone(), req.period.start);
        let used = u
            .counters
            .get(&period_key)
            .and_then(|m| m.get(&req.customer))
            .copied()
            .unwrap_or(0);
        if !within_limit(used, req.amount, req.limit) {
            return Ok(ConsumeOutcome::LimitReached { used });
        }
        let customer_key = (req.tenant.clone(), req.customer.clone());
        if let Some(rate) = req.rate_limit_per_minute {
            let tat = u.rate_tat_us.get(&customer_key).copied();
            match gcra(tat, req.now.timestamp_micros(), rate, req.amount) {
                Ok(new_tat) => {
                    u.rate_tat_us.insert(customer_key.clone(), new_tat);
                }
                Err(retry_after_ms) => return Ok(ConsumeOutcome::RateLimited { retry_after_ms }),
            }
        }
        let used = used + req.amount;
        u.counters
            .entry(period_key)
            .or_default()
            .insert(req.customer.clone(), used);
        u.last_consumed.insert(customer_key, req.now);
        if let Some(receipt) = &req.receipt {
            u.receipts
                .insert((req.tenant.clone(), receipt.clone()), (used, req.now));
        }
        Ok(ConsumeOutcome::Accepted { used })
    }

    async fn get_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        period: &Period,
    ) -> Result<u64, StoreError> {
        Ok(lock(&self.usage)
            .counters
            .get(&(tenant.clone(), period.start))
            .and_then(|m| m.get(customer))
            .copied()
            .unwrap_or(0))
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
