//! Daily usage history: the in-memory tally written in batches, and the chart's
//! series.

use chrono::{Duration, NaiveDate};

use crate::{CoreError, Tenant};

use super::Dream;

impl Dream {
    /// Writes the usage accepted since the last flush to the history store, in one
    /// batch; returns how many (tenant, day) rows it added to. On failure the batch
    /// is kept for the next flush, so a store outage delays the chart, it does not
    /// lose from it. A server calls this every few seconds and once at shutdown;
    /// an embedding service that wants charts should do the same.
    pub async fn flush_usage_history(&self) -> Result<usize, CoreError> {
        let rows = self.daily_tally.drain();
        if rows.is_empty() {
            return Ok(0);
        }
        match self.stores.history.add_daily_usage(&rows).await {
            Ok(()) => Ok(rows.len()),
            Err(err) => {
                self.daily_tally.restore(rows);
                Err(err.into())
            }
        }
    }

    /// Usage per UTC day over the last `days` days up to today, oldest first, one
    /// entry per day (zero when nothing was used), including this process's calls
    /// not yet flushed.
    pub async fn daily_usage(
        &self,
        tenant: &Tenant,
        days: u32,
    ) -> Result<Vec<(NaiveDate, u64)>, CoreError> {
        let today = self.now().date_naive();
        let from = today - Duration::days(i64::from(days.max(1)) - 1);
        let stored = self.stores.history.daily_usage(tenant, from, today).await?;
        let mut series = Vec::with_capacity(days as usize);
        let mut day = from;
        while day <= today {
            let stored_amount = stored
                .iter()
                .find(|(d, _)| *d == day)
                .map_or(0, |(_, amount)| *amount);
            series.push((
                day,
                stored_amount.saturating_add(self.daily_tally.pending(tenant, day)),
            ));
            day += Duration::days(1);
        }
        Ok(series)
    }
}
