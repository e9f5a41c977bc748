//! The expiry sweep every process runs: expired inventory holds are released,
//! expired Connect onboarding states deleted and usage history past its retention
//! deleted, a bounded batch of each per pass.
//! Any number of processes may sweep at once (each row is settled or deleted by
//! one atomic store operation); a failed pass is logged and the next one retries.

use std::time::Duration;

use dream_core::{Dream, SweepReport};

/// Sweeps now and then every `every`, `batch` rows of each kind per pass; a pass
/// that fills its batch is followed at once by another, so a backlog drains
/// without waiting for the interval. Runs until the task is dropped.
pub async fn run(dream: Dream, every: Duration, batch: usize) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        while sweep_once(&dream, batch).await {
            tokio::task::yield_now().await;
        }
    }
}

/// One pass; `true` when a batch was full (more may be waiting).
pub async fn sweep_once(dream: &Dream, batch: usize) -> bool {
    match dream.sweep_expired(batch).await {
        Ok(report) => {
            if report != SweepReport::default() {
                tracing::info!(
                    reservations_released = report.reservations_released,
                    onboarding_states_deleted = report.onboarding_states_deleted,
                    usage_history_rows_deleted = report.usage_history_rows_deleted,
                    refresh_families_deleted = report.refresh_families_deleted,
                    "expiry sweep"
                );
            }
            report.filled(batch)
        }
        Err(err) => {
            tracing::warn!(error = %err, "expiry sweep failed; the next pass retries");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{Duration as Span, Utc};
    use dream_core::{
        Mode, OAuthState, PlatformId, ReservationId, ReservationLine, ReservationState,
        ReserveOutcome, ReserveRequest, Tenant,
    };
    use dream_store::MemoryStore;

    use super::*;

    /// Three expired reservations and an expired onboarding state are swept by
    /// passes of 2 until none is left; an open reservation stays active.
    #[tokio::test]
    async fn passes_release_expired_holds_in_batches_until_done() {
        let dream = Dream::new(Arc::new(MemoryStore::new()));
        let tenant = Tenant::new(PlatformId::generate(), Mode::Test);
        let now = Utc::now();
        let reserve = |expires_at| {
            let id = ReservationId::generate();
            let request = ReserveRequest {
                tenant: tenant.clone(),
                reservation: id.clone(),
                lines: vec![ReservationLine {
                    product: "mug".into(),
                    quantity: 1,
                    stock: Some(10),
                }],
                expires_at,
                now: now - Span::hours(2),
            };
            (id, request)
        };
        let mut expired = vec![];
        for minutes in [90, 60, 30] {
            expired.push(reserve(now - Span::minutes(minutes)));
        }
        let open = reserve(now + Span::hours(1));
        for (_, request) in expired.iter().chain([&open]) {
            let outcome = dream.stores().inventory.reserve_inventory(request).await;
            assert_eq!(outcome.ok(), Some(ReserveOutcome::Reserved));
        }
        let (_, state) = OAuthState::issue(tenant.clone(), now - Span::hours(2));
        dream
            .stores()
            .billing
            .insert_oauth_state(&state)
            .await
            .expect("state stored");

        assert!(
            sweep_once(&dream, 2).await,
            "a full batch asks for another pass"
        );
        assert!(!sweep_once(&dream, 2).await, "the rest fits in one pass");
        let state_of = |id: ReservationId| {
            let (dream, tenant) = (dream.clone(), tenant.clone());
            async move {
                dream
                    .stores()
                    .inventory
                    .get_reservation(&tenant, &id)
                    .await
                    .ok()
                    .flatten()
                    .map(|r| r.state)
            }
        };
        for (id, _) in expired {
            assert_eq!(state_of(id).await, Some(ReservationState::Released));
        }
        assert_eq!(state_of(open.0).await, Some(ReservationState::Active));
        let taken = dream
            .stores()
            .billing
            .take_oauth_state(&state.digest, now - Span::hours(2))
            .await
            .expect("take");
        assert_eq!(taken, None, "the expired onboarding state was deleted");
    }

    /// Usage history older than the configured retention is deleted by the
    /// sweep, newer history stays.
    #[tokio::test]
    async fn passes_delete_usage_history_past_its_retention() {
        let store = Arc::new(MemoryStore::new());
        let dream = Dream::new(store.clone()).with_usage_history_retention_days(7);
        let tenant = Tenant::new(PlatformId::generate(), Mode::Test);
        let now = Utc::now();
        let row = |days_ago: i64| dream_core::HourlyUsage {
            tenant: tenant.clone(),
            meter: "requests".into(),
            hour: dream_core::hour_start(now - Span::days(days_ago)),
            amount: 3,
        };
        dream
            .stores()
            .history
            .add_usage(&[row(20), row(8), row(1)])
            .await
            .expect("history written");
        assert!(!sweep_once(&dream, 100).await, "one pass takes all");
        let left = dream
            .stores()
            .history
            .hourly_usage(
                &tenant,
                "requests",
                now - Span::days(30),
                now + Span::days(1),
            )
            .await
            .expect("history read");
        assert_eq!(left, vec![(dream_core::hour_start(now - Span::days(1)), 3)]);
    }
}
