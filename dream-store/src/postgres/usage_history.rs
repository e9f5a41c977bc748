//! Hourly and daily usage per tenant and meter on PostgreSQL: one statement adds a whole batch.

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
        let mut days: Vec<(&Tenant, (&str, NaiveDate), u64)> = rows
            .iter()
            .map(|r| (&r.tenant, (r.meter.as_str(), r.day), r.amount))
            .collect();
        days.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let days = merge(days);
        let (mut platforms, mut modes, mut meters, mut day_list, mut amounts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (tenant, (meter, day), amount) in &days {
            platforms.push(tenant.platform.as_str().to_owned());
            modes.push(mode_str(tenant.mode).to_owned());
            meters.push((*meter).to_owned());
            day_list.push(*day);
            amounts.push(to_i64(*amount)?);
        }
        sqlx::query(
            "INSERT INTO usage_daily (platform_id, mode, meter, day, amount) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::bigint[]) \
             ON CONFLICT (platform_id, mode, meter, day) \
             DO UPDATE SET amount = usage_daily.amount + excluded.amount",
        )
        .bind(&platforms)
        .bind(&modes)
        .bind(&meters)
        .bind(&day_list)
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
        let mut hours: Vec<(&Tenant, (&str, DateTime<Utc>), u64)> = rows
            .iter()
            .map(|r| (&r.tenant, (r.meter.as_str(), r.hour), r.amount))
            .collect();
        hours.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let hours = merge(hours);
        let days = merge(
            hours
                .iter()
                .map(|(tenant, (meter, hour), amount)| {
                    (*tenant, (*meter, hour.date_naive()), *amount)
                })
                .collect(),
        );
        let (mut h_platforms, mut h_modes, mut h_meters, mut h_hours, mut h_amounts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (tenant, (meter, hour), amount) in &hours {
            h_platforms.push(tenant.platform.as_str().to_owned());
            h_modes.push(mode_str(tenant.mode).to_owned());
            h_meters.push((*meter).to_owned());
            h_hours.push(*hour);
            h_amounts.push(to_i64(*amount)?);
        }
        let (mut d_platforms, mut d_modes, mut d_meters, mut d_days, mut d_amounts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (tenant, (meter, day), amount) in &days {
            d_platforms.push(tenant.platform.as_str().to_owned());
            d_modes.push(mode_str(tenant.mode).to_owned());
            d_meters.push((*meter).to_owned());
            d_days.push(*day);
            d_amounts.push(to_i64(*amount)?);
        }
        sqlx::query(
            "WITH hourly AS ( \
               INSERT INTO usage_hourly (platform_id, mode, meter, hour, amount) \
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[]) \
               ON CONFLICT (platform_id, mode, meter, hour) \
               DO UPDATE SET amount = usage_hourly.amount + excluded.amount \
               RETURNING 1) \
             INSERT INTO usage_daily (platform_id, mode, meter, day, amount) \
             SELECT * FROM unnest($6::text[], $7::text[], $8::text[], $9::date[], $10::bigint[]) \
             ON CONFLICT (platform_id, mode, meter, day) \
             DO UPDATE SET amount = usage_daily.amount + excluded.amount",
        )
        .bind(&h_platforms)
        .bind(&h_modes)
        .bind(&h_meters)
        .bind(&h_hours)
        .bind(&h_amounts)
        .bind(&d_platforms)
        .bind(&d_modes)
        .bind(&d_meters)
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
        meter: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        let rows: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
            "SELECT hour, amount FROM usage_hourly WHERE platform_id = $1 AND mode = $2 \
             AND meter = $5 AND hour >= $3 AND hour < $4 ORDER BY hour",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(from)
        .bind(to)
        .bind(meter)
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
        meter: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, u64)>, StoreError> {
        let rows: Vec<(NaiveDate, i64)> = sqlx::query_as(
            "SELECT day, amount FROM usage_daily WHERE platform_id = $1 AND mode = $2 \
             AND meter = $5 AND day BETWEEN $3 AND $4 ORDER BY day",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(from)
        .bind(to)
        .bind(meter)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(day, amount)| Ok((day, to_u64(amount)?)))
            .collect()
    }
}

/// Sorted `(tenant, key, amount)` with duplicates of one (tenant, key) summed
/// (the key: meter and hour or day):
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
