//! Usage history: the in-memory tally written in batches, the dashboard chart's
//! daily series, and hourly or daily buckets over a range.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::{hour_start, CoreError, Tenant, REQUESTS_METER};

use super::Dream;

/// Most buckets one history query may return (a month of hours is 744).
pub const MAX_HISTORY_BUCKETS: i64 = 1000;

/// Default retention of the usage history, in days.
pub const DEFAULT_HISTORY_RETENTION_DAYS: u32 = 400;

/// The width of one history bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// A UTC hour.
    Hour,
    /// A UTC day.
    Day,
}

impl Granularity {
    fn width(self) -> Duration {
        match self {
            Granularity::Hour => Duration::hours(1),
            Granularity::Day => Duration::days(1),
        }
    }

    /// The start of the bucket containing `at`.
    fn floor(self, at: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Granularity::Hour => hour_start(at),
            Granularity::Day => at
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map_or(at, |midnight| midnight.and_utc()),
        }
    }

    /// The start of the first bucket at or after `at`.
    fn ceil(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let floor = self.floor(at);
        if floor == at {
            at
        } else {
            floor + self.width()
        }
    }
}

/// What [`Dream::usage_history`] is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The meter (the history covers `requests` only).
    pub meter: String,
    /// Start; rounded down to its bucket. Default: a day (hours) or 30 days
    /// (days) before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive; rounded up to a bucket boundary. Default: now.
    pub to: Option<DateTime<Utc>>,
    /// Bucket width.
    pub granularity: Granularity,
}

/// Usage per bucket over `[from, to)`, every bucket listed (zero when unused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageHistory {
    /// Start of the first bucket.
    pub from: DateTime<Utc>,
    /// End of the last bucket.
    pub to: DateTime<Utc>,
    /// Bucket width.
    pub granularity: Granularity,
    /// `(bucket start, units)`, oldest first.
    pub buckets: Vec<(DateTime<Utc>, u64)>,
}

impl Dream {
    /// Keeps the usage history for `days` days (the retention sweep deletes older
    /// buckets); default [`DEFAULT_HISTORY_RETENTION_DAYS`].
    pub fn with_usage_history_retention_days(mut self, days: u32) -> Self {
        self.history_retention_days = days.max(1);
        self
    }

    /// How many days of usage history are kept.
    pub fn usage_history_retention_days(&self) -> u32 {
        self.history_retention_days
    }

    /// Writes the usage accepted since the last flush to the history store, in one
    /// batch; returns how many (tenant, hour) rows it added to. On failure the
    /// batch is kept for the next flush, so a store outage delays the chart, it
    /// does not lose from it. A server calls this every few seconds and once at
    /// shutdown; an embedding service that wants charts should do the same.
    pub async fn flush_usage_history(&self) -> Result<usize, CoreError> {
        let rows = self.usage_tally.drain();
        if rows.is_empty() {
            return Ok(0);
        }
        match self.stores.history.add_usage(&rows).await {
            Ok(()) => Ok(rows.len()),
            Err(err) => {
                self.usage_tally.restore(rows);
                Err(err.into())
            }
        }
    }

    /// `requests` per UTC day over the last `days` days up to today, oldest first, one
    /// entry per day (zero when nothing was used), including this process's calls
    /// not yet flushed.
    pub async fn daily_usage(
        &self,
        tenant: &Tenant,
        days: u32,
    ) -> Result<Vec<(NaiveDate, u64)>, CoreError> {
        let today = self.now().date_naive();
        let from = today - Duration::days(i64::from(days.max(1)) - 1);
        let stored = self
            .stores
            .history
            .daily_usage(tenant, REQUESTS_METER, from, today)
            .await?;
        let mut series = Vec::with_capacity(days as usize);
        let mut day = from;
        while day <= today {
            let stored_amount = stored
                .iter()
                .find(|(d, _)| *d == day)
                .map_or(0, |(_, amount)| *amount);
            series.push((
                day,
                stored_amount.saturating_add(self.usage_tally.pending(tenant, REQUESTS_METER, day)),
            ));
            day += Duration::days(1);
        }
        Ok(series)
    }

