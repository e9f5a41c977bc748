//! The PostgreSQL backend: for production, with any number of stateless server
//! processes sharing one database. Every atomic decision is one statement or one
//! server-side function (`dream_consume`), so limits are exact across processes.

mod accounts;
mod audit;
mod billing;
#[cfg(feature = "cache")]
mod customer_changes;
mod customer_keys;
mod customers;
mod events;
mod held;
mod idempotency;
mod identity;
mod inventory;
mod keys;
mod outbound;
mod platforms;
mod subscriptions;
mod tokens;
mod usage;
mod usage_history;

use std::{sync::Arc, time::Duration};

#[cfg(feature = "cache")]
pub use customer_changes::LISTENER_APPLICATION_NAME;

use dream_core::StoreError;
use sqlx::{
    migrate::Migrator,
    postgres::{PgPool, PgPoolOptions},
};

use crate::{
    group_commit::{GroupCommit, GroupCommitConfig},
    sql::backend,
};

/// The versioned migrations in `dream-store/migrations/postgres`, embedded.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// A store on a PostgreSQL pool.
///
/// ```no_run
/// # async fn run() -> Result<(), dream_core::StoreError> {
/// let store = dream_store::PostgresStore::connect("postgres://localhost/dream", 16).await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Connections the hot path keeps out of the pool (see [`held`]).
    held: Arc<held::HeldConnections>,
    consumes: GroupCommit<usage::PgConsumer>,
}

impl PostgresStore {
    /// A store on an existing pool, with group commit on
    /// ([`GroupCommitConfig::default`]). Call [`PostgresStore::migrate`] before
    /// use, or make sure the schema is current (`dream migrate`).
    pub fn new(pool: PgPool) -> Self {
        // An eighth of the pool for consume batches in flight (at least one, at
        // most four; two for the default 16), as many again when a queue has
        // waited the window: the rest of the pool stays free for the other
        // statements of a request. Few slots make big batches, and a batch's
        // transaction and commit cost the server the same for 1 call or 100:
        // with the server on the same core, 2 slots tracked 1,000 customers
        // about 30% faster than 4, and the hot customer as fast.
        let size = pool.options().get_max_connections() as usize;
        let slots = (size / 8).clamp(1, 4);
        // As many kept connections as batch slots (the batches in flight and the
        // customer lookups of the requests they answer), always leaving one in
        // the pool for every other statement.
        let held = Arc::new(held::HeldConnections::new(
            pool.clone(),
            slots.min(size.saturating_sub(1)),
        ));
        let consumes = GroupCommit::new(
            usage::PgConsumer {
                connections: held.clone(),
            },
            GroupCommitConfig::default(),
            slots,
            slots,
        );
        Self {
            pool,
            held,
            consumes,
        }
    }

    /// The same store with other group-commit settings
    /// ([`GroupCommitConfig::off`]: every consume its own `dream_consume` call).
    pub fn with_group_commit(self, config: GroupCommitConfig) -> Self {
        Self {
            consumes: self.consumes.reconfigured(config),
            ..self
        }
    }

    /// Connects a pool of at most `max_connections` to `url`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            // Short: while the database is down, calls must fail closed (503) quickly
            // rather than queue; clients retry.
            .acquire_timeout(Duration::from_secs(3))
            // No ping before each checkout: it was a round trip per statement on the
            // hot path (half of a track's). A connection the database dropped (a
            // restart) fails its next statement, which answers 503 like any outage,
            // and sqlx closes it on release instead of pooling it again.
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        Ok(Self::new(pool))
    }

    /// Applies pending migrations (idempotent; safe with concurrent callers, which
    /// serialize on an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))
    }

    /// Whether migrations are pending (for refusing to start without `dream migrate`).
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        .or_else(|e| match &e {
            // No migration table yet: nothing applied.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(vec![]),
            _ => Err(backend(e)),
        })?;
        Ok(MIGRATOR
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .count())
    }

    /// Answers when the database does (`SELECT 1` through the pool): the check
    /// behind `GET /ready`. A database that cannot be reached is
    /// [`StoreError::Unavailable`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(backend)
    }

    /// The pool, for callers that need the raw database (benchmarks, tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Makes the transaction's capped inserts of `what` for `tenant` take turns
/// (a transaction-scoped advisory lock), so a count taken after it includes every
/// such insert committed before: count-then-insert becomes one decision.
async fn lock_tenant(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    what: &str,
    tenant: &dream_core::Tenant,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2 || '/' || $3, 0))")
        .bind(what)
        .bind(tenant.platform.as_str())
        .bind(tenant.mode.as_str())
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}
