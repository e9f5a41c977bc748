//! The usage history through the services: accepted calls reach the chart,
//! refused ones do not, a failed flush keeps its batch, hourly buckets sum to
//! the counted total, and the retention sweep deletes old buckets.
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use dream_core::{
    ports::{Stores, UsageHistoryStore},
    DailyUsage, Dream, Granularity, HistoryQuery, HourlyUsage, Interval, ManualClock, Mode, Money,
    StoreError, Tenant, Tier, TierKind, UsageLimit,
};

/// History in memory that refuses writes while `down` is set.
#[derive(Default)]
struct FlakyHistory {
    down: AtomicBool,
    inner: dream_store::MemoryStore,
}

#[async_trait]
impl UsageHistoryStore for FlakyHistory {
    async fn add_daily_usage(&self, rows: &[DailyUsage]) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("history store down".into()));
        }
        self.inner.add_daily_usage(rows).await
    }

    async fn add_usage(&self, rows: &[HourlyUsage]) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("history store down".into()));
        }
        self.inner.add_usage(rows).await
    }

    async fn hourly_usage(
        &self,
        tenant: &Tenant,
        meter: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        self.inner.hourly_usage(tenant, meter, from, to).await
    }

    async fn purge_usage_history(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        self.inner.purge_usage_history(before, limit).await
    }

    async fn daily_usage(
        &self,
        tenant: &Tenant,
        meter: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, u64)>, StoreError> {
        self.inner.daily_usage(tenant, meter, from, to).await
    }
}

fn free_tier(limit: u64) -> Tier {
    Tier {
        name: "free".into(),
        display_name: "Free".into(),
        price: Money::from_major(0.0, "usd").expect("price"),
        kind: TierKind::Recurring {
            interval: Interval::Month,
        },
        limit: UsageLimit::Limited(limit),
        rate_limit_per_minute: None,
        features: vec![],
        flags: vec![],
        alerts: dream_core::DEFAULT_ALERTS.to_vec(),
        meters: Default::default(),
        grants: None,
        archived: false,
    }
}

fn query(granularity: Granularity, from: DateTime<Utc>, to: DateTime<Utc>) -> HistoryQuery {
    HistoryQuery {
        meter: "requests".into(),
        from: Some(from),
        to: Some(to),
        granularity,
    }
}

/// Calls spread over three hours of two days: the hourly buckets land in their
/// hours, and over the period they sum to what was counted, before and after the
/// flush (never twice); the daily buckets agree.
#[tokio::test]
async fn hourly_buckets_sum_to_the_counted_total() {
    let start = Utc.with_ymd_and_hms(2026, 12, 6, 22, 30, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let dream = Dream::with_clock(Arc::new(dream_store::MemoryStore::new()), clock.clone());
    let tenant = Tenant::new(
        dream.create_platform(None).await.expect("platform").id,
        Mode::Test,
    );
    dream
        .configure_tiers(&tenant, vec![free_tier(1000)])
        .await
        .expect("tiers");
    let mut counted = 0;
    for (step, amount) in [(0, 2), (10, 3), (40, 5), (60, 7), (90, 11)] {
        clock.set(start + Duration::minutes(step));
        counted = dream
            .track(&tenant, "a", None, amount)
            .await
            .expect("track")
            .used;
        if step == 40 {
            dream.flush_usage_history().await.expect("flush midway");
        }
    }
    assert_eq!(counted, 28);
    let from = Utc.with_ymd_and_hms(2026, 12, 6, 0, 0, 0).unwrap();
    let to = from + Duration::days(2);
    for flushed in [false, true] {
        if flushed {
            dream.flush_usage_history().await.expect("flush");
        }
        let hours = dream
            .usage_history(&tenant, &query(Granularity::Hour, from, to))
            .await
            .expect("hours");
        assert_eq!(hours.buckets.len(), 48);
        let nonzero: Vec<(u32, u64)> = hours
            .buckets
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(at, n)| (chrono::Timelike::hour(at), *n))
            .collect();
        assert_eq!(
            nonzero,
            vec![(22, 5), (23, 12), (0, 11)],
            "flushed: {flushed}"
        );
        let sum: u64 = hours.buckets.iter().map(|(_, n)| n).sum();
        assert_eq!(sum, counted, "flushed: {flushed}");
        let days = dream
            .usage_history(&tenant, &query(Granularity::Day, from, to))
            .await
            .expect("days");
        let days: Vec<u64> = days.buckets.iter().map(|(_, n)| *n).collect();
        assert_eq!(days, vec![17, 11], "flushed: {flushed}");
    }
}