    /// The tenant's usage of a meter per hour or day over a range, every bucket
    /// listed, including this process's calls not yet flushed. Errors name the
    /// query parameter: `meter` (unknown), `from` (after `to`, or more than
    /// [`MAX_HISTORY_BUCKETS`] buckets).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), dream_core::CoreError> {
    /// use std::sync::Arc;
    /// use dream_core::{Dream, Granularity, HistoryQuery, Mode, PlatformId, Tenant};
    /// let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    /// let tenant = Tenant::new(PlatformId::generate(), Mode::Test);
    /// let history = dream.usage_history(&tenant, &HistoryQuery {
    ///     meter: "requests".into(), from: None, to: None, granularity: Granularity::Hour,
    /// }).await?;
    /// assert!(history.buckets.len() >= 24 && history.buckets.len() <= 25);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn usage_history(
        &self,
        tenant: &Tenant,
        query: &HistoryQuery,
    ) -> Result<UsageHistory, CoreError> {
        let meter = query.meter.as_str();
        if meter != REQUESTS_METER {
            self.tier_config(tenant)
                .await?
                .require_meter(meter, "meter")?;
        }
        let granularity = query.granularity;
        let to = granularity.ceil(query.to.unwrap_or_else(|| self.now()));
        let default_span = match granularity {
            Granularity::Hour => Duration::days(1),
            Granularity::Day => Duration::days(30),
        };
        let from = granularity.floor(query.from.unwrap_or(to - default_span));
        if from >= to {
            return Err(CoreError::invalid("from", "must be before `to`"));
        }
        let count = (to - from).num_seconds() / granularity.width().num_seconds();
        if count > MAX_HISTORY_BUCKETS {
            return Err(CoreError::invalid(
                "from",
                format!(
                    "the range holds {count} buckets, at most {MAX_HISTORY_BUCKETS}: narrow `from`/`to` or use a coarser granularity"
                ),
            ));
        }
        let buckets = match granularity {
            Granularity::Hour => {
                let stored = self
                    .stores
                    .history
                    .hourly_usage(tenant, meter, from, to)
                    .await?;
                fill(from, to, granularity, &stored, |hour| {
                    self.usage_tally.pending_hour(tenant, meter, hour)
                })
            }
            Granularity::Day => {
                let last = (to - Duration::days(1)).date_naive();
                let stored: Vec<(DateTime<Utc>, u64)> = self
                    .stores
                    .history
                    .daily_usage(tenant, meter, from.date_naive(), last)
                    .await?
                    .into_iter()
                    .map(|(day, amount)| (granularity.floor(day_start(day)), amount))
                    .collect();
                fill(from, to, granularity, &stored, |start| {
                    self.usage_tally.pending(tenant, meter, start.date_naive())
                })
            }
        };
        Ok(UsageHistory {
            from,
            to,
            granularity,
            buckets,
        })
    }
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Every bucket of `[from, to)`: stored amount plus what is pending here.
fn fill(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    granularity: Granularity,
    stored: &[(DateTime<Utc>, u64)],
    pending: impl Fn(DateTime<Utc>) -> u64,
) -> Vec<(DateTime<Utc>, u64)> {
    let mut out = Vec::new();
    let mut start = from;
    let mut rows = stored.iter().peekable();
    while start < to {
        let mut amount = pending(start);
        while let Some((at, stored_amount)) = rows.peek() {
            if *at < start {
                rows.next();
            } else {
                if *at == start {
                    amount = amount.saturating_add(*stored_amount);
                    rows.next();
                }
                break;
            }
        }
        out.push((start, amount));
        start += granularity.width();
    }
    out
}
