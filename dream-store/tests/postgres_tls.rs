//! PostgreSQL over TLS: `sslmode=require`, and `verify-full` against a private CA
//! named by `sslrootcert`, on the TLS-only server `./scripts/test` starts
//! (`DREAM_TEST_DATABASE_TLS_URL`, `DREAM_TEST_TLS_CA`). The server refuses
//! unencrypted connections, and each test also asks it whether its own session
//! is encrypted.

mod support;

use std::{str::FromStr, sync::Arc};

use dream_store::PostgresStore;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    Executor,
};

/// The TLS server's URL with `sslmode` (and `extra` parameters) replaced.
fn tls_url(sslmode: &str, extra: &str) -> String {
    let url = support::env_url("DREAM_TEST_DATABASE_TLS_URL");
    let (base, _) = url.split_once('?').unwrap_or((&url, ""));
    format!("{base}?sslmode={sslmode}{extra}")
}

fn ca_file() -> String {
    support::env_url("DREAM_TEST_TLS_CA")
}

/// A migrated store in a fresh schema, connected through `url` exactly as
/// `dream serve` connects (`PostgresStore::connect` parses the URL's TLS options).
async fn store_over(url: &str) -> PostgresStore {
    let schema = support::unique_name("tls");
    let admin = PostgresStore::connect(url, 1)
        .await
        .unwrap_or_else(|e| panic!("connect over TLS: {e:?}"));
    admin
        .pool()
        .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .expect("create schema");
    admin.pool().close().await;
    let options = PgConnectOptions::from_str(url)
        .expect("url")
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .expect("connect");
    let store = PostgresStore::new(pool);
    store.migrate().await.expect("migrate over TLS");
    store
}

async fn assert_encrypted(store: &PostgresStore) {
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .expect("pg_stat_ssl");
    assert!(ssl, "the server says this session is not encrypted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_and_the_store_works() {
    let store = store_over(&tls_url("require", "")).await;
    assert_encrypted(&store).await;
    store.ping().await.expect("ping over TLS");
    dream_conformance::consume_exact_sequential(Arc::new(store.clone()).into()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_verify_full_checks_the_certificate_against_sslrootcert() {
    let url = tls_url("verify-full", &format!("&sslrootcert={}", ca_file()));
    let store = store_over(&url).await;
    assert_encrypted(&store).await;
    dream_conformance::consume_exact_sequential(Arc::new(store.clone()).into()).await;

    // Without our CA the certificate chains to no trusted root: refused.
    let untrusted = PostgresStore::connect(&tls_url("verify-full", ""), 1).await;
    assert!(
        untrusted.is_err(),
        "verify-full accepted a certificate of an unknown CA"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_server_refuses_unencrypted_connections() {
    let plain = PostgresStore::connect(&tls_url("disable", ""), 1).await;
    assert!(
        plain.is_err(),
        "the TLS test server must accept only TLS, or the tests above prove nothing"
    );
}
