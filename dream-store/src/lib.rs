//! # dream-store
//!
//! Store backends for `dream-core`, side by side, one cargo feature each. Every
//! backend implements all the traits of `dream_core::ports` and passes the one
//! conformance suite in `dream_core::testing`.
//!
//! - `memory` (default): everything in process memory; for tests, embedding and
//!   demos. Data is gone when the process ends.
//! - `sqlite`: [`SqliteStore`], one WAL file with a single writer; the embedded
//!   default of `dream serve`.
//! - `postgres`: [`PostgresStore`], for any number of server processes sharing one
//!   database; versioned migrations.
//! - `redis`: [`RedisUsageStore`], usage counters and rate windows only, combined
//!   with another store through [`SplitStore`].
//! - `cache`: [`CachedStore`], moka caches in front of key and tier lookups.
//!
//! ```
//! use std::sync::Arc;
//! use dream_core::{ports::Store, Dream};
//! let store: Arc<dyn Store> = Arc::new(dream_store::MemoryStore::new());
//! let dream = Dream::new(store);
//! ```
#![warn(missing_docs)]

#[cfg(feature = "cache")]
mod cache;
#[cfg(feature = "memory")]
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
mod split;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "redis")]
pub use self::redis::{RedisUsageError, RedisUsageStore, PERIOD_RETENTION};
#[cfg(feature = "cache")]
pub use cache::CachedStore;
#[cfg(feature = "memory")]
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use split::SplitStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
