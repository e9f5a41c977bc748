//! Usage history: batches add to (tenant, hour) and (tenant, day) totals, reads
//! are ranges of one tenant's buckets, concurrent batches from many processes sum
//! exactly, and the retention purge deletes only what is old enough.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use dream_core::{ports::Stores, DailyUsage, HourlyUsage, Tenant};

use super::fixtures::{new_tenants, t0};

fn day(offset: i64) -> NaiveDate {
    t0().date_naive() + Duration::days(offset)
}

fn row(tenant: &Tenant, offset: i64, amount: u64) -> DailyUsage {
    DailyUsage {
        tenant: tenant.clone(),
        meter: "requests".into(),
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
            .daily_usage(&test, "requests", day(0), day(2))
            .await
            .expect("range"),
        vec![(day(0), 8), (day(2), 7)],
        "amounts add up, day 3 is outside the range, day 1 has nothing"
    );
    assert_eq!(
        history
            .daily_usage(&live, "requests", day(-5), day(5))
            .await
            .expect("live"),
        vec![(day(0), 100)],
        "the other mode is another tenant"
    );
    assert!(history
        .daily_usage(&test, "requests", day(2), day(1))
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
            .daily_usage(&test, "requests", day(0), day(1))
            .await
            .expect("test totals"),
        vec![(day(0), 16 * 50), (day(1), 16 * 50 * 3)]
    );
    assert_eq!(
        store
            .history
            .daily_usage(&live, "requests", day(0), day(1))
            .await
            .expect("live totals"),
        vec![(day(1), 16 * 50 * 2)]
    );
}

fn hour(offset_hours: i64) -> DateTime<Utc> {
    dream_core::hour_start(t0()) + Duration::hours(offset_hours)
}

fn hourly(tenant: &Tenant, offset_hours: i64, amount: u64) -> HourlyUsage {
    HourlyUsage {
        tenant: tenant.clone(),
        meter: "requests".into(),
        hour: hour(offset_hours),
        amount,
    }
}

/// Hourly writes add to their hour and to its UTC day in one batch: the hours of
/// a day sum to the day; hourly reads are `[from, to)` of one tenant.
pub async fn usage_history_hours_sum_to_days(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let history = &store.history;
    // t0 is 12:00; +13 h is 01:00 the next day.
    history
        .add_usage(&[
            hourly(&test, 0, 5),
            hourly(&test, 0, 1),
            hourly(&test, 2, 7),
            hourly(&test, 13, 4),
            hourly(&live, 0, 100),
        ])
        .await
        .expect("first batch");
    history
        .add_usage(&[hourly(&test, 2, 3)])
        .await
        .expect("second batch");
    history.add_usage(&[]).await.expect("an empty batch");
    assert_eq!(
        history
            .hourly_usage(&test, "requests", hour(0), hour(13))
            .await
            .expect("hours"),
        vec![(hour(0), 6), (hour(2), 10)],
        "amounts add up; the end is exclusive"
    );
    assert_eq!(
        history
            .hourly_usage(&test, "requests", hour(1), hour(14))
            .await
            .expect("hours"),
        vec![(hour(2), 10), (hour(13), 4)]
    );
    assert_eq!(
        history
            .daily_usage(&test, "requests", day(0), day(1))
            .await
            .expect("days"),
        vec![(day(0), 16), (day(1), 4)],
        "each day is the sum of its hours"
    );
    assert_eq!(
        history
            .hourly_usage(&live, "requests", hour(-24), hour(24))
            .await
            .expect("live"),
        vec![(hour(0), 100)],
        "the other mode is another tenant"
    );
    assert!(history
        .hourly_usage(&test, "requests", hour(2), hour(2))
        .await
        .expect("empty range")
        .is_empty());
}

