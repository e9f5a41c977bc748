//! The cache decorator over the memory store passes the same suite: caching must
//! never change what a store answers within one process.

use std::{sync::Arc, time::Duration};

use dream_core::ports::Stores;
use dream_store::{cached, MemoryStore};

fn fresh_store() -> Stores {
    cached(
        Stores::new(Arc::new(MemoryStore::new())),
        Duration::from_secs(60),
    )
}

dream_conformance::store_conformance_tests!(fresh_store);

#[test]
fn model_property_test() {
    dream_conformance::run_model_property_test(fresh_store, 128);
}
