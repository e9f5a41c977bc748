//! The usage port: the one atomic consume of the hot path, and usage reads.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{ConsumeOutcome, ConsumeRequest, CustomerId, Period, StoreError, Tenant};

/// Usage counters and rate windows.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// The one atomic hot-path operation: if `used + amount` fits the limit
    /// ([`crate::within_limit`]) and the rate window admits `amount`
    /// ([`crate::gcra`]), count both; otherwise change nothing. Usage is checked
    /// first, so a call refused for usage never spends rate allowance and vice versa.
    async fn consume_usage(&self, request: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError>;

    /// Usage counted for the customer in the period; 0 if none. Never changes it.
    async fn get_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        period: &Period,
    ) -> Result<u64, StoreError>;

    /// The last time usage was counted for the customer, in any period.
    async fn last_consumed_at(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// How many customers have usage counted in the period.
    async fn active_customers(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError>;

    /// Sum of all customers' usage in the period.
    async fn total_usage(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError>;
}
