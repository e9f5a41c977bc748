//! Usage counters and rate windows in SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    gcra, ports::UsageStore, within_limit, ConsumeOutcome, ConsumeRequest, CustomerId, Period,
    StoreError, Tenant, UsageLimit, RECEIPT_RETENTION_HOURS,
};

use super::{from_opt_ts, ts, SqliteStore};
use crate::sql::{backend, mode_str, to_i64, to_u64};

/// The limit as SQL binds it: `Some(None)` when unlimited, `None` when it does
/// not fit SQLite's integers (the transactional path compares it in Rust).
fn sql_limit(limit: UsageLimit) -> Option<Option<i64>> {
    match limit {
        UsageLimit::Unlimited => Some(None),
        UsageLimit::Limited(max) => i64::try_from(max).ok().map(Some),
    }
}

impl SqliteStore {
    /// A consume without receipt or rate limit: the limit check and the increment
    /// are one conditional upsert, atomic under SQLite's write lock, instead of a
    /// `BEGIN IMMEDIATE` transaction of four statements (each a hop to the
    /// connection's worker thread). Only a refusal reads the count again, on the
    /// same (only) writer connection.
    async fn consume_counter_only(
        &self,
        req: &ConsumeRequest,
        limit: Option<i64>,
    ) -> Result<ConsumeOutcome, StoreError> {
        let platform = req.tenant.platform.as_str();
        let mode = mode_str(req.tenant.mode);
        let customer = req.customer.as_str();
        let period = ts(req.period.start);
        let mut conn = self.writer.acquire().await.map_err(backend)?;
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
            return Ok(ConsumeOutcome::Accepted {
                used: to_u64(used)?,
            });
        }
        let used: Option<i64> = sqlx::query_scalar(
            "SELECT used FROM usage_counters WHERE platform_id = ?1 AND mode = ?2 \
             AND period_start = ?3 AND customer_id = ?4",
        )
        .bind(platform)
        .bind(mode)
        .bind(period)
        .bind(customer)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        Ok(ConsumeOutcome::LimitReached {
            used: to_u64(used.unwrap_or(0))?,
        })
    }
}

#[async_trait]
impl UsageStore for SqliteStore {
    /// Decides inside one `BEGIN IMMEDIATE` transaction: SQLite's write lock is held
    /// from the first read to the commit, so no other writer can interleave. A call
    /// without receipt or rate limit takes the one-statement path
    /// (`consume_counter_only`).
    async fn consume_usage(&self, req: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError> {
        if req.receipt.is_none() && req.rate_limit_per_minute.is_none() {
            if let Some(limit) = sql_limit(req.limit) {
                return self.consume_counter_only(req, limit).await;
            }
        }
        let platform = req.tenant.platform.as_str();
        let mode = mode_str(req.tenant.mode);
        let customer = req.customer.as_str();
        let period = ts(req.period.start);
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
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
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if let Some(used) = replay {
                tx.rollback().await.map_err(backend)?;
                return Ok(ConsumeOutcome::Accepted {
                    used: to_u64(used)?,
                });
            }
        }
        let used: Option<i64> = sqlx::query_scalar(
            "SELECT used FROM usage_counters WHERE platform_id = ?1 AND mode = ?2 \
             AND period_start = ?3 AND customer_id = ?4",
        )
        .bind(platform)
        .bind(mode)
        .bind(period)
        .bind(customer)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let used = to_u64(used.unwrap_or(0))?;
        if !within_limit(used, req.amount, req.limit) {
            tx.rollback().await.map_err(backend)?;
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
            .fetch_optional(&mut *tx)
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
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                Err(retry_after_ms) => {
                    tx.rollback().await.map_err(backend)?;
                    return Ok(ConsumeOutcome::RateLimited { retry_after_ms });
                }
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
        .fetch_one(&mut *tx)
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
            .execute(&mut *tx)
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
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(ConsumeOutcome::Accepted {
            used: to_u64(used)?,
        })
    }

    async fn get_usage(
        &self,
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
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        to_u64(used.unwrap_or(0))
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
