//! Usage counters and rate windows in SQLite. Concurrent consumes share one
//! `BEGIN IMMEDIATE` transaction and its one commit (group commit,
//! `crate::group_commit`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    gcra, ports::UsageStore, within_limit, ConsumeOutcome, ConsumeRequest, CustomerId, Period,
    StoreError, Tenant, UsageLimit, RECEIPT_RETENTION_HOURS,
};
use sqlx::{SqliteConnection, SqlitePool};

use super::{from_opt_ts, ts, SqliteStore};
use crate::{
    group_commit::{Answer, BatchError, ConsumeExecutor},
    sql::{backend, mode_str, to_i64, to_u64},
};

/// The limit as SQL binds it: `Some(None)` when unlimited, `None` when it does
/// not fit SQLite's integers (the transactional path compares it in Rust).
fn sql_limit(limit: UsageLimit) -> Option<Option<i64>> {
    match limit {
        UsageLimit::Unlimited => Some(None),
        UsageLimit::Limited(max) => i64::try_from(max).ok().map(Some),
    }
}

/// The limit for the one-statement path, when the consume can take it.
fn counter_only_limit(req: &ConsumeRequest) -> Option<Option<i64>> {
    if req.receipt.is_none() && req.rate_limit_per_minute.is_none() {
        sql_limit(req.limit)
    } else {
        None
    }
}

/// The consume paths of the writer connection, for
/// [`crate::group_commit::GroupCommit`].
#[derive(Debug, Clone)]
pub(super) struct SqliteConsumer {
    pub(super) writer: SqlitePool,
}

/// A consume without receipt or rate limit: the limit check and the increment
/// are one conditional upsert, atomic under SQLite's write lock, instead of the
/// four statements of [`decide`] (each a hop to the connection's worker thread).
/// Only a refusal reads the count again, on the same connection.
async fn consume_counter_only(
    conn: &mut SqliteConnection,
    req: &ConsumeRequest,
    limit: Option<i64>,
) -> Result<ConsumeOutcome, StoreError> {
    let platform = req.tenant.platform.as_str();
    let mode = mode_str(req.tenant.mode);
    let customer = req.customer.as_str();
    let period = ts(req.period.start);
    let counted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO usage_counters \
           (platform_id, mode, period_start, customer_id, used, updated_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE ?7 IS NULL OR ?5 <= ?7 \
         ON CONFLICT (platform_id, mode, period_start, customer_id) \
         DO UPDATE SET used = used + excluded.used, updated_at = excluded.updated_at \
         WHERE ?7 IS NULL OR usage_counters.used + excluded.used <= ?7 \
         RETURNING used",
    )
    .bind(platform)
    .bind(mode)
    .bind(period)
    .bind(customer)
    .bind(to_i64(req.amount)?)
    .bind(ts(req.now))
    .bind(limit)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    if let Some(used) = counted {
        return Ok(ConsumeOutcome::accepted(to_u64(used)?));
    }
    Ok(ConsumeOutcome::LimitReached {
        used: counted_so_far(&mut *conn, &req.tenant, &req.customer, &req.period).await?,
    })
}

/// The customer's count in the period (0 before the first), on the pool or on
/// a connection inside a consume's transaction.
async fn counted_so_far<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    tenant: &Tenant,
    customer: &CustomerId,
    period: &Period,
) -> Result<u64, StoreError> {
    let used: Option<i64> = sqlx::query_scalar(
        "SELECT used FROM usage_counters WHERE platform_id = ?1 AND mode = ?2 \
         AND period_start = ?3 AND customer_id = ?4",
    )
    .bind(tenant.platform.as_str())
    .bind(mode_str(tenant.mode))
    .bind(ts(period.start))
    .bind(customer.as_str())
    .fetch_optional(executor)
    .await
    .map_err(backend)?;
    to_u64(used.unwrap_or(0))
}

