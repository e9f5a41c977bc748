//! The usage history port: hourly and daily usage per tenant, for charts and
//! `GET /api/usage/history`.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::{DailyUsage, HourlyUsage, StoreError, Tenant};

/// Hourly and daily usage per tenant and meter. Writes add to what is stored (never
/// replace), so any number of processes may write their batches in any order.
#[async_trait]
pub trait UsageHistoryStore: Send + Sync {
    /// Adds each row's amount to its (tenant, meter, day) total, all rows atomically.
    async fn add_daily_usage(&self, rows: &[DailyUsage]) -> Result<(), StoreError>;

    /// Adds each row's amount to its (tenant, meter, hour) total and to the
    /// (tenant, meter, UTC day of the hour) total, all rows atomically: the hours of a day always
    /// sum to the day.
    async fn add_usage(&self, rows: &[HourlyUsage]) -> Result<(), StoreError>;

    /// The tenant's totals of `meter` for the days from `from` to `to` (both
    /// included) that have any, oldest first.
    async fn daily_usage(
        &self,
        tenant: &Tenant,
        meter: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, u64)>, StoreError>;

    /// The tenant's totals of `meter` for the hours starting in `[from, to)` that
    /// have any, oldest first.
    async fn hourly_usage(
        &self,
        tenant: &Tenant,
        meter: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError>;

    /// Deletes, across tenants, up to `limit` hourly rows of hours before
    /// `before` and up to `limit` daily rows of days before `before`'s UTC day;
    /// returns how many rows went (the retention sweep).
    async fn purge_usage_history(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError>;
}
