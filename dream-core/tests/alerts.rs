//! `usage.threshold_reached` through the services: a consume replayed by its
//! receipt answers the same count, crosses the same threshold again, and must
//! not be announced twice.
use std::sync::Arc;

use dream_core::{
    Dream, EventKind, Interval, Mode, Money, PageRequest, Tenant, Tier, TierKind, UsageLimit,
};

#[tokio::test]
async fn a_receipt_replay_crosses_again_but_is_announced_once() {
    let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    let tenant = Tenant::new(
        dream.create_platform(None).await.expect("platform").id,
        Mode::Test,
    );
    let free = Tier {
        name: "free".into(),
        display_name: "Free".into(),
        price: Money::from_major(0.0, "usd").expect("price"),
        kind: TierKind::Recurring {
            interval: Interval::Month,
        },
        limit: UsageLimit::Limited(10),
        rate_limit_per_minute: None,
        features: vec![],
        flags: vec![],
        alerts: vec![50],
        archived: false,
    };
    dream
        .configure_tiers(&tenant, vec![free])
        .await
        .expect("tiers");
    dream.track(&tenant, "a", None, 4).await.expect("track");
    let first = dream
        .track_idempotent(&tenant, "a", None, 2, Some("receipt-1"))
        .await
        .expect("crossing call");
    let replay = dream
        .track_idempotent(&tenant, "a", None, 2, Some("receipt-1"))
        .await
        .expect("replay");
    assert_eq!(
        (first.used, replay.used),
        (6, 6),
        "the replay answers the same count"
    );
    dream.track(&tenant, "a", None, 1).await.expect("track");

    let events = dream
        .list_events(&tenant, &PageRequest::first(100))
        .await
        .expect("events");
    let alerts: Vec<_> = events
        .data
        .iter()
        .filter(|e| e.kind == EventKind::UsageThresholdReached)
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].data["percent"], 50);
    assert_eq!(alerts[0].data["used"], 6);
    assert_eq!(alerts[0].data["limit"], 10);
    assert_eq!(alerts[0].data["meter"], "requests");
}
