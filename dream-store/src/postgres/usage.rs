//! Usage counters in PostgreSQL: one `dream_consume` call per track, or one
//! `dream_consume_batch` call for all the consumes that waited while the store
//! was busy (group commit, `crate::group_commit`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::UsageStore, ConsumeOutcome, ConsumeRequest, CustomerId, Period, StoreError, Tenant,
};
use sqlx::PgPool;

use super::PostgresStore;
use crate::{
    group_commit::{Answer, BatchError, ConsumeExecutor},
    sql::{backend, corrupt, mode_str, to_i64, to_u64},
};

/// The consume paths of one pool, for [`crate::group_commit::GroupCommit`].
#[derive(Debug, Clone)]
pub(super) struct PgConsumer {
    pub(super) pool: PgPool,
}

fn decode(outcome: i16, used: i64, retry_after_ms: i64) -> Answer {
    let used = to_u64(used)?;
    match outcome {
        0 => Ok(ConsumeOutcome::accepted(used)),
        1 => Ok(ConsumeOutcome::LimitReached { used }),
        2 => Ok(ConsumeOutcome::RateLimited {
            retry_after_ms: to_u64(retry_after_ms)?,
        }),
        other => Err(corrupt(format!("dream_consume returned outcome {other}"))),
    }
}

/// The arrays of `dream_consume_batch`, one element per consume.
#[derive(Default)]
struct BatchArrays<'a> {
    platform: Vec<&'a str>,
    mode: Vec<&'a str>,
    customer: Vec<&'a str>,
    period: Vec<DateTime<Utc>>,
    amount: Vec<i64>,
    limit: Vec<Option<i64>>,
    rate: Vec<Option<i32>>,
    now: Vec<DateTime<Utc>>,
    now_us: Vec<i64>,
    receipt: Vec<Option<&'a str>>,
}

impl<'a> BatchArrays<'a> {
    fn push(&mut self, req: &'a ConsumeRequest) -> Result<(), StoreError> {
        self.amount.push(to_i64(req.amount)?);
        self.limit
            .push(req.limit.as_option().map(to_i64).transpose()?);
        self.platform.push(req.tenant.platform.as_str());
        self.mode.push(mode_str(req.tenant.mode));
        self.customer.push(req.customer.as_str());
        self.period.push(req.period.start);
        self.rate.push(req.rate_limit_per_minute.map(|r| r as i32));
        self.now.push(req.now);
        self.now_us.push(req.now.timestamp_micros());
        self.receipt.push(req.receipt.as_deref());
        Ok(())
    }
}

#[async_trait]
impl ConsumeExecutor for PgConsumer {
    async fn consume_one(&self, req: &ConsumeRequest) -> Answer {
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
        decode(outcome, used, retry_after_ms)
    }

    /// One `dream_consume_batch` statement (autocommit: one transaction). The
    /// consumes go sorted by counter, arrival order kept within one counter (a
    /// stable sort), so every batch of every process locks rows in one order.
    async fn consume_batch(&self, requests: &[ConsumeRequest]) -> Result<Vec<Answer>, BatchError> {
        let mut order: Vec<usize> = (0..requests.len()).collect();
        let key = |i: &usize| {
            let r = &requests[*i];
            (
                r.tenant.platform.as_str(),
                mode_str(r.tenant.mode),
                r.customer.as_str(),
                r.period.start,
            )
        };
        order.sort_by(|a, b| key(a).cmp(&key(b)));
        let mut arrays = BatchArrays::default();
        for &i in &order {
            // A value SQL cannot hold: decided alone, where it fails alone.
            arrays
                .push(&requests[i])
                .map_err(|_| BatchError::RolledBack)?;
        }
        let rows: Vec<(i16, i64, i64)> = sqlx::query_as(
            "SELECT outcome, used, retry_after_ms \
             FROM dream_consume_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&arrays.platform)
        .bind(&arrays.mode)
        .bind(&arrays.customer)
        .bind(&arrays.period)
        .bind(&arrays.amount)
        .bind(&arrays.limit)
        .bind(&arrays.rate)
        .bind(&arrays.now)
        .bind(&arrays.now_us)
        .bind(&arrays.receipt)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| match e {
            // The server refused the statement (a deadlock, a serialization
            // failure, an overflow): it rolled back as a whole.
            sqlx::Error::Database(_) => BatchError::RolledBack,
            other => BatchError::Failed(backend(other)),
        })?;
        if rows.len() != requests.len() {
            let message = format!(
                "dream_consume_batch returned {} rows for {} consumes",
                rows.len(),
                requests.len()
            );
            return Ok(requests
                .iter()
                .map(|_| Err(corrupt(message.clone())))
                .collect());
        }
        let mut answers: Vec<Option<Answer>> = requests.iter().map(|_| None).collect();
        for (&i, (outcome, used, retry_after_ms)) in order.iter().zip(rows) {
            answers[i] = Some(decode(outcome, used, retry_after_ms));
        }
        Ok(answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(corrupt("a consume without its row".into()))))
            .collect())
    }
}

#[async_trait]
impl UsageStore for PostgresStore {
    async fn consume_usage(&self, req: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError> {
        self.consumes.consume(req).await
    }

    // WIP-METERS: placeholder until the backend's meter and credit support lands.
    async fn release_usage(
        &self,
        _tenant: &Tenant,
        _customer: &CustomerId,
        _meter: &str,
        _period: &Period,
        _amount: u64,
    ) -> Result<u64, StoreError> {
        Err(StoreError::Conflict("WIP-METERS"))
    }

    async fn grant_credits(
        &self,
        _grant: &dream_core::CreditGrant,
    ) -> Result<dream_core::CreditGrantOutcome, StoreError> {
        Err(StoreError::Conflict("WIP-METERS"))
    }

    async fn read_meters(
        &self,
        _tenant: &Tenant,
        _customer: &CustomerId,
        _meters: &[dream_core::MeterPeriod],
    ) -> Result<dream_core::MetersReading, StoreError> {
        Err(StoreError::Conflict("WIP-METERS"))
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
