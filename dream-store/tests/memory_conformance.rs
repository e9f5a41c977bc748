//! The memory backend against the store conformance suite and the model test.

use std::sync::Arc;

use dream_core::ports::Store;
use dream_store::MemoryStore;

fn fresh_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

dream_conformance::store_conformance_tests!(fresh_store);

#[test]
fn model_property_test() {
    dream_conformance::run_model_property_test(fresh_store, 256);
}
