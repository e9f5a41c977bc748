//! The PostgreSQL backend against the store conformance suite and the model test,
//! each store in a fresh schema of the server `./scripts/test` starts.

mod support;

use std::sync::Arc;

use dream_core::ports::Store;
use dream_store::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

async fn fresh_store() -> Arc<dyn Store> {
    Arc::new(fresh_postgres().await)
}

async fn fresh_postgres() -> PostgresStore {
    let (store, _) = fresh_schema().await;
    store
}

/// A store in a fresh schema, and the options that connect to that schema.
async fn fresh_schema() -> (PostgresStore, PgConnectOptions) {
    fresh_schema_on(8).await
}

/// [`fresh_schema`] with a pool of `connections`.
async fn fresh_schema_on(connections: u32) -> (PostgresStore, PgConnectOptions) {
    let (options, _) = support::fresh_schema_options("t").await;
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with(options.clone())
        .await
        .expect("connect");
    let store = PostgresStore::new(pool);
    store.migrate().await.expect("migrate");
    assert_eq!(store.pending_migrations().await.expect("pending"), 0);
    (store, options)
}

/// Two stores on two pools of one schema (two server processes) consume for the
/// same customers at once: batches of both lock rows in one order, so neither
/// deadlocks nor miscounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_consume_exactly() {
    let (a, options) = fresh_schema().await;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .expect("second pool");
    let b = PostgresStore::new(pool);
    let a: Arc<dyn Store> = Arc::new(a);
    let b: Arc<dyn Store> = Arc::new(b);
    dream_conformance::consume_exact_across_two_stores(a.into(), b.into()).await;
}

/// Group commit off: every consume is one `dream_consume` call, which must pass
/// the usage behaviours alone too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_calls_without_group_commit() {
    let off = || async {
        let store: Arc<dyn Store> = Arc::new(
            fresh_postgres()
                .await
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

/// The hot path keeps connections out of the pool between statements; on a
/// pool of one or two it must still leave one for every other statement (a
/// starved statement would fail after the 5 s acquire timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_pool_is_never_starved_by_kept_connections() {
    for connections in [1, 2] {
        let stores = || async {
            let (store, _) = fresh_schema_on(connections).await;
            let store: Arc<dyn Store> = Arc::new(store);
            dream_core::ports::Stores::from(store)
        };
        dream_conformance::consume_exact_sequential(stores().await).await;
        dream_conformance::customers_cap_sequential(stores().await).await;
        dream_conformance::consume_receipts_replay(stores().await).await;
    }
}

dream_conformance::store_conformance_tests!(async fresh_store);

#[test]
fn model_property_test() {
    dream_conformance::run_model_property_test_async(fresh_store, 48);
}

/// One corrupt endpoint row, written behind the store's back on its own pool,
/// must not block the tenant's event appends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_endpoint_row_does_not_block_appends() {
    let store = fresh_postgres().await;
    let pool = store.pool().clone();
    let stores: Arc<dyn Store> = Arc::new(store);
    dream_conformance::outbound_fan_out_skips_corrupt_endpoints(
        stores.into(),
        |bad_filter, bad_rest| async move {
            sqlx::query("UPDATE webhook_endpoints SET event_types = 'no.such_kind' WHERE id = $1")
                .bind(bad_filter.as_str())
                .execute(&pool)
                .await
                .expect("corrupt the filter");
            sqlx::query(
                "UPDATE webhook_endpoints SET url = 'not a url', secret = '{garbage' WHERE id = $1",
            )
            .bind(bad_rest.as_str())
            .execute(&pool)
            .await
            .expect("corrupt the url and secret");
        },
    )
    .await;
}
