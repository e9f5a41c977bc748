//! The usage history port: daily usage per tenant, for charts.

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::{DailyUsage, StoreError, Tenant};

/// Daily usage per tenant. Writes add to what is stored (never replace), so any
/// number of processes may write their batches in any order.
#[async_trait]
pub trait UsageHistoryStore: Send + Sync {
    /// Adds each row's amount to its (tenant, day) total, all rows atomically.
    async fn add_daily_usage(&self, rows: &[DailyUsage]) -> Result<(), StoreError>;

    /// The tenant's totals for the days from `from` to `to` (both included) that
    /// have any, oldest first.
    async fn daily_usage(
        &self,
        tenant: &Tenant,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, u64)>, StoreError>;
}
