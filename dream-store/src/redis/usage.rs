//! Usage counters and rate windows in Redis: one Lua script per consume.

use std::sync::LazyLock;

use ::redis::Script;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use dream_core::{
    gcra, ports::UsageStore, ConsumeOutcome, ConsumeRequest, CustomerId, Period, StoreError,
    Tenant, UsageLimit, RECEIPT_RETENTION_HOURS,
};

use super::{keys::TenantKeys, store_error, RedisUsageError, RedisUsageStore, PERIOD_RETENTION};

/// The largest counter or period total the script keeps: sums of two such values
/// stay exact in Lua's doubles (see `consume.lua`).
const MAX_COUNTER: u64 = 1 << 51;
/// The largest distance from the epoch, in µs, of a call's time: the script adds
/// at most a minute to it.
const MAX_ABS_MICROS: i64 = 1 << 52;
/// Rate keys outlive the 60 s GCRA window: after it a missing key and a stale TAT
/// mean the same, so an idle customer costs no memory.
const RATE_KEY_TTL_MS: u64 = 61_000;
/// How long a receipt replays, in seconds of the caller's clock.
const RECEIPT_REPLAY_SECS: i64 = RECEIPT_RETENTION_HOURS * 3600;
/// Receipt keys outlive their replay time by an hour, so clocks that run a little
/// apart still replay for the whole retention.
const RECEIPT_KEY_TTL_MS: i64 = (RECEIPT_REPLAY_SECS + 3600) * 1000;

// What `consume.lua` relies on, checked at compile time: two counters, or a
// counter and a clamped amount, sum below 2^53, and so do a time plus a window
// and a stored TAT.
const _: () = assert!(MAX_COUNTER + MAX_COUNTER + 1 < 1 << 53);
const _: () = assert!(MAX_ABS_MICROS + 2 * 60_000_000 < 1 << 53);

static CONSUME: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("consume.lua")));

/// The script's answers (first element of its reply).
const ACCEPTED: i64 = 0;
const LIMIT_REACHED: i64 = 1;
const RATE_LIMITED: i64 = 2;
const OVERFLOW: i64 = 3;
const CORRUPT: i64 = 4;

#[async_trait]
impl UsageStore for RedisUsageStore {
    async fn consume_usage(&self, req: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError> {
        let now_us = req.now.timestamp_micros();
        if !(-MAX_ABS_MICROS..=MAX_ABS_MICROS).contains(&now_us) {
            return Err(RedisUsageError::OutOfRange {
                what: "the call's time",
            }
            .into());
        }
        // Clamping keeps every answer of `within_limit`: an amount above the
        // maximum passes any limit the script compares with, and a limit above it
        // can only be reached through a counter the script refuses to grow.
        let amount = req.amount.min(MAX_COUNTER + 1);
        let limit: i64 = match req.limit {
            UsageLimit::Limited(max) if max <= MAX_COUNTER => max as i64,
            UsageLimit::Limited(_) | UsageLimit::Unlimited => -1,
        };
        let rate = req.rate_limit_per_minute.map_or(0, |r| r.max(1));
        let keys = TenantKeys::new(&self.prefix, &req.tenant);
        let mut invocation = CONSUME.prepare_invoke();
        invocation
            .key(keys.usage(req.period.start))
            .key(keys.total(req.period.start))
            .key(keys.rate(&req.customer))
            .key(keys.last());
        if let Some(receipt) = &req.receipt {
            invocation.key(keys.receipt(receipt));
        }
        invocation
            .arg(req.customer.as_str())
            .arg(amount)
            .arg(limit)
            .arg(rate)
            .arg(now_us)
            .arg(req.now.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            .arg(retention_ms(&req.period, req.now))
            .arg(RATE_KEY_TTL_MS)
            .arg(MAX_COUNTER)
            .arg(req.now.timestamp())
            .arg(req.now.timestamp_subsec_nanos())
            .arg(RECEIPT_REPLAY_SECS)
            .arg(RECEIPT_KEY_TTL_MS);
        let mut conn = self.conn().await?;
        let (status, value): (i64, i64) = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        let count = || u64::try_from(value).map_err(|_| RedisUsageError::UnexpectedReply);
        match status {
            ACCEPTED => Ok(ConsumeOutcome::accepted(count()?)),
            LIMIT_REACHED => Ok(ConsumeOutcome::LimitReached { used: count()? }),
            // The script decided; the wait is core's own arithmetic on the state
            // it saw, exact even where the doubles of Lua would not be.
            RATE_LIMITED => match req
                .rate_limit_per_minute
                .map(|rate| gcra(Some(value), now_us, rate, req.amount))
            {
                Some(Err(retry_after_ms)) => Ok(ConsumeOutcome::RateLimited { retry_after_ms }),
                Some(Ok(_)) | None => Err(RedisUsageError::UnexpectedReply.into()),
            },
            OVERFLOW => Err(RedisUsageError::CounterOverflow { max: MAX_COUNTER }.into()),
            CORRUPT => Err(RedisUsageError::CorruptValue {
                what: "usage counter, rate state or receipt",
            }
            .into()),
            _ => Err(RedisUsageError::UnexpectedReply.into()),
        }
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
        let key = TenantKeys::new(&self.prefix, tenant).usage(period.start);
        let used: Option<u64> = ::redis::cmd("HGET")
            .arg(key)
            .arg(customer.as_str())
            .query_async(&mut self.conn().await?)
            .await
            .map_err(store_error)?;
        Ok(used.unwrap_or(0))
    }

    async fn last_consumed_at(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let key = TenantKeys::new(&self.prefix, tenant).last();
        let at: Option<String> = ::redis::cmd("HGET")
            .arg(key)
            .arg(customer.as_str())
            .query_async(&mut self.conn().await?)
            .await
            .map_err(store_error)?;
        at.map(|at| {
            DateTime::parse_from_rfc3339(&at)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|e| StoreError::Backend(Box::new(e)))
        })
        .transpose()
    }

    async fn active_customers(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        let key = TenantKeys::new(&self.prefix, tenant).usage(period.start);
        ::redis::cmd("HLEN")
            .arg(key)
            .query_async(&mut self.conn().await?)
            .await
            .map_err(store_error)
    }

    async fn total_usage(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        let key = TenantKeys::new(&self.prefix, tenant).total(period.start);
        let total: Option<u64> = ::redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn().await?)
            .await
            .map_err(store_error)?;
        Ok(total.unwrap_or(0))
    }
}

/// Milliseconds the period's keys should live from `now`: until
/// [`PERIOD_RETENTION`] after the period's end, and at least that long.
fn retention_ms(period: &Period, now: DateTime<Utc>) -> u64 {
    // Ten thousand years: past it the exact value no longer matters, and it keeps
    // the number far inside what Redis and Lua handle exactly.
    const CAP_MS: u64 = 10_000 * 366 * 24 * 60 * 60 * 1000;
    let until_end = u64::try_from((period.end - now).num_milliseconds()).unwrap_or(0);
    let retention = u64::try_from(PERIOD_RETENTION.as_millis()).unwrap_or(CAP_MS);
    until_end.saturating_add(retention).min(CAP_MS)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    #[test]
    fn retention_runs_from_the_period_end_and_is_never_shorter_than_the_policy() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
            .single()
            .expect("valid");
        let period = Period::calendar_month(now);
        let policy = PERIOD_RETENTION.as_millis() as u64;
        let until_end = (period.end - now).num_milliseconds() as u64;
        assert_eq!(retention_ms(&period, now), until_end + policy);
        let long_after = period.end + Duration::days(1000);
        assert_eq!(retention_ms(&period, long_after), policy);
    }
}
