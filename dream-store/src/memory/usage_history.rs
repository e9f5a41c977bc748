//! Daily usage per tenant in memory.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use dream_core::{ports::UsageHistoryStore, DailyUsage, StoreError, Tenant};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct History {
    days: BTreeMap<(Tenant, NaiveDate), u64>,
}

#[async_trait]
impl UsageHistoryStore for MemoryStore {
    async fn add_daily_usage(&self, rows: &[DailyUsage]) -> Result<(), StoreError> {
        let mut history = lock(&self.history);
        for row in rows {
            let total = history
                .days
                .entry((row.tenant.clone(), row.day))
                .or_default();
            *total = total.saturating_add(row.amount);
        }
        Ok(())
    }

    async fn daily_usage(
        &self,
        tenant: &Tenant,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, u64)>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let history = lock(&self.history);
        Ok(history
            .days
            .range((tenant.clone(), from)..=(tenant.clone(), to))
            .map(|((_, day), amount)| (*day, *amount))
            .collect())
    }
}
