//! What the SQL backends share: error classification and value encodings.

use dream_core::{EventFilter, Mode, StoreError, WebhookEndpointId};

/// Classifies a sqlx error by kind and code, never by message text: unique
/// violations become `Conflict(what)`, connection trouble and transient server
/// states `Unavailable` (503, retry), the rest `Backend`.
pub(crate) fn classify(err: sqlx::Error, what: &'static str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            StoreError::Conflict(what)
        }
        sqlx::Error::Database(db) if db.code().is_some_and(|c| is_transient(&c)) => {
            StoreError::Unavailable(Box::new(err))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(err)),
        _ => StoreError::Backend(Box::new(err)),
    }
}

/// Whether a database error code says "try again": the server is shutting down,
/// restarting, out of connections, or the connection broke (PostgreSQL SQLSTATE
/// classes 08, 53 and 57, and serialization failures and deadlocks), or the SQLite
/// database is busy or locked (primary result codes 5 and 6, in any extended form).
///
/// A PostgreSQL restart cuts statements with `57P01 admin_shutdown`: a request
/// caught in it must be a 503 its client retries, not a 500.
fn is_transient(code: &str) -> bool {
    if code.len() == 5 {
        // SQLSTATE: always five characters (SQLite's codes have at most four digits).
        return code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57")
            || code == "40001"
            || code == "40P01";
    }
    code.parse::<u32>()
        .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6))
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

/// The endpoint id and filter of a row read for an event's fan-out, or `None`
/// (logged) when either does not parse: that endpoint misses the event, and every
/// other one still gets it, rather than one bad row failing the append.
pub(crate) fn fan_out_target(
    id: &str,
    event_types: &str,
) -> Option<(WebhookEndpointId, EventFilter)> {
    let parsed = WebhookEndpointId::parse(id).zip(EventFilter::from_text(event_types));
    if parsed.is_none() {
        tracing::error!(endpoint = %id, event_types, "a webhook endpoint row does not parse; the fan-out skips it until it is repaired");
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::is_transient;

    #[test]
    fn transient_codes() {
        for code in [
            "57P01", "57P03", "08006", "08001", "53300", "40001", "40P01", "5", "6", "517", "773",
            "261",
        ] {
            assert!(is_transient(code), "{code} is transient");
        }
        for code in ["23505", "42P01", "22001", "1", "19", "2067", "XX000"] {
            assert!(!is_transient(code), "{code} is not transient");
        }
    }
}
