//! Usage counters in PostgreSQL: one `dream_consume` call per track.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::UsageStore, ConsumeOutcome, ConsumeRequest, CustomerId, Period, StoreError, Tenant,
};

use super::PostgresStore;
use crate::sql::{backend, corrupt, mode_str, to_i64, to_u64};

#[async_trait]
impl UsageStore for PostgresStore {
    async fn consume_usage(&self, req: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError> {
        let (outcome, used, retry_after_ms): (i16, i64, i64) = sqlx::query_as(
            "SELECT outcome, used, retry_after_ms FROM dream_consume($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(req.tenant.platform.as_str())
        .bind(mode_str(req.tenant.mode))
        .bind(req.customer.as_str())
        .bind(req.period.start)
        .bind(to_i64(req.amount)?)
        .bind(req.limit.as_option().map(to_i64).transpose()?)
        .bind(req.rate_limit_per_minute.map(|r| r as i32))
        .bind(req.now)
        .bind(req.now.timestamp_micros())
        .bind(&req.receipt)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        let used = to_u64(used)?;
        match outcome {
            0 => Ok(ConsumeOutcome::Accepted { used }),
            1 => Ok(ConsumeOutcome::LimitReached { used }),
            2 => Ok(ConsumeOutcome::RateLimited {
                retry_after_ms: to_u64(retry_after_ms)?,
            }),
            other => Err(corrupt(format!("dream_consume returned outcome {other}"))),
        }
    }

    async fn get_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        period: &Period,
    ) -> Result<u64, StoreError> {
        let used: Option<i64> = sqlx::query_scalar(
            "SELECT used FROM usage_counters WHERE platform_id = $1 AND mode = $2 \
             AND period_start = $3 AND customer_id = $4",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(period.start)
        .bind(customer.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        to_u64(used.unwrap_or(0))
    }

    async fn last_consumed_at(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        sqlx::query_scalar(
            "SELECT max(updated_at) FROM usage_counters \
             WHERE platform_id = $1 AND mode = $2 AND customer_id = $3",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(customer.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(backend)
    }

    async fn active_customers(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM usage_counters WHERE platform_id = $1 AND mode = $2 \
             AND period_start = $3 AND used > 0",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(period.start)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        to_u64(n)
    }

    async fn total_usage(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(used), 0)::BIGINT FROM usage_counters \
             WHERE platform_id = $1 AND mode = $2 AND period_start = $3",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(period.start)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        to_u64(n)
    }
}
