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
        meters: Default::default(),
        grants: None,
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

/// `usage.limit_reached` follows the same rule: the call that reaches the limit
/// announces it, its receipt replay (which answers `used == limit` again) does not,
/// and reaching a new plan's limit in the same period is a new fact.
#[tokio::test]
async fn a_receipt_replay_of_the_call_that_reached_the_limit_is_announced_once() {
    let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    let tenant = Tenant::new(
        dream.create_platform(None).await.expect("platform").id,
        Mode::Test,
    );
    let tier = |name: &str, limit: u64| Tier {
        name: name.into(),
        display_name: name.into(),
        price: Money::from_major(0.0, "usd").expect("price"),
        kind: TierKind::Recurring {
            interval: Interval::Month,
        },
        limit: UsageLimit::Limited(limit),
        rate_limit_per_minute: None,
        features: vec![],
        flags: vec![],
        alerts: vec![],
        meters: Default::default(),
        grants: None,
        archived: false,
    };
    dream
        .configure_tiers(&tenant, vec![tier("free", 3), tier("pro", 5)])
        .await
        .expect("tiers");
    dream.track(&tenant, "a", None, 2).await.expect("track");
    for _ in 0..3 {
        let outcome = dream
            .track_idempotent(&tenant, "a", None, 1, Some("the-last-one"))
            .await
            .expect("the call reaching the limit, then its replays");
        assert_eq!(outcome.used, 3);
    }
    let limit_events = |events: &[dream_core::Event]| -> Vec<serde_json::Value> {
        events
            .iter()
            .filter(|e| e.kind == EventKind::UsageLimitReached)
            .map(|e| e.data.clone())
            .collect()
    };
    let events = dream
        .list_events(&tenant, &PageRequest::first(100))
        .await
        .expect("events");
    let reached = limit_events(&events.data);
    assert_eq!(reached.len(), 1, "{reached:?}");
    assert_eq!(
        (reached[0]["plan"].clone(), reached[0]["limit"].clone()),
        ("free".into(), 3.into())
    );

    dream
        .update_customer(
            &tenant,
            "a",
            dream_core::CustomerPatch {
                plan: Some("pro".into()),
                ..dream_core::CustomerPatch::default()
            },
        )
        .await
        .expect("upgrade");
    dream
        .track(&tenant, "a", None, 2)
        .await
        .expect("track to the new limit");
    let events = dream
        .list_events(&tenant, &PageRequest::first(100))
        .await
        .expect("events");
    let reached = limit_events(&events.data);
    assert_eq!(
        reached.len(),
        2,
        "the new plan's limit is announced too: {reached:?}"
    );
}

/// Meters announce their own thresholds and limit, once per meter and period (a
/// new day is a new period); credits spent are announced once per receipt.
#[tokio::test]
async fn meters_alert_per_meter_and_period_and_credits_are_announced_once() {
    use dream_core::{ManualClock, MeterReset, MeterSpec};

    let clock = Arc::new(ManualClock::new(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 10, 12, 0, 0)
            .single()
            .expect("time"),
    ));
    let dream = Dream::with_clock(Arc::new(dream_store::MemoryStore::new()), clock.clone());
    let tenant = Tenant::new(
        dream.create_platform(None).await.expect("platform").id,
        Mode::Test,
    );
    let exports = MeterSpec {
        limit: UsageLimit::Limited(4),
        reset: MeterReset::Day,
        alerts: vec![50, 100],
    };
    let free = Tier {
        name: "free".into(),
        display_name: "Free".into(),
        price: Money::from_major(0.0, "usd").expect("price"),
        kind: TierKind::Recurring {
            interval: Interval::Month,
        },
        limit: UsageLimit::Limited(100),
        rate_limit_per_minute: None,
        features: vec![],
        flags: vec![],
        alerts: vec![50],
        meters: [("exports".to_owned(), exports)].into(),
        grants: None,
        archived: false,
    };
    dream
        .configure_tiers(&tenant, vec![free])
        .await
        .expect("tiers");
    for _ in 0..4 {
        dream
            .track_meter(&tenant, "a", None, "exports", 1, None)
            .await
            .expect("export");
    }
    // The next day starts the meter again: the thresholds are crossed anew.
    clock.advance(chrono::Duration::days(1));
    dream
        .track_meter(&tenant, "a", None, "exports", 2, None)
        .await
        .expect("export on day 2");
    dream
        .grant_credits(&tenant, "a", "exports", 10, "pack", Some("g1"))
        .await
        .expect("grant");
    let paid = dream
        .track_meter(&tenant, "a", None, "exports", 5, Some("r-1"))
        .await
        .expect("paid by credits");
    let replay = dream
        .track_meter(&tenant, "a", None, "exports", 5, Some("r-1"))
        .await
        .expect("replay");
    assert_eq!((paid.credits_spent, replay.credits_spent), (3, 3));

    let events = dream
        .list_events(&tenant, &PageRequest::first(100))
        .await
        .expect("events");
    let of = |kind: EventKind| -> Vec<&dream_core::Event> {
        events.data.iter().filter(|e| e.kind == kind).collect()
    };
    let mut crossed: Vec<(String, u64, u64)> = of(EventKind::UsageThresholdReached)
        .iter()
        .map(|e| {
            (
                e.data["meter"].as_str().unwrap_or_default().to_owned(),
                e.data["percent"].as_u64().unwrap_or_default(),
                e.data["used"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    crossed.sort();
    assert_eq!(
        crossed,
        vec![
            ("exports".into(), 50, 2),
            ("exports".into(), 50, 2),
            ("exports".into(), 100, 4),
            ("exports".into(), 100, 7),
        ],
        "each day's thresholds once, the requests meter untouched"
    );
    let limits = of(EventKind::UsageLimitReached);
    assert_eq!(limits.len(), 1, "day 1 reached 4 exactly: {limits:?}");
    assert_eq!(limits[0].data["meter"], "exports");
    let spent = of(EventKind::CreditsConsumed);
    assert_eq!(
        spent.len(),
        1,
        "the replay is not announced again: {spent:?}"
    );
    assert_eq!(spent[0].data["amount"], 3);
    assert_eq!(of(EventKind::CreditsGranted).len(), 1);
}
