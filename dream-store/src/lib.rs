//! # dream-store
//!
//! Store backends for `dream-core`, side by side, one cargo feature each. Every
//! backend implements all the traits of `dream_core::ports` and passes the one
//! conformance suite of the `dream-conformance` crate.
//!
//! - `memory` (default): everything in process memory; for tests, embedding and
//!   demos. Data is gone when the process ends.
//! - `sqlite`: [`SqliteStore`], one WAL file with a single writer; the embedded
//!   default of `dream serve`.
//! - `postgres`: [`PostgresStore`], for any number of server processes sharing one
//!   database; versioned migrations.
//! - `redis`: [`RedisUsageStore`], usage counters, credits and rate windows only: it
//!   replaces the `usage` port of another backend's [`Stores`](dream_core::ports::Stores).
//! - `cache`: [`cached`] ([`CachedKeys`], [`CachedCustomerKeys`], [`CachedTiers`],
//!   [`CachedCustomers`]), moka caches in front of the key, customer-key, tier and
//!   customer ports.
//! - [`observed`]: latency and a tracing span for every call to the hot-path ports.
//!
//! Backends compose by port: start from one backend's [`Stores`](dream_core::ports::Stores)
//! and replace the ports another backend or a decorator serves.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use dream_core::{ports::Stores, Dream};
//! use dream_store::{cached, MemoryStore};
//!
//! let mut stores = Stores::new(Arc::new(MemoryStore::new()));
//! // In production: a `RedisUsageStore` (feature `redis`) for the counters.
//! stores.usage = Arc::new(MemoryStore::new());
//! let dream = Dream::new(cached(stores, Duration::from_secs(1)));
//! ```
#![warn(missing_docs)]

#[cfg(feature = "cache")]
mod cache;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod group_commit;
#[cfg(feature = "memory")]
mod memory;
mod observed;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
mod test_requests;

#[cfg(feature = "redis")]
pub use self::redis::{RedisUsageError, RedisUsageStore, GRANT_ID_RETENTION, PERIOD_RETENTION};
#[cfg(feature = "cache")]
pub use cache::{
    cached, cached_with, cached_with_changes, customer_weight, Applied, CachedCustomerKeys,
    CachedCustomers, CachedKeys, CachedSubscriptions, CachedTiers, CustomerChanges,
    DEFAULT_CUSTOMER_CACHE_BYTES,
};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use group_commit::GroupCommitConfig;
#[cfg(feature = "memory")]
pub use memory::MemoryStore;
pub use observed::{observed, Observed, StoreObserver};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(all(feature = "postgres", feature = "cache"))]
pub use postgres::LISTENER_APPLICATION_NAME;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
