//! The daily usage history through the services: accepted calls reach the
//! chart, refused ones do not, and a failed flush keeps its batch.
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use async_trait::async_trait;
use chrono::NaiveDate;

use dream_core::{
    ports::{Stores, UsageHistoryStore},
    DailyUsage, Dream, Interval, Mode, Money, StoreError, Tenant, Tier, TierKind, UsageLimit,
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

    async fn daily_usage(
        &self,
        tenant: &Tenant,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, u64)>, StoreError> {
        self.inner.daily_usage(tenant, from, to).await
    }
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
        .daily_usage(&tenant, NaiveDate::MIN, NaiveDate::MAX)
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
