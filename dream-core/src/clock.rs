//! Time as a port, so periods, expiries and rate windows can be tested.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Timelike, Utc};

/// Where services read the current time from.
pub trait Clock: Send + Sync {
    /// The current UTC time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Truncated to microseconds, the precision SQL backends keep, so a value
    /// read back from any store equals the value written.
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }
}

/// A clock that only moves when told to; for tests and simulations.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use dream_core::{Clock, ManualClock};
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 31, 23, 59, 0).unwrap());
/// clock.advance(Duration::minutes(2));
/// assert_eq!(clock.now(), Utc.with_ymd_and_hms(2026, 2, 1, 0, 1, 0).unwrap());
/// ```
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
