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

/// Two stores on one file (two processes) consume for the same customers at once:
/// each batch holds SQLite's write lock, so the totals are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_consume_exactly() {
    let dir = std::env::temp_dir().join("dream-sqlite-tests");
    let path = dir.join(format!("{}.sqlite3", support::unique_name("two")));
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("open sqlite"));
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("open sqlite again"));
    dream_conformance::consume_exact_across_two_stores(a.into(), b.into()).await;
}

/// Group commit off: every consume its own transaction, which must pass the usage
/// behaviours alone too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_calls_without_group_commit() {
    let off = || async {
        let dir = std::env::temp_dir().join("dream-sqlite-tests");
        let path = dir.join(format!("{}.sqlite3", support::unique_name("off")));
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&path)
                .await
                .expect("open sqlite")
                .with_group_commit(dream_store::GroupCommitConfig::off()),
        );
        dream_core::ports::Stores::from(store)
    };
    dream_conformance::consume_exact_sequential(off().await).await;
    dream_conformance::rate_limit_gcra(off().await).await;
    dream_conformance::refused_requests_consume_nothing(off().await).await;
    dream_conformance::consume_receipts_replay(off().await).await;
    dream_conformance::consume_batch_window_hot_customer(off().await).await;
    dream_conformance::consume_batch_mixes_receipts_and_rates(off().await).await;
    dream_conformance::meters_are_separate_counters(off().await).await;
    dream_conformance::meters_release_never_below_zero(off().await).await;
    dream_conformance::credits_after_allowance_all_or_nothing(off().await).await;
    dream_conformance::meters_daily_limit_exact_under_concurrency(off().await).await;
    dream_conformance::credits_exact_under_concurrency(off().await).await;
    dream_conformance::credits_and_meters_in_concurrent_batches(off().await).await;
}

/// One corrupt endpoint row, written behind the store's back with a second
/// connection to the same file, must not block the tenant's event appends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_endpoint_row_does_not_block_appends() {
    use std::str::FromStr;

    use sqlx::{sqlite::SqliteConnectOptions, Connection, SqliteConnection};

    let dir = std::env::temp_dir().join("dream-sqlite-tests");
    let path = dir.join(format!("{}.sqlite3", support::unique_name("corrupt")));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("open sqlite"));
    let options = SqliteConnectOptions::from_str("sqlite://")
        .expect("options")
        .filename(&path)
        .busy_timeout(std::time::Duration::from_secs(10));
    dream_conformance::outbound_fan_out_skips_corrupt_endpoints(
        store.into(),
        |bad_filter, bad_rest| async move {
            let mut conn = SqliteConnection::connect_with(&options)
                .await
                .expect("second connection");
            sqlx::query("UPDATE webhook_endpoints SET event_types = 'no.such_kind' WHERE id = ?1")
                .bind(bad_filter.as_str())
                .execute(&mut conn)
                .await
                .expect("corrupt the filter");
            sqlx::query(
                "UPDATE webhook_endpoints SET url = 'not a url', secret = '{garbage' WHERE id = ?1",
            )
            .bind(bad_rest.as_str())
            .execute(&mut conn)
            .await
            .expect("corrupt the url and secret");
        },
    )
    .await;
}
