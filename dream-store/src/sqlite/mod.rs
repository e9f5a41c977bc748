//! The SQLite backend: the embedded default of `dream serve`. One file, WAL mode,
//! one writer connection (every write of the process queues on it, so there are
//! no `database is locked` errors) and a pool of read-only readers.
//!
//! Atomic decisions run inside `BEGIN IMMEDIATE` transactions on the writer, which
//! hold SQLite's write lock from the first statement: reading the counter and
//! writing it back there cannot interleave with another writer, in this process
//! or another one on the same file.

mod accounts;
mod audit;
mod billing;
mod customer_keys;
mod customers;
mod events;
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

use std::{path::Path, str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use dream_core::StoreError;
use sqlx::{
    migrate::Migrator,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

use crate::{
    group_commit::{GroupCommit, GroupCommitConfig},
    sql::corrupt,
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// A store in one SQLite file.
///
/// ```no_run
/// # async fn run() -> Result<(), dream_core::StoreError> {
/// let store = dream_store::SqliteStore::open("dream-data/dream.sqlite3").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    consumes: GroupCommit<usage::SqliteConsumer>,
}

fn unavailable(err: sqlx::Error) -> StoreError {
    StoreError::Unavailable(Box::new(err))
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies pending
    /// migrations.
    ///
    /// Durability: WAL with `synchronous = NORMAL`: a committed write survives a
    /// crash or `kill -9` of the process; a power loss may lose the last commits.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(unavailable)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        // No ping before each checkout (`test_before_acquire`): a SQLite connection
        // is a handle in this process that no server can drop, and the ping is a
        // hop to the connection's worker thread and back on every statement.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await
            .map_err(unavailable)?;
        // One batch in flight: there is one writer connection, so a second batch
        // could only wait for it.
        let consumes = GroupCommit::new(
            usage::SqliteConsumer {
                writer: writer.clone(),
            },
            GroupCommitConfig::default(),
            1,
            0,
        );
        Ok(Self {
            writer,
            reader,
            consumes,
        })
    }

    /// The same store with other group-commit settings
    /// ([`GroupCommitConfig::off`]: every consume its own transaction).
    pub fn with_group_commit(self, config: GroupCommitConfig) -> Self {
        Self {
            consumes: self.consumes.reconfigured(config),
            ..self
        }
    }

    /// Answers when the database file can be read (`SELECT 1` on a reader): the
    /// check behind `GET /ready`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Writes a consistent copy of the database to `path`, a file that must not
    /// exist yet, while the store (and other processes on the same file) keep
    /// reading and writing.
    ///
    /// `VACUUM INTO` runs in one read transaction on a reader connection: in WAL
    /// mode it sees one snapshot and blocks no writer, so the copy holds exactly
    /// the commits before it started. The copy is compacted and self-contained
    /// (no `-wal` file); restore it by stopping the server and putting it in
    /// place of the database file, with the old `-wal` and `-shm` files removed.
    pub async fn backup_to(&self, path: &Path) -> Result<(), StoreError> {
        if path.exists() {
            return Err(StoreError::Conflict(
                "the backup file already exists; a backup never overwrites a file",
            ));
        }
        let target = path.to_str().ok_or_else(|| {
            StoreError::Backend(Box::new(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the backup path is not valid UTF-8",
            )))
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&self.reader)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Backend(Box::new(e)))
    }

    /// Waits for in-flight statements and closes the file cleanly.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Microseconds since the epoch: exact, ordered, the precision every backend keeps.
pub(crate) fn ts(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn from_ts(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| corrupt(format!("bad timestamp {us}")))
}

pub(crate) fn from_opt_ts(us: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    us.map(from_ts).transpose()
}
