//! Usage counters, credit balances and rate windows in Redis: one Lua script per
//! consume, grant or release.

use std::{collections::BTreeMap, sync::LazyLock};

use ::redis::Script;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use dream_core::{
    gcra, ports::UsageStore, ConsumeOutcome, ConsumeRequest, CreditGrant, CreditGrantOutcome,
    CustomerId, MeterPeriod, MetersReading, Period, StoreError, Tenant, UsageLimit,
    CREDIT_BALANCE_FULL, MAX_CREDIT_BALANCE, RECEIPT_RETENTION_HOURS, REQUESTS_METER,
};

use super::{
    keys::TenantKeys, store_error, RedisUsageError, RedisUsageStore, GRANT_ID_RETENTION,
    PERIOD_RETENTION,
};

/// The largest counter or period total the script keeps: sums of two such values
/// stay exact in Lua's doubles (see `consume.lua`).
const MAX_COUNTER: u64 = 1 << 51;
/// Amounts above this reach the consume script as this: still exact, and large
/// enough that no allowance and no credit balance can hold it (see `consume.lua`).
const MAX_AMOUNT: u64 = 2 * MAX_COUNTER;
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

// What `consume.lua` relies on, checked at compile time: a counter and a clamped
// amount sum below 2^53, a clamped amount needs more credits than any balance
// holds, and a time plus a window and a stored TAT stay below 2^53.
const _: () = assert!(MAX_COUNTER + MAX_AMOUNT < 1 << 53);
const _: () = assert!(MAX_AMOUNT - MAX_COUNTER > MAX_CREDIT_BALANCE);
const _: () = assert!(MAX_ABS_MICROS + 2 * 60_000_000 < 1 << 53);

