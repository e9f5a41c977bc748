//! Connections kept checked out between hot-path statements.

use std::sync::{Mutex, PoisonError};

use sqlx::{pool::PoolConnection, PgPool, Postgres};

/// Connections the hot path's statements (consumes, customer lookups) keep
/// between them instead of handing them back to the pool. sqlx pings a
/// connection on its way back (a `Sync` round trip to the server after every
/// statement): a tenth of a track's CPU on each side.
///
/// Only a connection whose statement completed comes back here, so it is idle
/// and ready. One whose statement failed, or was dropped midway, goes back to
/// the pool instead, whose ping closes it if it is broken. A connection the
/// server dropped while kept here fails its next statement, which answers
/// "unavailable" as any outage does (the pool does not ping before a checkout
/// either, see `PostgresStore::connect`).
#[derive(Debug)]
pub(super) struct HeldConnections {
    pool: PgPool,
    idle: Mutex<Vec<PoolConnection<Postgres>>>,
    max: usize,
}

impl HeldConnections {
    /// Keeps up to `max` connections of `pool` between statements.
    pub(super) fn new(pool: PgPool, max: usize) -> Self {
        Self {
            pool,
            idle: Mutex::new(Vec::with_capacity(max)),
            max,
        }
    }

    /// A kept connection, else one from the pool.
    pub(super) async fn take(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        let kept = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match kept {
            Some(conn) => Ok(conn),
            None => self.pool.acquire().await,
        }
    }

    /// Keeps `conn` after a completed statement; beyond `max`, the pool gets it.
    pub(super) fn keep(&self, conn: PoolConnection<Postgres>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max {
            idle.push(conn);
        }
    }
}
