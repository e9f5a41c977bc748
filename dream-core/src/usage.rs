//! Usage periods, the atomic consume request, and the GCRA rate-limit rule.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::{CustomerId, Tenant, UsageLimit};

/// A usage period: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

impl Period {
    /// The calendar month (UTC) containing `at`.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use dream_core::Period;
    /// let p = Period::calendar_month(Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap());
    /// assert_eq!(p.start, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    /// assert_eq!(p.end, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
    /// ```
    pub fn calendar_month(at: DateTime<Utc>) -> Self {
        let (y, m) = (at.year(), at.month());
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        // Both dates are the first of a month at midnight, which always exists in UTC;
        // the fallback keeps the function total without a panic path.
        let start = Utc
            .with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .single()
            .unwrap_or(at);
        let end = Utc
            .with_ymd_and_hms(ny, nm, 1, 0, 0, 0)
            .single()
            .unwrap_or(at + Duration::days(31));
        Self { start, end }
    }

    /// Whole seconds from `now` to the end, at least 1.
    pub fn seconds_until_end(&self, now: DateTime<Utc>) -> u64 {
        (self.end - now).num_seconds().max(1) as u64
    }
}

/// One atomic decision for a store: check the meter's limit (spending the
/// customer's credits for the meter on what the allowance cannot hold, see
/// [`crate::decide_usage`]), the customer's rate window and the key's, and either
/// count `amount` in all of them (and take the credits) or change nothing.
#[derive(Debug, Clone)]
pub struct ConsumeRequest {
    /// Tenant.
    pub tenant: Tenant,
    /// Customer.
    pub customer: CustomerId,
    /// The meter counted ([`crate::REQUESTS_METER`] by default). Each (customer,
    /// meter, period) has its own counter; the rate window is the customer's, for
    /// every meter.
    pub meter: Cow<'static, str>,
    /// The period the counter belongs to ([`Period::lifetime`] for a meter that
    /// never resets).
    pub period: Period,
    /// Units to count (≥ 1).
    pub amount: u64,
    /// The plan's limit at the moment of the call.
    pub limit: UsageLimit,
    /// The plan's per-minute rate limit, if any.
    pub rate_limit_per_minute: Option<u32>,
    /// The rate limit of the customer key the call came with, if it has one: a
    /// second GCRA window, decided after the customer's and written only if both
    /// admit the call.
    pub key_rate: Option<KeyRate>,
    /// The time of the call.
    pub now: DateTime<Utc>,
    /// An idempotency receipt (scoped to the tenant). If a consume with the same
    /// receipt was accepted before, the store answers `Accepted` with the usage that
    /// consume produced and counts nothing: a request retried after a crash, whose
    /// first attempt was counted but never answered, is not counted twice. Refusals
    /// leave no receipt. Receipts are kept at least [`RECEIPT_RETENTION_HOURS`].
    pub receipt: Option<String>,
}

/// A customer key's own rate window (see [`ConsumeRequest::key_rate`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyRate {
    /// The window's id: the key's id (`ckey_…`), which no customer id can equal.
    pub window: String,
    /// Calls admitted per minute (GCRA, as [`gcra`]).
    pub per_minute: u32,
    /// What this call costs in the window: its amount on the `requests` meter,
    /// one call on any other meter.
    pub cost: u64,
}

/// How long stores keep consume receipts, at least (as long as idempotency keys).
pub const RECEIPT_RETENTION_HOURS: i64 = 25;

/// What the store decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeOutcome {
    /// Counted; `used` includes this call.
    Accepted {
        /// Usage in the period after this call.
        used: u64,
        /// Credits this call took from the customer's balance for the meter (for a
        /// replayed receipt: what the first call took).
        credits_spent: u64,
    },
    /// Over the usage limit; nothing changed.
    LimitReached {
        /// Usage in the period, unchanged.
        used: u64,
    },
    /// Over the rate limit; nothing changed.
    RateLimited {
        /// Milliseconds until the call would be admitted.
        retry_after_ms: u64,
    },
}