static CONSUME: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("consume.lua")));
static GRANT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("grant.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("release.lua")));

/// The consume script's answers (first element of its reply).
const ACCEPTED: i64 = 0;
const LIMIT_REACHED: i64 = 1;
const RATE_LIMITED: i64 = 2;
const OVERFLOW: i64 = 3;
const CORRUPT: i64 = 4;
const KEY_RATE_LIMITED: i64 = 5;

/// The grant script's answers.
const GRANTED: i64 = 0;
const GRANT_REPLAYED: i64 = 1;
const BALANCE_FULL: i64 = 2;
const GRANT_CORRUPT: i64 = 3;

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
        // Clamping keeps every answer of `decide_usage`: an amount above the
        // maximum passes any limit the script compares with and needs more
        // credits than any balance holds, and a limit above the counters'
        // maximum can only be reached through a counter the script refuses to
        // grow.
        let amount = req.amount.min(MAX_AMOUNT);
        let limit: i64 = match req.limit {
            UsageLimit::Limited(max) if max <= MAX_COUNTER => max as i64,
            UsageLimit::Limited(_) | UsageLimit::Unlimited => -1,
        };
        let rate = req.rate_limit_per_minute.map_or(0, |r| r.max(1));
        let keys = TenantKeys::new(&self.prefix, &req.tenant);
        let requests = req.meter == REQUESTS_METER;
        let mut invocation = CONSUME.prepare_invoke();
        invocation
            .key(keys.meter_usage(&req.meter, req.period.start))
            .key(keys.total(req.period.start))
            .key(keys.rate(&req.customer))
            .key(keys.last())
            .key(keys.credits(&req.customer))
            // A placeholder without a key window: the script never touches it.
            .key(keys.key_rate(req.key_rate.as_ref().map_or("-", |k| k.window.as_str())));
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
            .arg(period_ttl_ms(&req.period, req.now))
            .arg(RATE_KEY_TTL_MS)
            .arg(MAX_COUNTER)
            .arg(req.now.timestamp())
            .arg(req.now.timestamp_subsec_nanos())
            .arg(RECEIPT_REPLAY_SECS)
            .arg(RECEIPT_KEY_TTL_MS)
            .arg(u8::from(requests))
            .arg(last_ttl_ms(&req.period, req.now))
            .arg(req.meter.as_ref())
            .arg(MAX_CREDIT_BALANCE)
            .arg(req.key_rate.as_ref().map_or(0, |k| k.per_minute.max(1)))
            .arg(req.key_rate.as_ref().map_or(0, |k| k.cost));
        let mut conn = self.conn().await?;
        let (status, value, spent): (i64, i64, i64) = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        let count = |n: i64| u64::try_from(n).map_err(|_| RedisUsageError::UnexpectedReply);
        match status {
            ACCEPTED => Ok(ConsumeOutcome::Accepted {
                used: count(value)?,
                credits_spent: count(spent)?,
            }),
            LIMIT_REACHED => Ok(ConsumeOutcome::LimitReached {
                used: count(value)?,
            }),
            // The script decided; the wait is core's own arithmetic on the state
            // it saw, exact even where the doubles of Lua would not be.
            RATE_LIMITED => match req
                .rate_limit_per_minute
                .map(|rate| gcra(Some(value), now_us, rate, req.amount))
            {
                Some(Err(retry_after_ms)) => Ok(ConsumeOutcome::RateLimited { retry_after_ms }),
                Some(Ok(_)) | None => Err(RedisUsageError::UnexpectedReply.into()),
            },
            KEY_RATE_LIMITED => match req
                .key_rate
                .as_ref()
                .map(|k| gcra(Some(value), now_us, k.per_minute, k.cost))
            {
                Some(Err(retry_after_ms)) => Ok(ConsumeOutcome::RateLimited { retry_after_ms }),
                Some(Ok(_)) | None => Err(RedisUsageError::UnexpectedReply.into()),
            },
            OVERFLOW => Err(RedisUsageError::CounterOverflow { max: MAX_COUNTER }.into()),
            CORRUPT => Err(RedisUsageError::CorruptValue {
                what: "usage counter, rate state, receipt or credit balance",
            }
            .into()),
            _ => Err(RedisUsageError::UnexpectedReply.into()),
        }
    }

    async fn release_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        meter: &str,
        period: &Period,
        amount: u64,
    ) -> Result<u64, StoreError> {
        let keys = TenantKeys::new(&self.prefix, tenant);
        let mut invocation = RELEASE.prepare_invoke();
        invocation
            .key(keys.meter_usage(meter, period.start))
            .key(keys.total(period.start))
            .arg(customer.as_str())
            // Past any counter the script keeps: releases everything either way.
            .arg(amount.min(MAX_COUNTER + 1))
            .arg(u8::from(meter == REQUESTS_METER));
        let (status, used): (i64, i64) = invocation
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(store_error)?;
        match status {
            ACCEPTED => Ok(u64::try_from(used).map_err(|_| RedisUsageError::UnexpectedReply)?),
            CORRUPT => Err(RedisUsageError::CorruptValue {
                what: "usage counter or period total",
            }
            .into()),
            _ => Err(RedisUsageError::UnexpectedReply.into()),
        }
    }

    /// The grant id's key is the ledger entry: it holds the balance the grant
    /// produced and lives [`GRANT_ID_RETENTION`] (90 days), so a grant repeated
    /// within that time adds nothing; after it the same id would add again.
    async fn grant_credits(&self, grant: &CreditGrant) -> Result<CreditGrantOutcome, StoreError> {
        let keys = TenantKeys::new(&self.prefix, &grant.tenant);
        let mut invocation = GRANT.prepare_invoke();
        invocation
            .key(keys.grant(&grant.grant_id))
            .key(keys.credits(&grant.customer))
            .arg(grant.meter.as_str())
            // Past the maximum either way: refused alike.
            .arg(grant.amount.min(MAX_CREDIT_BALANCE + 1))
            .arg(MAX_CREDIT_BALANCE)
            .arg(u64::try_from(GRANT_ID_RETENTION.as_millis()).unwrap_or(u64::MAX));
        let (status, balance): (i64, i64) = invocation
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(store_error)?;
        let balance = || u64::try_from(balance).map_err(|_| RedisUsageError::UnexpectedReply);
        match status {
            GRANTED => Ok(CreditGrantOutcome {
                balance: balance()?,
                replayed: false,
            }),
            GRANT_REPLAYED => Ok(CreditGrantOutcome {
                balance: balance()?,
                replayed: true,
            }),
            BALANCE_FULL => Err(StoreError::Conflict(CREDIT_BALANCE_FULL)),
            GRANT_CORRUPT => Err(RedisUsageError::CorruptValue {
                what: "credit balance or credit grant",
            }
            .into()),
            _ => Err(RedisUsageError::UnexpectedReply.into()),
        }
    }

    /// One `MULTI`/`EXEC`: every counter and the credits hash at one instant.
    async fn read_meters(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        meters: &[MeterPeriod],
    ) -> Result<MetersReading, StoreError> {
        let keys = TenantKeys::new(&self.prefix, tenant);
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        for m in meters {
            pipe.cmd("HGET")
                .arg(keys.meter_usage(&m.meter, m.period.start))
                .arg(customer.as_str());
        }
        pipe.cmd("HGETALL").arg(keys.credits(customer));
        let (counts, balances): (Vec<Option<String>>, Vec<(String, String)>) = {
            let mut replies: Vec<::redis::Value> = pipe
                .query_async(&mut self.conn().await?)
                .await
                .map_err(store_error)?;
            let credits = replies.pop().ok_or(RedisUsageError::UnexpectedReply)?;
            (
                ::redis::from_redis_value(::redis::Value::Array(replies))
                    .map_err(|_| RedisUsageError::UnexpectedReply)?,
                ::redis::from_redis_value(credits).map_err(|_| RedisUsageError::UnexpectedReply)?,
            )
        };
        let corrupt = |what| StoreError::from(RedisUsageError::CorruptValue { what });
        let used = counts
            .into_iter()
            .map(|raw| {
                raw.map_or(Ok(0), |raw| {
                    raw.parse::<u64>().map_err(|_| corrupt("usage counter"))
                })
            })
            .collect::<Result<Vec<u64>, StoreError>>()?;
        let mut credits = BTreeMap::new();
        for (meter, raw) in balances {
            let balance = raw
                .parse::<u64>()
                .ok()
                .filter(|b| *b <= MAX_CREDIT_BALANCE)
                .ok_or_else(|| corrupt("credit balance"))?;
            if balance > 0 {
                credits.insert(meter, balance);
            }
        }
        Ok(MetersReading { used, credits })
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

/// Milliseconds the period's keys should live from `now`, or 0 for never: a
/// lifetime period ([`Period::is_lifetime`], a meter that never resets) keeps
/// its counters for good.
fn period_ttl_ms(period: &Period, now: DateTime<Utc>) -> u64 {
    if period.is_lifetime() {
        0
    } else {
        retention_ms(period, now)
    }
}

/// Milliseconds the last-consumed hash should live from `now`: as long as the
/// period's keys, and [`PERIOD_RETENTION`] after a call on a lifetime meter.
fn last_ttl_ms(period: &Period, now: DateTime<Utc>) -> u64 {
    if period.is_lifetime() {
        u64::try_from(PERIOD_RETENTION.as_millis()).unwrap_or(u64::MAX)
    } else {
        retention_ms(period, now)
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

    #[test]
    fn lifetime_counters_never_expire_and_last_consumed_still_does() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
            .single()
            .expect("valid");
        let policy = PERIOD_RETENTION.as_millis() as u64;
        assert_eq!(period_ttl_ms(&Period::lifetime(), now), 0);
        assert_eq!(last_ttl_ms(&Period::lifetime(), now), policy);
        let month = Period::calendar_month(now);
        assert_eq!(period_ttl_ms(&month, now), retention_ms(&month, now));
        assert_eq!(last_ttl_ms(&month, now), retention_ms(&month, now));
        assert!(period_ttl_ms(&month, now) > 0, "0 means never");
    }
}
