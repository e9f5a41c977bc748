//! Usage history per tenant, in hourly and daily buckets, for charts and
//! `GET /api/usage/history`: counted in memory as calls are accepted, written to
//! the store in batches.
//!
//! The exact, enforced numbers are the per-customer period counters of
//! [`UsageStore`](crate::ports::UsageStore). This history is a tenant-wide
//! aggregate kept off the hot path on purpose: adding to a (tenant, day) row in
//! the consume's own transaction would make every call of a tenant wait on one
//! row. The price: calls accepted in the last flush interval before a process
//! crash are missing from the chart (never from the counters), and a consume
//! replayed by its receipt may be counted twice here.

use std::{collections::HashMap, sync::Mutex};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::Tenant;

/// Units a tenant used in one UTC hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourlyUsage {
    /// Whose.
    pub tenant: Tenant,
    /// The meter counted (`requests` or one of the tenant's meters).
    pub meter: String,
    /// The start of the hour (minutes and seconds zero).
    pub hour: DateTime<Utc>,
    /// Units counted.
    pub amount: u64,
}

/// The start of the UTC hour containing `at`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let at = Utc.with_ymd_and_hms(2026, 12, 6, 10, 59, 59).unwrap();
/// assert_eq!(dream_core::hour_start(at), Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap());
/// ```
pub fn hour_start(at: DateTime<Utc>) -> DateTime<Utc> {
    from_hour_index(hour_index(at))
}

/// Hours since the epoch: the tally's key, cheap to compute on the hot path.
fn hour_index(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}

fn from_hour_index(index: i64) -> DateTime<Utc> {
    // Any i64 hour index from a real timestamp maps back into chrono's range.
    Utc.timestamp_opt(index.saturating_mul(3600), 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Units a tenant used on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyUsage {
    /// Whose.
    pub tenant: Tenant,
    /// The meter counted.
    pub meter: String,
    /// The UTC day.
    pub day: NaiveDate,
    /// Units counted.
    pub amount: u64,
}

/// Accepted usage not yet written to the store, per tenant, meter and UTC hour
/// (the daily totals are sums of the hours, written in the same batch).
///
/// ```
/// use dream_core::{Mode, PlatformId, Tenant, UsageTally};
/// let tally = UsageTally::default();
/// let tenant = Tenant::new(PlatformId::generate(), Mode::Test);
/// let now = chrono::Utc::now();
/// tally.add(&tenant, "requests", now, 2);
/// tally.add(&tenant, "requests", now, 3);
/// tally.add(&tenant, "exports", now, 1);
/// assert_eq!(tally.pending(&tenant, "requests", now.date_naive()), 5);
/// let mut drained = tally.drain();
/// drained.retain(|row| row.meter == "requests");
/// assert_eq!(drained.len(), 1);
/// assert_eq!(drained[0].amount, 5);
/// assert_eq!(drained[0].hour, dream_core::hour_start(now));
/// assert!(tally.drain().is_empty());
/// ```
#[derive(Debug, Default)]
pub struct UsageTally {
    /// Keyed by tenant, then meter, so the hot path finds its entry by reference
    /// and allocates only for a (tenant, meter)'s first call since the last flush.
    pending: Mutex<Pending>,
}

type Pending = HashMap<Tenant, HashMap<String, HashMap<i64, u64>>>;

impl UsageTally {
    /// Adds `amount` units of `meter` used at `at`.
    pub fn add(&self, tenant: &Tenant, meter: &str, at: DateTime<Utc>, amount: u64) {
        let hour = hour_index(at);
        let mut pending = self.lock();
        let meters = match pending.get_mut(tenant) {
            Some(meters) => meters,
            None => pending.entry(tenant.clone()).or_default(),
        };
        let hours = match meters.get_mut(meter) {
            Some(hours) => hours,
            None => meters.entry(meter.to_owned()).or_default(),
        };
        let slot = hours.entry(hour).or_default();
        *slot = slot.saturating_add(amount);
    }

    /// Takes everything pending, leaving the tally empty.
    pub fn drain(&self) -> Vec<HourlyUsage> {
        let mut rows = Vec::new();
        for (tenant, meters) in self.lock().drain() {
            for (meter, hours) in meters {
                for (hour, amount) in hours {
                    rows.push(HourlyUsage {
                        tenant: tenant.clone(),
                        meter: meter.clone(),
                        hour: from_hour_index(hour),
                        amount,
                    });
                }
            }
        }
        rows
    }

    /// Puts back what could not be written, to be tried again with the next batch.
    pub fn restore(&self, rows: Vec<HourlyUsage>) {
        let mut pending = self.lock();
        for row in rows {
            let slot = pending
                .entry(row.tenant)
                .or_default()
                .entry(row.meter)
                .or_default()
                .entry(hour_index(row.hour))
                .or_default();
            *slot = slot.saturating_add(row.amount);
        }
    }

    /// What is pending for `tenant`'s `meter` on `day` (so a chart includes this
    /// process's latest calls before they are written).
    pub fn pending(&self, tenant: &Tenant, meter: &str, day: NaiveDate) -> u64 {
        self.lock()
            .get(tenant)
            .and_then(|meters| meters.get(meter))
            .map_or(0, |hours| {
                hours
                    .iter()
                    .filter(|(hour, _)| from_hour_index(**hour).date_naive() == day)
                    .fold(0u64, |sum, (_, amount)| sum.saturating_add(*amount))
            })
    }

    /// What is pending for `tenant`'s `meter` in the hour starting at `hour`.
    pub fn pending_hour(&self, tenant: &Tenant, meter: &str, hour: DateTime<Utc>) -> u64 {
        self.lock()
            .get(tenant)
            .and_then(|meters| meters.get(meter))
            .and_then(|hours| hours.get(&hour_index(hour)))
            .copied()
            .unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave the map half-updated (each
        // operation is one insert or drain), so a poisoned lock is still usable.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