impl ConsumeOutcome {
    /// `Accepted` without credits.
    pub fn accepted(used: u64) -> Self {
        ConsumeOutcome::Accepted {
            used,
            credits_spent: 0,
        }
    }
}

/// The usage-limit rule every backend applies: all of `amount` or none.
pub fn within_limit(used: u64, amount: u64, limit: UsageLimit) -> bool {
    match limit {
        UsageLimit::Unlimited => true,
        UsageLimit::Limited(max) => used.checked_add(amount).is_some_and(|n| n <= max),
    }
}

/// The largest per-minute rate limit, a plan's (`rateLimitPerMinute`) or a
/// customer key's (`ratePerMinute`): one call a millisecond.
pub const MAX_RATE_PER_MINUTE: u32 = 60_000;

/// GCRA (generic cell rate algorithm) for a per-minute limit.
///
/// `rate` calls per minute are admitted as a burst, then one per `60 s / rate`: the
/// state is a single "theoretical arrival time" (TAT, in microseconds since the
/// epoch), so there is no window boundary at which the allowance resets, unlike a
/// fixed window. Returns the new TAT to store, or the wait in milliseconds.
///
/// ```
/// use dream_core::gcra;
/// let now = 1_000_000_000;
/// let mut tat = None;
/// for _ in 0..3 {
///     tat = Some(gcra(tat, now, 3, 1).unwrap());
/// }
/// // The fourth call in the same instant waits one emission interval (20 s).
/// assert_eq!(gcra(tat, now, 3, 1), Err(20_000));
/// ```
pub fn gcra(
    tat_us: Option<i64>,
    now_us: i64,
    rate_per_minute: u32,
    amount: u64,
) -> Result<i64, u64> {
    const WINDOW_US: i64 = 60_000_000;
    let interval = WINDOW_US / i64::from(rate_per_minute.max(1));
    let amount = i64::try_from(amount).unwrap_or(i64::MAX);
    let start = tat_us.unwrap_or(now_us).max(now_us);
    let new_tat = start.saturating_add(interval.saturating_mul(amount));
    let allow_at = new_tat - WINDOW_US;
    if allow_at > now_us {
        let wait_us = allow_at - now_us;
        Err(((wait_us + 999) / 1000) as u64)
    } else {
        Ok(new_tat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_rule() {
        assert!(within_limit(1, 1, UsageLimit::Limited(2)));
        assert!(!within_limit(2, 1, UsageLimit::Limited(2)));
        assert!(!within_limit(1, 2, UsageLimit::Limited(2)));
        assert!(!within_limit(u64::MAX, 1, UsageLimit::Limited(u64::MAX)));
        assert!(within_limit(u64::MAX, 1, UsageLimit::Unlimited));
    }

    #[test]
    fn gcra_never_admits_more_than_rate_plus_refill() {
        // Hammer a 10/min limit every 100 ms for 5 minutes: at most 10 in any 60 s
        // window after the initial burst's refill, i.e. ≤ 10 + 10 * minutes overall.
        let mut tat = None;
        let mut admitted = Vec::new();
        let start = 0i64;
        for step in 0..3000 {
            let now = start + step * 100_000;
            if let Ok(t) = gcra(tat, now, 10, 1) {
                tat = Some(t);
                admitted.push(now);
            }
        }
        // 10 at once, then one every 6 s from t = 6 s to 294 s.
        assert_eq!(admitted.len(), 10 + 49);
        // No sliding 60 s window holds more than 2x the rate (burst + refill), and
        // no window that starts after the burst holds more than the rate + 1.
        for (i, t) in admitted.iter().enumerate().skip(10) {
            let in_window = admitted[i..]
                .iter()
                .take_while(|u| **u < t + 60_000_000)
                .count();
            assert!(in_window <= 11, "window at {t} admitted {in_window}");
        }
    }

    #[test]
    fn gcra_amount_counts_as_many_calls() {
        assert!(gcra(None, 0, 5, 5).is_ok());
        assert!(gcra(None, 0, 5, 6).is_err());
    }
}
