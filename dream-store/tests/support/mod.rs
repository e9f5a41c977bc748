//! Throwaway databases for backend tests: each store gets its own PostgreSQL
//! schema on the server `./scripts/test` starts.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

/// The test server's URL, or a failure that says how to get one.
pub fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run ./scripts/test, which starts throwaway PostgreSQL and Redis servers")
    })
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A unique, valid SQL identifier for this process.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh, empty schema on the test PostgreSQL server: options that connect to
/// it (as `search_path`), and its name.
pub async fn fresh_schema_options(prefix: &str) -> (sqlx::postgres::PgConnectOptions, String) {
    use std::str::FromStr;

    use sqlx::Executor;

    let url = env_url("DREAM_TEST_DATABASE_URL");
    let schema = unique_name(prefix);
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connect to the test server");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .expect("create schema");
    admin.close().await;
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .expect("url")
        .options([("search_path", schema.as_str())]);
    (options, schema)
}
