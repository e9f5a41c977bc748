//! Daily usage per tenant in SQLite: one transaction adds a whole batch.

use async_trait::async_trait;
use chrono::NaiveDate;
use dream_core::{ports::UsageHistoryStore, DailyUsage, StoreError, Tenant};

use super::SqliteStore;
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
                "INSERT INTO usage_daily (platform_id, mode, day, amount) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (platform_id, mode, day) DO UPDATE SET amount = amount + excluded.amount",
            )
            .bind(row.tenant.platform.as_str())
            .bind(mode_str(row.tenant.mode))
            .bind(row.day)
            .bind(to_i64(row.amount)?)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn daily_usage(
        &self,
        tenant: &Tenant,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, u64)>, StoreError> {
        let rows: Vec<(NaiveDate, i64)> = sqlx::query_as(
            "SELECT day, amount FROM usage_daily WHERE platform_id = ?1 AND mode = ?2 \
             AND day >= ?3 AND day <= ?4 ORDER BY day",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(from)
        .bind(to)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(day, amount)| Ok((day, to_u64(amount)?)))
            .collect()
    }
}
