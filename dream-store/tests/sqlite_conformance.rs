//! The SQLite backend against the store conformance suite and the model test,
//! each store in a fresh database file.

mod support;

use std::sync::Arc;

use dream_core::ports::Store;
use dream_store::SqliteStore;

async fn fresh_store() -> Arc<dyn Store> {
    let dir = std::env::temp_dir().join("dream-sqlite-tests");
    let path = dir.join(format!("{}.sqlite3", support::unique_name("t")));
    Arc::new(SqliteStore::open(&path).await.expect("open sqlite"))
}

dream_conformance::store_conformance_tests!(async fresh_store);

#[test]
fn model_property_test() {
    dream_conformance::run_model_property_test_async(fresh_store, 64);
}
