//! Daily usage history: batches add to (tenant, day) totals, reads are ranges of
//! one tenant's days, and concurrent batches from many processes sum exactly.

use chrono::{Duration, NaiveDate};
use dream_core::{ports::Stores, DailyUsage, Tenant};

use super::fixtures::{new_tenants, t0};

fn day(offset: i64) -> NaiveDate {
    t0().date_naive() + Duration::days(offset)
}

fn row(tenant: &Tenant, offset: i64, amount: u64) -> DailyUsage {
    DailyUsage {
        tenant: tenant.clone(),
        day: day(offset),
        amount,
    }
}

/// Writes add to what is stored, a batch may name one day twice, reads return
/// only the asked range of the asked tenant, oldest first.
pub async fn usage_history_adds_and_ranges(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let history = &store.history;
    history
        .add_daily_usage(&[row(&test, 0, 5), row(&test, 2, 7), row(&live, 0, 100)])
        .await
        .expect("first batch");
    history
        .add_daily_usage(&[row(&test, 0, 1), row(&test, 0, 2), row(&test, 3, 4)])
        .await
        .expect("second batch");
    history.add_daily_usage(&[]).await.expect("an empty batch");
    assert_eq!(
        history
            .daily_usage(&test, day(0), day(2))
            .await
            .expect("range"),
        vec![(day(0), 8), (day(2), 7)],
        "amounts add up, day 3 is outside the range, day 1 has nothing"
    );
    assert_eq!(
        history
            .daily_usage(&live, day(-5), day(5))
            .await
            .expect("live"),
        vec![(day(0), 100)],
        "the other mode is another tenant"
    );
    assert!(history
        .daily_usage(&test, day(2), day(1))
        .await
        .expect("empty range")
        .is_empty());
}

/// 16 writers adding 50 batches each to the same days lose nothing.
pub async fn usage_history_concurrent_batches_sum_exactly(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let mut writers = Vec::new();
    for writer in 0..16u64 {
        let store = store.clone();
        let (test, live) = (test.clone(), live.clone());
        writers.push(tokio::spawn(async move {
            for _ in 0..50 {
                // Alternate key orders: a backend that locks rows in batch order
                // must not deadlock.
                let batch = if writer % 2 == 0 {
                    vec![row(&test, 0, 1), row(&live, 1, 2), row(&test, 1, 3)]
                } else {
                    vec![row(&test, 1, 3), row(&live, 1, 2), row(&test, 0, 1)]
                };
                store
                    .history
                    .add_daily_usage(&batch)
                    .await
                    .expect("concurrent batch");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer task");
    }
    assert_eq!(
        store
            .history
            .daily_usage(&test, day(0), day(1))
            .await
            .expect("test totals"),
        vec![(day(0), 16 * 50), (day(1), 16 * 50 * 3)]
    );
    assert_eq!(
        store
            .history
            .daily_usage(&live, day(0), day(1))
            .await
            .expect("live totals"),
        vec![(day(1), 16 * 50 * 2)]
    );
}
