//! Meters (several usage counters per plan, each with its own reset) and prepaid
//! credits: the types every store and the track service share.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::{CoreError, CustomerId, Period, Tenant, UsageLimit};

/// When a meter's count starts again from zero: at the start of each UTC calendar
/// period, or never (lifetime counts such as seats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeterReset {
    /// Every UTC day at 00:00.
    Day,
    /// Every ISO week, Monday 00:00 UTC.
    Week,
    /// Every calendar month.
    Month,
    /// Every calendar year.
    Year,
    /// Counts forever; such a meter may also be given back (a negative track).
    Never,
}

impl MeterReset {
    /// The wire name (`day`, `week`, `month`, `year`, `never`).
    pub fn as_str(self) -> &'static str {
        match self {
            MeterReset::Day => "day",
            MeterReset::Week => "week",
            MeterReset::Month => "month",
            MeterReset::Year => "year",
            MeterReset::Never => "never",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "day" => MeterReset::Day,
            "week" => MeterReset::Week,
            "month" => MeterReset::Month,
            "year" => MeterReset::Year,
            "never" => MeterReset::Never,
            _ => return None,
        })
    }

    /// The period of this reset that contains `at`.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use dream_core::{MeterReset, Period};
    /// let at = Utc.with_ymd_and_hms(2026, 12, 6, 13, 0, 0).unwrap(); // a Sunday
    /// let week = MeterReset::Week.period(at);
    /// assert_eq!(week.start, Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap());
    /// assert_eq!(week.end, Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap());
    /// assert_eq!(MeterReset::Never.period(at), Period::lifetime());
    /// ```
    pub fn period(self, at: DateTime<Utc>) -> Period {
        let day = at.date_naive();
        match self {
            MeterReset::Day => days_from(day, 1),
            MeterReset::Week => {
                let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
                days_from(monday, 7)
            }
            MeterReset::Month => Period::calendar_month(at),
            MeterReset::Year => {
                let start = NaiveDate::from_ymd_opt(at.year(), 1, 1).unwrap_or(day);
                let end = NaiveDate::from_ymd_opt(at.year() + 1, 1, 1)
                    .unwrap_or(start + Duration::days(366));
                Period {
                    start: midnight(start),
                    end: midnight(end),
                }
            }
            MeterReset::Never => Period::lifetime(),
        }
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
}

fn days_from(start: NaiveDate, days: i64) -> Period {
    Period {
        start: midnight(start),
        end: midnight(start + Duration::days(days)),
    }
}

impl Period {
    /// The one period of a meter that never resets: from the Unix epoch to the
    /// start of the year 10000. Stores keep its counter like any other period's.
    pub fn lifetime() -> Self {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let end = Utc
            .with_ymd_and_hms(9999, 12, 31, 0, 0, 0)
            .single()
            .unwrap_or(start);
        Self { start, end }
    }

    /// Whether this is [`Period::lifetime`].
    pub fn is_lifetime(&self) -> bool {
        *self == Self::lifetime()
    }
}

/// One extra meter of a tier: its allowance per period and when it resets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterSpec {
    /// Units allowed per period.
    pub limit: UsageLimit,
    /// When the count starts again.
    pub reset: MeterReset,
    /// Alert thresholds in percent of `limit`, as for [`crate::Tier::alerts`].
    #[serde(default = "crate::tier::default_alerts")]
    pub alerts: Vec<u8>,
}

/// Largest number of extra meters one tier may have.
pub const MAX_METERS_PER_TIER: usize = 20;

/// Largest credit balance a store keeps for one customer and meter (2^50: exact
/// in every backend, Redis's Lua doubles included). A grant past it is refused
/// with [`crate::StoreError::Conflict`]`(`[`CREDIT_BALANCE_FULL`]`)`.
pub const MAX_CREDIT_BALANCE: u64 = 1 << 50;

/// The conflict a store answers for a grant past [`MAX_CREDIT_BALANCE`].
pub const CREDIT_BALANCE_FULL: &str = "the credit balance would pass its maximum (2^50)";

/// Largest credit amount one grant may add.
pub const MAX_CREDIT_GRANT: u64 = 1_000_000_000;

/// Validates a meter name: `[a-z0-9_]{1,40}`.
///
/// ```
/// use dream_core::validate_meter_name;
/// assert!(validate_meter_name("exports", "/meter").is_ok());
/// assert!(validate_meter_name("Exports!", "/meter").is_err());
/// ```
pub fn validate_meter_name(name: &str, field: &str) -> Result<(), CoreError> {
    crate::validate_flag_name(name, field)
}

/// How much of a consume must come from credits: the part of `amount` above what
/// the plan's allowance still holds. 0 when it fits (or the meter is unlimited).
///
/// ```
/// use dream_core::{credits_needed, UsageLimit};
/// assert_eq!(credits_needed(8, 2, UsageLimit::Limited(10)), 0);
/// assert_eq!(credits_needed(8, 5, UsageLimit::Limited(10)), 3);
/// // Past the allowance (credits were spent before), everything is credits.
/// assert_eq!(credits_needed(12, 5, UsageLimit::Limited(10)), 5);
/// assert_eq!(credits_needed(8, 5, UsageLimit::Unlimited), 0);
/// ```
pub fn credits_needed(used: u64, amount: u64, limit: UsageLimit) -> u64 {
    match limit {
        UsageLimit::Unlimited => 0,
        UsageLimit::Limited(max) => amount.saturating_sub(max.saturating_sub(used)),
    }
}

/// The decision every backend takes for the usage part of a consume, given the
/// counter and the customer's credit balance for the meter: `Some(credits to
/// spend)` to accept (the allowance first, then credits, all or nothing), `None`
/// to refuse. The counter then grows by the whole `amount`.
///
/// ```
/// use dream_core::{decide_usage, UsageLimit};
/// let ten = UsageLimit::Limited(10);
/// assert_eq!(decide_usage(8, 2, ten, 0), Some(0));
/// assert_eq!(decide_usage(8, 5, ten, 3), Some(3));
/// assert_eq!(decide_usage(8, 5, ten, 2), None); // not enough credits: nothing spent
/// ```
pub fn decide_usage(used: u64, amount: u64, limit: UsageLimit, credits: u64) -> Option<u64> {
    used.checked_add(amount)?;
    let needed = credits_needed(used, amount, limit);
    (needed <= credits).then_some(needed)
}

/// A grant of prepaid credits on one meter.
#[derive(Debug, Clone)]
pub struct CreditGrant {
    /// Tenant.
    pub tenant: Tenant,
    /// The customer receiving the credits.
    pub customer: CustomerId,
    /// The meter the credits pay for.
    pub meter: String,
    /// Units granted (≥ 1).
    pub amount: u64,
    /// Unique per tenant: a grant repeated with the same id (a retried request, a
    /// redelivered webhook) adds nothing and answers the first grant's balance.
    pub grant_id: String,
    /// Why, for the ledger (free text).
    pub reason: String,
    /// When.
    pub now: DateTime<Utc>,
}

/// What a grant did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditGrantOutcome {
    /// The meter's balance right after the grant (for a replay: after the first).
    pub balance: u64,
    /// Whether this grant id was seen before (nothing was added now).
    pub replayed: bool,
}

/// A meter and the period whose count to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterPeriod {
    /// Meter name.
    pub meter: String,
    /// Period of the counter.
    pub period: Period,
}

/// Several meters' counts and the customer's credit balances, read at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetersReading {
    /// Count of each requested meter, in the order asked.
    pub used: Vec<u64>,
    /// Credit balance per meter (meters without credits are absent).
    pub credits: BTreeMap<String, u64>,
}