/// Decides one consume on a connection inside a `BEGIN IMMEDIATE` transaction:
/// SQLite's write lock is held from the first read to the commit, so no other
/// writer can interleave. A refusal writes nothing.
async fn decide(
    conn: &mut SqliteConnection,
    req: &ConsumeRequest,
) -> Result<ConsumeOutcome, StoreError> {
    let platform = req.tenant.platform.as_str();
    let mode = mode_str(req.tenant.mode);
    let customer = req.customer.as_str();
    let period = ts(req.period.start);
    let cutoff = ts(req.now - chrono::Duration::hours(RECEIPT_RETENTION_HOURS));
    if let Some(receipt) = &req.receipt {
        let replay: Option<i64> = sqlx::query_scalar(
            "SELECT used FROM usage_receipts WHERE platform_id = ?1 AND mode = ?2 \
             AND receipt = ?3 AND created_at > ?4",
        )
        .bind(platform)
        .bind(mode)
        .bind(receipt)
        .bind(cutoff)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        if let Some(used) = replay {
            return Ok(ConsumeOutcome::accepted(to_u64(used)?));
        }
    }
    let used = counted_so_far(&mut *conn, &req.tenant, &req.customer, &req.period).await?;
    if !within_limit(used, req.amount, req.limit) {
        return Ok(ConsumeOutcome::LimitReached { used });
    }
    if let Some(rate) = req.rate_limit_per_minute {
        let tat: Option<i64> = sqlx::query_scalar(
            "SELECT tat_us FROM rate_windows WHERE platform_id = ?1 AND mode = ?2 \
             AND customer_id = ?3",
        )
        .bind(platform)
        .bind(mode)
        .bind(customer)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        match gcra(tat, req.now.timestamp_micros(), rate, req.amount) {
            Ok(new_tat) => {
                sqlx::query(
                    "INSERT INTO rate_windows (platform_id, mode, customer_id, tat_us) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (platform_id, mode, customer_id) \
                     DO UPDATE SET tat_us = excluded.tat_us",
                )
                .bind(platform)
                .bind(mode)
                .bind(customer)
                .bind(new_tat)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            }
            Err(retry_after_ms) => return Ok(ConsumeOutcome::RateLimited { retry_after_ms }),
        }
    }
    let used: i64 = sqlx::query_scalar(
        "INSERT INTO usage_counters \
           (platform_id, mode, period_start, customer_id, used, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (platform_id, mode, period_start, customer_id) \
         DO UPDATE SET used = used + excluded.used, updated_at = excluded.updated_at \
         RETURNING used",
    )
    .bind(platform)
    .bind(mode)
    .bind(period)
    .bind(customer)
    .bind(to_i64(req.amount)?)
    .bind(ts(req.now))
    .fetch_one(&mut *conn)
    .await
    .map_err(backend)?;
    if let Some(receipt) = &req.receipt {
        sqlx::query(
            "DELETE FROM usage_receipts WHERE platform_id = ?1 AND mode = ?2 \
             AND created_at <= ?3",
        )
        .bind(platform)
        .bind(mode)
        .bind(cutoff)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        sqlx::query(
            "INSERT INTO usage_receipts (platform_id, mode, receipt, used, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (platform_id, mode, receipt) \
             DO UPDATE SET used = excluded.used, created_at = excluded.created_at",
        )
        .bind(platform)
        .bind(mode)
        .bind(receipt)
        .bind(used)
        .bind(ts(req.now))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(ConsumeOutcome::accepted(to_u64(used)?))
}

#[async_trait]
impl ConsumeExecutor for SqliteConsumer {
    /// A consume without receipt or rate limit is one statement (its own
    /// transaction); any other is [`decide`] in a `BEGIN IMMEDIATE` transaction.
    async fn consume_one(&self, req: &ConsumeRequest) -> Answer {
        if let Some(limit) = counter_only_limit(req) {
            let mut conn = self.writer.acquire().await.map_err(backend)?;
            return consume_counter_only(&mut conn, req, limit).await;
        }
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let outcome = decide(&mut tx, req).await?;
        // A refusal wrote nothing: rolling back ends the transaction as cheaply.
        if matches!(outcome, ConsumeOutcome::Accepted { .. }) {
            tx.commit().await.map_err(backend)?;
        } else {
            tx.rollback().await.map_err(backend)?;
        }
        Ok(outcome)
    }

    /// Every consume of the batch, in order, in one `BEGIN IMMEDIATE` transaction
    /// with one commit (one WAL append instead of one per consume).
    async fn consume_batch(&self, requests: &[ConsumeRequest]) -> Result<Vec<Answer>, BatchError> {
        let failed = |e: StoreError| match e {
            StoreError::Unavailable(_) => BatchError::Failed(e),
            _ => BatchError::RolledBack,
        };
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| failed(backend(e)))?;
        let mut answers = Vec::with_capacity(requests.len());
        for req in requests {
            let outcome = match counter_only_limit(req) {
                Some(limit) => consume_counter_only(&mut tx, req, limit).await,
                None => decide(&mut tx, req).await,
            };
            // Dropping the transaction rolls it back.
            answers.push(Ok(outcome.map_err(failed)?));
        }
        tx.commit().await.map_err(|e| failed(backend(e)))?;
        Ok(answers)
    }
}

#[async_trait]
impl UsageStore for SqliteStore {
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
        counted_so_far(&self.reader, tenant, customer, period).await
    }

    async fn last_consumed_at(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT max(updated_at) FROM usage_counters \
             WHERE platform_id = ?1 AND mode = ?2 AND customer_id = ?3",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(customer.as_str())
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        from_opt_ts(last)
    }

    async fn active_customers(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM usage_counters WHERE platform_id = ?1 AND mode = ?2 \
             AND period_start = ?3 AND used > 0",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(ts(period.start))
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        to_u64(n)
    }

    async fn total_usage(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(used), 0) FROM usage_counters \
             WHERE platform_id = ?1 AND mode = ?2 AND period_start = ?3",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(ts(period.start))
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        to_u64(n)
    }
}
