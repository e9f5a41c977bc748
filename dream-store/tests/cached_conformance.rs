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
