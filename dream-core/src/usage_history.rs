//! Daily usage per tenant, for charts: counted in memory as calls are accepted,
//! written to the store in batches.
//!
//! The exact, enforced numbers are the per-customer period counters of
//! [`UsageStore`](crate::ports::UsageStore). This history is a tenant-wide
//! aggregate kept off the hot path on purpose: adding to a (tenant, day) row in
//! the consume's own transaction would make every call of a tenant wait on one
//! row. The price: calls accepted in the last flush interval before a process
//! crash are missing from the chart (never from the counters), and a consume
//! replayed by its receipt may be counted twice here.

use std::{collections::HashMap, sync::Mutex};

use chrono::{DateTime, NaiveDate, Utc};

use crate::Tenant;

/// Units a tenant used on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyUsage {
    /// Whose.
    pub tenant: Tenant,
    /// The UTC day.
    pub day: NaiveDate,
    /// Units counted.
    pub amount: u64,
}

/// Accepted usage not yet written to the store, per tenant and day.
///
/// ```
/// use dream_core::{DailyTally, Mode, PlatformId, Tenant};
/// let tally = DailyTally::default();
/// let tenant = Tenant::new(PlatformId::generate(), Mode::Test);
/// let now = chrono::Utc::now();
/// tally.add(&tenant, now, 2);
/// tally.add(&tenant, now, 3);
/// let drained = tally.drain();
/// assert_eq!(drained.len(), 1);
/// assert_eq!(drained[0].amount, 5);
/// assert!(tally.drain().is_empty());
/// ```
#[derive(Debug, Default)]
pub struct DailyTally {
    /// Keyed by tenant first, so the hot path finds its entry by reference and
    /// allocates only for a tenant's first call since the last flush.
    pending: Mutex<HashMap<Tenant, HashMap<NaiveDate, u64>>>,
}

impl DailyTally {
    /// Adds `amount` units used at `at`.
    pub fn add(&self, tenant: &Tenant, at: DateTime<Utc>, amount: u64) {
        let day = at.date_naive();
        let mut pending = self.lock();
        if let Some(days) = pending.get_mut(tenant) {
            let slot = days.entry(day).or_default();
            *slot = slot.saturating_add(amount);
        } else {
            pending.insert(tenant.clone(), HashMap::from([(day, amount)]));
        }
    }

    /// Takes everything pending, leaving the tally empty.
    pub fn drain(&self) -> Vec<DailyUsage> {
        self.lock()
            .drain()
            .flat_map(|(tenant, days)| {
                days.into_iter().map(move |(day, amount)| DailyUsage {
                    tenant: tenant.clone(),
                    day,
                    amount,
                })
            })
            .collect()
    }

    /// Puts back what could not be written, to be tried again with the next batch.
    pub fn restore(&self, rows: Vec<DailyUsage>) {
        let mut pending = self.lock();
        for row in rows {
            let slot = pending
                .entry(row.tenant)
                .or_default()
                .entry(row.day)
                .or_default();
            *slot = slot.saturating_add(row.amount);
        }
    }

    /// What is pending for `tenant` on `day` (so a chart includes this process's
    /// latest calls before they are written).
    pub fn pending(&self, tenant: &Tenant, day: NaiveDate) -> u64 {
        self.lock()
            .get(tenant)
            .and_then(|days| days.get(&day))
            .copied()
            .unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Tenant, HashMap<NaiveDate, u64>>> {
        // A panic while holding this lock cannot leave the map half-updated (each
        // operation is one insert or drain), so a poisoned lock is still usable.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
