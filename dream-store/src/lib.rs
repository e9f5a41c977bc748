//! # dream-store
//!
//! Store backends for `dream-core`, side by side, one cargo feature each. Every
//! backend implements all the traits of `dream_core::ports` and passes the one
//! conformance suite in `dream_core::testing`.
//!
//! - `memory` (default): everything in process memory; for tests, embedding and
//!   demos. Data is gone when the process ends.
//!
//! ```
//! use std::sync::Arc;
//! use dream_core::{ports::Store, Dream};
//! let store: Arc<dyn Store> = Arc::new(dream_store::MemoryStore::new());
//! let dream = Dream::new(store);
//! ```
#![warn(missing_docs)]

#[cfg(feature = "memory")]
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

#[cfg(feature = "memory")]
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
