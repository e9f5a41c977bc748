//! The decorators over the memory store, composed as the server composes them
//! (observed ports inside the caches), pass the same suite: caching and observing
//! must never change what a store answers within one process.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use dream_core::ports::Stores;
use dream_store::{cached, observed, MemoryStore, StoreObserver};

/// Counts what it is told, so the suite also proves the observer sees calls.
#[derive(Default)]
struct Counting(AtomicU64);

impl StoreObserver for Counting {
    fn observe(&self, _port: &'static str, _method: &'static str, _elapsed: Duration, _ok: bool) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn fresh_store() -> Stores {
    let stores = observed(
        Stores::new(Arc::new(MemoryStore::new())),
        Arc::new(Counting::default()),
    );
    cached(stores, Duration::from_secs(60))
}

dream_conformance::store_conformance_tests!(fresh_store);

#[test]
fn model_property_test() {
    dream_conformance::run_model_property_test(fresh_store, 128);
}

#[tokio::test]
async fn the_observer_is_told_every_hot_path_call_once() {
    let counting = Arc::new(Counting::default());
    let stores = observed(Stores::new(Arc::new(MemoryStore::new())), counting.clone());
    let tenant =
        dream_core::Tenant::new(dream_core::PlatformId::generate(), dream_core::Mode::Test);
    let customer = dream_core::CustomerId::generate();
    let period = dream_core::Period::calendar_month(chrono::Utc::now());
    for _ in 0..3 {
        stores
            .usage
            .get_usage(&tenant, &customer, &period)
            .await
            .expect("get_usage");
    }
    assert_eq!(counting.0.load(Ordering::Relaxed), 3);
    // Ports off the hot path are not wrapped.
    stores
        .events
        .list_events(&tenant, &dream_core::PageRequest::first(1))
        .await
        .expect("events");
    assert_eq!(counting.0.load(Ordering::Relaxed), 3);
}

/// The hot path's reads share the cached record instead of copying it: two hits
/// are the same allocation, and they hold what the store holds.
#[tokio::test]
async fn cache_hits_hand_out_the_cached_record_itself() {
    let stores = fresh_store();
    let tenant =
        dream_core::Tenant::new(dream_core::PlatformId::generate(), dream_core::Mode::Test);
    let config = dream_core::TierConfig {
        tiers: vec![dream_core::Tier {
            name: "free".into(),
            display_name: "Free".into(),
            price: dream_core::Money {
                amount_minor: 0,
                currency: "usd".into(),
            },
            kind: dream_core::TierKind::Recurring {
                interval: dream_core::Interval::Month,
            },
            limit: dream_core::UsageLimit::Limited(100),
            rate_limit_per_minute: None,
            features: vec!["export".into()],
            flags: vec![],
            alerts: dream_core::DEFAULT_ALERTS.to_vec(),
            meters: Default::default(),
            grants: None,
            archived: false,
        }],
        ..dream_core::TierConfig::default()
    };
    stores
        .platforms
        .put_tier_config(&tenant, &config)
        .await
        .expect("put_tier_config");
    let first = stores.platforms.get_shared_tier_config(&tenant).await;
    let second = stores.platforms.get_shared_tier_config(&tenant).await;
    let (first, second) = (
        first.expect("read").expect("stored"),
        second.expect("read").expect("stored"),
    );
    assert_eq!(*first, config);
    assert!(Arc::ptr_eq(&first, &second), "a tier hit must not copy");

    let now = chrono::Utc::now();
    let customer = dream_core::Customer {
        id: dream_core::CustomerId::generate(),
        tenant: tenant.clone(),
        external_id: Some("ada".into()),
        email: None,
        first_name: None,
        last_name: None,
        plan: "free".into(),
        password_hash: None,
        metadata: Default::default(),
        created_at: now,
        updated_at: now,
    };
    stores
        .customers
        .insert_customer(&customer)
        .await
        .expect("insert_customer");
    let mut reads = Vec::new();
    for _ in 0..3 {
        let by_external = stores
            .customers
            .find_shared_customer_by_external_id(&tenant, "ada")
            .await
            .expect("read")
            .expect("stored");
        let by_id = stores
            .customers
            .get_shared_customer(&tenant, &customer.id)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(*by_external, customer);
        assert!(
            Arc::ptr_eq(&by_external, &by_id),
            "one record, by either key"
        );
        reads.push(by_external);
    }
    assert!(
        reads.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])),
        "a customer hit must not copy"
    );
}
