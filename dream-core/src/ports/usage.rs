//! The usage port: the one atomic consume of the hot path, and usage reads.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    ConsumeOutcome, ConsumeRequest, CreditGrant, CreditGrantOutcome, CustomerId, MeterPeriod,
    MetersReading, Period, StoreError, Tenant,
};

/// Usage counters per (customer, meter, period), credit balances per (customer,
/// meter), and rate windows per customer.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// The one atomic hot-path operation: if the meter's counter and the
    /// customer's credits for it can take `amount` ([`crate::decide_usage`]: the
    /// allowance first, then credits) and the rate window admits `amount`
    /// ([`crate::gcra`]), count both and take the credits; otherwise change
    /// nothing. Usage is checked first, so a call refused for usage never spends
    /// rate allowance and vice versa. The credit balance is only read when the
    /// allowance cannot hold `amount`.
    async fn consume_usage(&self, request: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError>;

    /// Gives back up to `amount` units of the customer's count of `meter` in the
    /// period (a seat freed), atomically, never below zero; answers the count
    /// after. Credits spent on the units are not returned.
    async fn release_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        meter: &str,
        period: &Period,
        amount: u64,
    ) -> Result<u64, StoreError>;

    /// Adds credits to the customer's balance for the grant's meter, atomically
    /// with the grant's ledger entry. A grant id seen before adds nothing and
    /// answers the balance its first grant produced.
    async fn grant_credits(&self, grant: &CreditGrant) -> Result<CreditGrantOutcome, StoreError>;

    /// The counts of several meters and all the customer's credit balances, read
    /// at one instant (no consume lands between two of them).
    async fn read_meters(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        meters: &[MeterPeriod],
    ) -> Result<MetersReading, StoreError>;

    /// The `requests` count for the customer in the period; 0 if none. Never
    /// changes it.
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

    /// How many customers have `requests` counted in the period.
    async fn active_customers(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError>;

    /// Sum of all customers' `requests` in the period.
    async fn total_usage(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError>;
}
