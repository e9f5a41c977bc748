//! Hourly and daily usage per tenant and meter in memory.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use dream_core::{ports::UsageHistoryStore, DailyUsage, HourlyUsage, StoreError, Tenant};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct History {
    days: BTreeMap<(Tenant, String, NaiveDate), u64>,
    hours: BTreeMap<(Tenant, String, DateTime<Utc>), u64>,
}

fn add<K: Ord>(map: &mut BTreeMap<K, u64>, key: K, amount: u64) {
    let total = map.entry(key).or_default();
    *total = total.saturating_add(amount);
}

#[async_trait]
impl UsageHistoryStore for MemoryStore {
    async fn add_daily_usage(&self, rows: &[DailyUsage]) -> Result<(), StoreError> {
        let mut history = lock(&self.history);
        for row in rows {
            let key = (row.tenant.clone(), row.meter.clone(), row.day);
            add(&mut history.days, key, row.amount);
        }
        Ok(())
    }

    async fn add_usage(&self, rows: &[HourlyUsage]) -> Result<(), StoreError> {
        let mut history = lock(&self.history);
        for row in rows {
            let hour = (row.tenant.clone(), row.meter.clone(), row.hour);
            add(&mut history.hours, hour, row.amount);
            let day = (row.tenant.clone(), row.meter.clone(), row.hour.date_naive());
            add(&mut history.days, day, row.amount);
        }
        Ok(())
    }

    async fn daily_usage(
        &self,
        tenant: &Tenant,
        meter: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, u64)>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let history = lock(&self.history);
        Ok(history
            .days
            .range(
                (tenant.clone(), meter.to_owned(), from)..=(tenant.clone(), meter.to_owned(), to),
            )
            .map(|((_, _, day), amount)| (*day, *amount))
            .collect())
    }

    async fn hourly_usage(
        &self,
        tenant: &Tenant,
        meter: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let history = lock(&self.history);
        Ok(history
            .hours
            .range((tenant.clone(), meter.to_owned(), from)..(tenant.clone(), meter.to_owned(), to))
            .map(|((_, _, hour), amount)| (*hour, *amount))
            .collect())
    }

    async fn purge_usage_history(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let mut history = lock(&self.history);
        let hours: Vec<_> = history
            .hours
            .keys()
            .filter(|(_, _, hour)| *hour < before)
            .take(limit)
            .cloned()
            .collect();
        let day = before.date_naive();
        let days: Vec<_> = history
            .days
            .keys()
            .filter(|(_, _, d)| *d < day)
            .take(limit)
            .cloned()
            .collect();
        for key in &hours {
            history.hours.remove(key);
        }
        for key in &days {
            history.days.remove(key);
        }
        Ok((hours.len() + days.len()) as u64)
    }
}
