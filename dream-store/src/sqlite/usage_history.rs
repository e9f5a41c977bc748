//! Hourly and daily usage per tenant and meter in SQLite: one transaction adds a whole batch.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use dream_core::{ports::UsageHistoryStore, DailyUsage, HourlyUsage, StoreError, Tenant};

use super::{from_ts, ts, SqliteStore};
use crate::sql::{backend, mode_str, to_i64, to_u64};

#[async_trait]
impl UsageHistoryStore for SqliteStore {
    async fn add_daily_usage(&self, rows: &[DailyUsage]) -> Result<(), StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        for row in rows {
            sqlx::query(
                "INSERT INTO usage_daily (platform_id, mode, day, amount, meter) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (platform_id, mode, meter, day) \
                 DO UPDATE SET amount = amount + excluded.amount",
            )
            .bind(row.tenant.platform.as_str())
            .bind(mode_str(row.tenant.mode))
            .bind(row.day)
            .bind(to_i64(row.amount)?)
            .bind(&row.meter)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn add_usage(&self, rows: &[HourlyUsage]) -> Result<(), StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        for row in rows {
            let platform = row.tenant.platform.as_str();
            let mode = mode_str(row.tenant.mode);
            let amount = to_i64(row.amount)?;
            sqlx::query(
                "INSERT INTO usage_hourly (platform_id, mode, hour, amount, meter) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (platform_id, mode, meter, hour) \
                 DO UPDATE SET amount = amount + excluded.amount",
            )
            .bind(platform)
            .bind(mode)
            .bind(ts(row.hour))
            .bind(amount)
            .bind(&row.meter)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query(
                "INSERT INTO usage_daily (platform_id, mode, day, amount, meter) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (platform_id, mode, meter, day) \
                 DO UPDATE SET amount = amount + excluded.amount",
            )
            .bind(platform)
            .bind(mode)
            .bind(row.hour.date_naive())
            .bind(amount)
            .bind(&row.meter)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn hourly_usage(
        &self,
        tenant: &Tenant,
        meter: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT hour, amount FROM usage_hourly WHERE platform_id = ?1 AND mode = ?2 \
             AND meter = ?5 AND hour >= ?3 AND hour < ?4 ORDER BY hour",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(ts(from))
        .bind(ts(to))
        .bind(meter)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(hour, amount)| Ok((from_ts(hour)?, to_u64(amount)?)))
            .collect()
    }

    async fn purge_usage_history(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let hours = sqlx::query(
            "DELETE FROM usage_hourly WHERE (platform_id, mode, meter, hour) IN \
             (SELECT platform_id, mode, meter, hour FROM usage_hourly WHERE hour < ?1 LIMIT ?2)",
        )
        .bind(ts(before))
        .bind(limit)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        let days = sqlx::query(
            "DELETE FROM usage_daily WHERE (platform_id, mode, meter, day) IN \
             (SELECT platform_id, mode, meter, day FROM usage_daily WHERE day < ?1 LIMIT ?2)",
        )
        .bind(before.date_naive())
        .bind(limit)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        tx.commit().await.map_err(backend)?;
        Ok(hours + days)
    }

    async fn daily_usage(
        &self,
        tenant: &Tenant,
        meter: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, u64)>, StoreError> {
        let rows: Vec<(NaiveDate, i64)> = sqlx::query_as(
            "SELECT day, amount FROM usage_daily WHERE platform_id = ?1 AND mode = ?2 \
             AND meter = ?5 AND day >= ?3 AND day <= ?4 ORDER BY day",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(from)
        .bind(to)
        .bind(meter)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(day, amount)| Ok((day, to_u64(amount)?)))
            .collect()
    }
}
