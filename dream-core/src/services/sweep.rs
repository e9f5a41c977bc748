//! The expiry sweep: state that lapses by time alone (inventory holds, Connect
//! onboarding states) is ignored once expired, but would stay on disk forever
//! without a sweep.

use super::Dream;
use crate::CoreError;

/// What one sweep pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired, unsettled reservations released (their holds deleted).
    pub reservations_released: u64,
    /// Expired onboarding states deleted.
    pub onboarding_states_deleted: u64,
    /// Usage history rows (hourly and daily) older than the retention deleted.
    pub usage_history_rows_deleted: u64,
    /// End-user sign-ins (refresh families) that expired or were revoked,
    /// deleted with their refresh tokens.
    pub refresh_families_deleted: u64,
}

impl SweepReport {
    /// Whether a kind of state filled its batch, so more may be waiting.
    pub fn filled(&self, batch: usize) -> bool {
        let batch = batch as u64;
        self.reservations_released >= batch
            || self.onboarding_states_deleted >= batch
            || self.usage_history_rows_deleted >= batch
            || self.refresh_families_deleted >= batch
    }
}

impl Dream {
    /// One bounded sweep pass at the current time: releases up to `batch`
    /// expired reservations (as a release would: a payment arriving later still
    /// records the sale), deletes up to `batch` expired onboarding states and
    /// up to `batch` hourly and `batch` daily usage history rows older than the
    /// retention ([`Dream::with_usage_history_retention_days`]) and up to `batch`
    /// expired or revoked end-user sign-ins with their refresh tokens.
    /// Safe to run from any number of processes at once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), dream_core::CoreError> {
    /// use std::sync::Arc;
    /// let dream = dream_core::Dream::new(Arc::new(dream_store::MemoryStore::new()));
    /// let report = dream.sweep_expired(100).await?;
    /// assert_eq!(report.reservations_released, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn sweep_expired(&self, batch: usize) -> Result<SweepReport, CoreError> {
        let now = self.now();
        Ok(SweepReport {
            reservations_released: self
                .stores
                .inventory
                .release_expired_reservations(now, batch)
                .await?,
            onboarding_states_deleted: self
                .stores
                .billing
                .delete_expired_oauth_states(now, batch)
                .await?,
            usage_history_rows_deleted: self
                .stores
                .history
                .purge_usage_history(
                    now - chrono::Duration::days(i64::from(self.history_retention_days)),
                    batch,
                )
                .await?,
            refresh_families_deleted: self
                .stores
                .tokens
                .delete_lapsed_refresh_families(now, batch)
                .await?,
        })
    }
}