/// 16 writers adding hourly batches concurrently lose nothing, in hours or days.
pub async fn usage_history_concurrent_hourly_batches_sum_exactly(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let mut writers = Vec::new();
    for writer in 0..16u64 {
        let store = store.clone();
        let (test, live) = (test.clone(), live.clone());
        writers.push(tokio::spawn(async move {
            for _ in 0..30 {
                let batch = if writer % 2 == 0 {
                    vec![
                        hourly(&test, 0, 1),
                        hourly(&live, 1, 2),
                        hourly(&test, 1, 3),
                    ]
                } else {
                    vec![
                        hourly(&test, 1, 3),
                        hourly(&live, 1, 2),
                        hourly(&test, 0, 1),
                    ]
                };
                store
                    .history
                    .add_usage(&batch)
                    .await
                    .expect("concurrent batch");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer task");
    }
    let history = &store.history;
    assert_eq!(
        history
            .hourly_usage(&test, "requests", hour(0), hour(2))
            .await
            .expect("test hours"),
        vec![(hour(0), 16 * 30), (hour(1), 16 * 30 * 3)]
    );
    assert_eq!(
        history
            .daily_usage(&test, "requests", day(0), day(0))
            .await
            .expect("test day"),
        vec![(day(0), 16 * 30 * 4)]
    );
    assert_eq!(
        history
            .daily_usage(&live, "requests", day(0), day(0))
            .await
            .expect("live day"),
        vec![(day(0), 16 * 30 * 2)]
    );
}

/// The retention purge deletes hours before the cutoff and days before its UTC
/// day, across tenants, at most `limit` of each per call, and nothing newer.
pub async fn usage_history_purge_before_cutoff(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let history = &store.history;
    history
        .add_usage(&[
            hourly(&test, -72, 1),
            hourly(&test, -48, 1),
            hourly(&live, -49, 1),
            hourly(&test, -1, 1),
            hourly(&test, 0, 1),
        ])
        .await
        .expect("rows");
    // Cutoff t0 - 1 h (11:00 on day 0): hours -72, -48, -49 go, -1 (11:00) stays;
    // days -3, -2 of test and -3 of live go (live's -49 h is day -3, 11:00).
    let cutoff = hour(-1);
    let first = history
        .purge_usage_history(cutoff, 2)
        .await
        .expect("first pass");
    assert_eq!(first, 4, "two hours and two days in a pass of 2");
    let second = history
        .purge_usage_history(cutoff, 2)
        .await
        .expect("second pass");
    assert_eq!(second, 2, "the third old hour and the third old day");
    assert_eq!(
        history
            .purge_usage_history(cutoff, 2)
            .await
            .expect("nothing left"),
        0
    );
    assert_eq!(
        history
            .hourly_usage(&test, "requests", hour(-100), hour(100))
            .await
            .expect("test hours"),
        vec![(hour(-1), 1), (hour(0), 1)]
    );
    assert!(history
        .hourly_usage(&live, "requests", hour(-100), hour(100))
        .await
        .expect("live hours")
        .is_empty());
    assert_eq!(
        history
            .daily_usage(&test, "requests", day(-10), day(10))
            .await
            .expect("test days"),
        vec![(day(0), 2)]
    );
}

/// Each meter has its own hours and days: a batch holding two meters of one
/// tenant and hour adds to each apart, reads name their meter, and the retention
/// sweep removes every meter's old rows.
pub async fn usage_history_meters_kept_apart(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let history = &store.history;
    let exports = |offset: i64, amount: u64| HourlyUsage {
        meter: "exports".into(),
        ..hourly(&test, offset, amount)
    };
    history
        .add_usage(&[
            hourly(&test, 0, 5),
            exports(0, 2),
            exports(0, 1),
            exports(13, 4),
        ])
        .await
        .expect("batch of two meters");
    history
        .add_daily_usage(&[DailyUsage {
            tenant: test.clone(),
            meter: "exports".into(),
            day: day(0),
            amount: 10,
        }])
        .await
        .expect("daily batch");
    assert_eq!(
        history
            .hourly_usage(&test, "requests", hour(0), hour(24))
            .await
            .expect("requests hours"),
        vec![(hour(0), 5)]
    );
    assert_eq!(
        history
            .hourly_usage(&test, "exports", hour(0), hour(24))
            .await
            .expect("exports hours"),
        vec![(hour(0), 3), (hour(13), 4)]
    );
    assert_eq!(
        history
            .daily_usage(&test, "exports", day(0), day(1))
            .await
            .expect("exports days"),
        vec![(day(0), 13), (day(1), 4)],
        "the hours of a day sum to the meter's day, next to its daily rows"
    );
    assert_eq!(
        history
            .daily_usage(&test, "seats", day(0), day(1))
            .await
            .expect("a meter never counted"),
        vec![]
    );
    let purged = history
        .purge_usage_history(hour(48), 100)
        .await
        .expect("purge");
    assert_eq!(purged, 3 + 3, "three hours and three days, of both meters");
    assert!(history
        .hourly_usage(&test, "exports", hour(0), hour(24))
        .await
        .expect("exports hours")
        .is_empty());
}