/// Bad ranges are refused naming the parameter; the retention sweep deletes
/// buckets older than the retention and keeps the rest.
#[tokio::test]
async fn history_ranges_are_bounded_and_retention_is_swept() {
    let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let store = Arc::new(dream_store::MemoryStore::new());
    let dream = Dream::with_clock(store.clone(), clock).with_usage_history_retention_days(10);
    let tenant = Tenant::new(
        dream.create_platform(None).await.expect("platform").id,
        Mode::Test,
    );
    let field = |err: dream_core::CoreError| match err {
        dream_core::CoreError::InvalidInput { field, .. } => field,
        other => panic!("expected a 400, got {other:?}"),
    };
    let bad_meter = HistoryQuery {
        meter: "exports".into(),
        ..query(Granularity::Day, now - Duration::days(1), now)
    };
    assert_eq!(
        field(dream.usage_history(&tenant, &bad_meter).await.unwrap_err()),
        "meter"
    );
    let reversed = query(Granularity::Hour, now, now - Duration::hours(3));
    assert_eq!(
        field(dream.usage_history(&tenant, &reversed).await.unwrap_err()),
        "from"
    );
    let too_many = query(Granularity::Hour, now - Duration::days(60), now);
    assert_eq!(
        field(dream.usage_history(&tenant, &too_many).await.unwrap_err()),
        "from"
    );

    let row = |days_ago: i64| HourlyUsage {
        tenant: tenant.clone(),
        meter: "requests".into(),
        hour: dream_core::hour_start(now - Duration::days(days_ago)),
        amount: 1,
    };
    store
        .add_usage(&[row(30), row(11), row(9), row(0)])
        .await
        .expect("rows");
    let report = dream.sweep_expired(100).await.expect("sweep");
    assert_eq!(
        report.usage_history_rows_deleted, 4,
        "two hours and their two days"
    );
    let left = store
        .hourly_usage(
            &tenant,
            "requests",
            now - Duration::days(400),
            now + Duration::days(1),
        )
        .await
        .expect("hours");
    assert_eq!(left.len(), 2);
    let days = store
        .daily_usage(&tenant, "requests", NaiveDate::MIN, NaiveDate::MAX)
        .await
        .expect("days");
    assert_eq!(days.len(), 2);
}

#[tokio::test]
async fn accepted_calls_reach_the_chart_and_a_failed_flush_loses_nothing() {
    let history = Arc::new(FlakyHistory::default());
    let mut stores = Stores::new(Arc::new(dream_store::MemoryStore::new()));
    stores.history = history.clone();
    let dream = Dream::new(stores);
    let platform = dream.create_platform(None).await.expect("platform");
    let tenant = Tenant::new(platform.id, Mode::Test);
    let free = Tier {
        name: "free".into(),
        display_name: "Free".into(),
        price: Money::from_major(0.0, "usd").expect("price"),
        kind: TierKind::Recurring {
            interval: Interval::Month,
        },
        limit: UsageLimit::Limited(5),
        rate_limit_per_minute: None,
        features: vec![],
        flags: vec![],
        alerts: dream_core::DEFAULT_ALERTS.to_vec(),
        meters: Default::default(),
        grants: None,
        archived: false,
    };
    dream
        .configure_tiers(&tenant, vec![free])
        .await
        .expect("tiers");
    dream.track(&tenant, "a", None, 2).await.expect("track");
    dream.track(&tenant, "b", None, 3).await.expect("track");
    dream
        .track(&tenant, "a", None, 4)
        .await
        .expect_err("over the limit: refused, not counted");

    let today = |series: &[(NaiveDate, u64)]| series.last().map(|(_, n)| *n);
    let series = dream.daily_usage(&tenant, 30).await.expect("series");
    assert_eq!(series.len(), 30, "one entry per day");
    assert_eq!(today(&series), Some(5), "unflushed calls are in the chart");

    history.down.store(true, Ordering::SeqCst);
    dream
        .flush_usage_history()
        .await
        .expect_err("the store is down");
    assert_eq!(
        today(&dream.daily_usage(&tenant, 30).await.expect("series")),
        Some(5),
        "the failed batch is still pending"
    );

    history.down.store(false, Ordering::SeqCst);
    assert_eq!(dream.flush_usage_history().await.expect("flush"), 1);
    assert_eq!(dream.flush_usage_history().await.expect("nothing left"), 0);
    let stored = history
        .daily_usage(&tenant, "requests", NaiveDate::MIN, NaiveDate::MAX)
        .await
        .expect("stored");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1, 5, "written once, exactly");
    assert_eq!(
        today(&dream.daily_usage(&tenant, 30).await.expect("series")),
        Some(5),
        "not counted twice after the flush"
    );
}
