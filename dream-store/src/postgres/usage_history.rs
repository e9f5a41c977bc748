//! Hourly and daily usage per tenant on PostgreSQL: one statement adds a whole batch.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use dream_core::{ports::UsageHistoryStore, DailyUsage, HourlyUsage, StoreError, Tenant};

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

    /// One statement with two data-modifying CTEs (hours, then the days they sum
    /// to): atomic, each in key order so concurrent batches cannot deadlock.
    async fn add_usage(&self, rows: &[HourlyUsage]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut hours: Vec<(&Tenant, DateTime<Utc>, u64)> =
            rows.iter().map(|r| (&r.tenant, r.hour, r.amount)).collect();
        hours.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let hours = merge(hours);
        let days = merge(
            hours
                .iter()
                .map(|(tenant, hour, amount)| (*tenant, hour.date_naive(), *amount))
                .collect(),
        );
        let (mut h_platforms, mut h_modes, mut h_hours, mut h_amounts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (tenant, hour, amount) in &hours {
            h_platforms.push(tenant.platform.as_str().to_owned());
            h_modes.push(mode_str(tenant.mode).to_owned());
            h_hours.push(*hour);
            h_amounts.push(to_i64(*amount)?);
        }
        let (mut d_platforms, mut d_modes, mut d_days, mut d_amounts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (tenant, day, amount) in &days {
            d_platforms.push(tenant.platform.as_str().to_owned());
            d_modes.push(mode_str(tenant.mode).to_owned());
            d_days.push(*day);
            d_amounts.push(to_i64(*amount)?);
        }
        sqlx::query(
            "WITH hourly AS ( \
               INSERT INTO usage_hourly (platform_id, mode, hour, amount) \
               SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[]) \
               ON CONFLICT (platform_id, mode, hour) \
               DO UPDATE SET amount = usage_hourly.amount + excluded.amount \
               RETURNING 1) \
             INSERT INTO usage_daily (platform_id, mode, day, amount) \
             SELECT * FROM unnest($5::text[], $6::text[], $7::date[], $8::bigint[]) \
             ON CONFLICT (platform_id, mode, day) DO UPDATE SET amount = usage_daily.amount + excluded.amount",
        )
        .bind(&h_platforms)
        .bind(&h_modes)
        .bind(&h_hours)
        .bind(&h_amounts)
        .bind(&d_platforms)
        .bind(&d_modes)
        .bind(&d_days)
        .bind(&d_amounts)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn hourly_usage(
        &self,
        tenant: &Tenant,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        let rows: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
            "SELECT hour, amount FROM usage_hourly WHERE platform_id = $1 AND mode = $2 \
             AND hour >= $3 AND hour < $4 ORDER BY hour",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(hour, amount)| Ok((hour, to_u64(amount)?)))
            .collect()
    }

    async fn purge_usage_history(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (hours, days): (i64, i64) = sqlx::query_as(
            "WITH hours AS ( \
               DELETE FROM usage_hourly WHERE ctid IN \
               (SELECT ctid FROM usage_hourly WHERE hour < $1 LIMIT $3) RETURNING 1), \
             days AS ( \
               DELETE FROM usage_daily WHERE ctid IN \
               (SELECT ctid FROM usage_daily WHERE day < $2 LIMIT $3) RETURNING 1) \
             SELECT (SELECT count(*) FROM hours), (SELECT count(*) FROM days)",
        )
        .bind(before)
        .bind(before.date_naive())
        .bind(limit)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(to_u64(hours)? + to_u64(days)?)
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

/// Sorted `(tenant, key, amount)` with duplicates of one (tenant, key) summed:
/// `ON CONFLICT DO UPDATE` may not touch one row twice in a statement.
fn merge<K: PartialEq>(sorted: Vec<(&Tenant, K, u64)>) -> Vec<(&Tenant, K, u64)> {
    let mut out: Vec<(&Tenant, K, u64)> = Vec::with_capacity(sorted.len());
    for row in sorted {
        match out.last_mut() {
            Some(last) if last.0 == row.0 && last.1 == row.1 => {
                last.2 = last.2.saturating_add(row.2);
            }
            _ => out.push(row),
        }
    }
    out
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
