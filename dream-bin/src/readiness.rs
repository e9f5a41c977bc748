//! The readiness probes of the stores `build_stores` opens: each shares the
//! store's own pool or connection, so `/ready` asks exactly what requests use.

use std::sync::Arc;

use async_trait::async_trait;
use dream_http::ReadinessProbe;
use dream_store::{PostgresStore, RedisUsageStore, SqliteStore};

/// The probes of one server.
pub type Probes = Vec<Arc<dyn ReadinessProbe>>;

struct Sqlite(SqliteStore);
struct Postgres(PostgresStore);
struct Redis(RedisUsageStore);

/// The main database, when it is the SQLite file.
pub fn sqlite(store: &SqliteStore) -> Arc<dyn ReadinessProbe> {
    Arc::new(Sqlite(store.clone()))
}

/// The main database, when it is PostgreSQL.
pub fn postgres(store: &PostgresStore) -> Arc<dyn ReadinessProbe> {
    Arc::new(Postgres(store.clone()))
}

/// The usage counters in Redis.
pub fn redis(store: &RedisUsageStore) -> Arc<dyn ReadinessProbe> {
    Arc::new(Redis(store.clone()))
}

/// The error chain for the log; store errors carry no URL or password.
fn describe(err: dream_core::StoreError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl ReadinessProbe for Sqlite {
    fn name(&self) -> &'static str {
        "database"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(describe)
    }
}

#[async_trait]
impl ReadinessProbe for Postgres {
    fn name(&self) -> &'static str {
        "database"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(describe)
    }
}

#[async_trait]
impl ReadinessProbe for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(describe)
    }
}
