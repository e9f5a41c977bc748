//! Daily usage per tenant on PostgreSQL: one statement adds a whole batch.

use async_trait::async_trait;
use chrono::NaiveDate;
use dream_core::{ports::UsageHistoryStore, DailyUsage, StoreError, Tenant};

use super::PostgresStore;
use crate::sql::{backend, mode_str, to_i64, to_u64};

#[async_trait]
impl UsageHistoryStore for PostgresStore {
    /// One `INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE`: atomic, and
    /// rows are added in key order so two processes' batches cannot deadlock.
    async fn add_daily_usage(&self, rows: &[DailyUsage]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<&DailyUsage> = rows.iter().collect();
        sorted.sort_by(|a, b| (&a.tenant, a.day).cmp(&(&b.tenant, b.day)));
        let mut platforms = Vec::with_capacity(sorted.len());
        let mut modes = Vec::with_capacity(sorted.len());
        let mut days = Vec::with_capacity(sorted.len());
        let mut amounts = Vec::with_capacity(sorted.len());
        for row in merged(&sorted) {
            platforms.push(row.0.platform.as_str().to_owned());
            modes.push(mode_str(row.0.mode).to_owned());
            days.push(row.1);
            amounts.push(to_i64(row.2)?);
        }
        sqlx::query(
            "INSERT INTO usage_daily (platform_id, mode, day, amount) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::bigint[]) \
             ON CONFLICT (platform_id, mode, day) DO UPDATE SET amount = usage_daily.amount + excluded.amount",
        )
        .bind(&platforms)
        .bind(&modes)
        .bind(&days)
        .bind(&amounts)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn daily_usage(
        &self,
        tenant: &Tenant,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, u64)>, StoreError> {
        let rows: Vec<(NaiveDate, i64)> = sqlx::query_as(
            "SELECT day, amount FROM usage_daily WHERE platform_id = $1 AND mode = $2 \
             AND day BETWEEN $3 AND $4 ORDER BY day",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(day, amount)| Ok((day, to_u64(amount)?)))
            .collect()
    }
}

/// Sorted rows with duplicates of one (tenant, day) summed: `ON CONFLICT DO
/// UPDATE` may not touch one row twice in a statement.
fn merged<'a>(sorted: &[&'a DailyUsage]) -> Vec<(&'a Tenant, NaiveDate, u64)> {
    let mut out: Vec<(&Tenant, NaiveDate, u64)> = Vec::with_capacity(sorted.len());
    for row in sorted {
        match out.last_mut() {
            Some(last) if last.0 == &row.tenant && last.1 == row.day => {
                last.2 = last.2.saturating_add(row.amount);
            }
            _ => out.push((&row.tenant, row.day, row.amount)),
        }
    }
    out
}
