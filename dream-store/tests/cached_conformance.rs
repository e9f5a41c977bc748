//! The cache decorator over the memory store passes the same suite: caching must
//! never change what a store answers within one process.

use std::{sync::Arc, time::Duration};

use dream_core::ports::Store;
use dream_store::{CachedStore, MemoryStore};

fn fresh_store() -> Arc<dyn Store> {
    Arc::new(CachedStore::new(
        Arc::new(MemoryStore::new()),
        Duration::from_secs(60),
    ))
}

dream_core::store_conformance_tests!(fresh_store);

#[test]
fn model_property_test() {
    dream_core::testing::run_model_property_test(fresh_store, 128);
}
