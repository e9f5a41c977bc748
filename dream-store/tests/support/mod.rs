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
