//! `dream backup PATH`: an online copy of the SQLite database, safe while a server
//! serves from the same file (see [`SqliteStore::backup_to`]).

use std::path::Path;

use dream_store::SqliteStore;

use crate::{store_err, AppError, Config, StoreKind};

/// Copies the SQLite database of `config` to `target` (which must not exist) and
/// returns the copy's size in bytes.
///
/// PostgreSQL has its own tools (`pg_dump`, base backups); Redis counters are
/// backed up by Redis persistence; the memory store has nothing to back up.
pub async fn backup(config: &Config, target: &Path) -> Result<u64, AppError> {
    if config.store_kind() != StoreKind::Sqlite {
        return Err(AppError::Config(
            "dream backup copies the SQLite database; for PostgreSQL use pg_dump".into(),
        ));
    }
    let source = config.data_dir.join("dream.sqlite3");
    // Opening would create an empty database: a typo in DREAM_DATA_DIR must not
    // produce a "successful" empty backup.
    if !source.is_file() {
        return Err(AppError::Config(format!(
            "no database at {}: set DREAM_DATA_DIR to the server's data directory",
            source.display()
        )));
    }
    if target.exists() {
        return Err(AppError::Config(format!(
            "{} already exists: a backup never overwrites a file",
            target.display()
        )));
    }
    let store = SqliteStore::open(&source)
        .await
        .map_err(store_err(format!("cannot open {}", source.display())))?;
    let copied = store
        .backup_to(target)
        .await
        .map_err(store_err(format!("cannot back up to {}", target.display())));
    store.close().await;
    copied?;
    std::fs::metadata(target)
        .map(|m| m.len())
        .map_err(|e| AppError::Config(format!("cannot read {}: {e}", target.display())))
}
