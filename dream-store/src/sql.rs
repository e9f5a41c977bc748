//! What the SQL backends share: error classification and value encodings.

use dream_core::{Mode, StoreError};

/// Classifies a sqlx error by kind, never by message text: unique violations
/// become `Conflict(what)`, connection trouble `Unavailable`, the rest `Backend`.
pub(crate) fn classify(err: sqlx::Error, what: &'static str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            StoreError::Conflict(what)
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(err)),
        _ => StoreError::Backend(Box::new(err)),
    }
}

/// For statements where a uniqueness conflict cannot happen.
pub(crate) fn backend(err: sqlx::Error) -> StoreError {
    classify(err, "unexpected uniqueness conflict")
}

pub(crate) fn mode_str(mode: Mode) -> &'static str {
    mode.as_str()
}

pub(crate) fn parse_mode(s: &str) -> Result<Mode, StoreError> {
    s.parse()
        .map_err(|()| corrupt(format!("unknown mode {s:?} in the database")))
}

/// A stored value that does not decode: the database was changed behind our back.
pub(crate) fn corrupt(message: String) -> StoreError {
    StoreError::Backend(message.into())
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(Box::new(e)))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(Box::new(e)))
}

pub(crate) fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Backend("counter exceeds i64".into()))
}

pub(crate) fn to_u64(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| corrupt(format!("negative counter {n} in the database")))
}

pub(crate) fn digest(bytes: &[u8]) -> Result<dream_core::KeyDigest, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(dream_core::KeyDigest)
        .map_err(|_| corrupt("a key digest is not 32 bytes".into()))
}
