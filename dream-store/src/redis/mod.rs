//! Redis for usage counters, credit balances and rate windows: [`RedisUsageStore`].
//!
//! Only the usage port lives here; pair it with another store for everything else
//! as the `usage` port of another backend's [`Stores`](dream_core::ports::Stores).
//! `consume_usage` is one Lua script (`consume.lua`, sent as `EVALSHA` and loaded
//! on `NOSCRIPT`), so the decision
//! and all its writes happen inside Redis, atomically, in one round trip; so are
//! `grant_credits` (`grant.lua`) and `release_usage` (`release.lua`), and
//! `read_meters` is one `MULTI`/`EXEC`.
//!
//! # Keys
//!
//! With prefix `P` and a tenant `(plt_…, test)`; `{…}` is a Redis Cluster hash tag,
//! so all of a tenant's keys live in one slot and the script may touch them
//! together:
//!
//! | key | type | holds | expires |
//! | --- | --- | --- | --- |
//! | `P:usage:{plt_…:test}:<period start>` | hash | customer id → units counted in the period | [`PERIOD_RETENTION`] after the period's end |
//! | `P:meter:{plt_…:test}:<meter>:<period start>` | hash | customer id → units of a meter other than `requests` counted in the period | [`PERIOD_RETENTION`] after the period's end; never for a lifetime meter (reset `never`) |
//! | `P:total:{plt_…:test}:<period start>` | string | the tenant's `requests` units in the period | same as `P:usage` |
//! | `P:credits:{plt_…:test}:<customer id>` | hash | meter → the customer's prepaid credit balance | never |
//! | `P:grant:{plt_…:test}:<grant id>` | string | the balance the credit grant with this id produced | [`GRANT_ID_RETENTION`] (90 days) after the grant |
//! | `P:last:{plt_…:test}` | hash | customer id → last accepted call (RFC 3339) | [`PERIOD_RETENTION`] after the end of the latest period counted |
//! | `P:rate:{plt_…:test}:<customer id>` | string | GCRA theoretical arrival time, µs | 61 s after the last admitted call |
//! | `P:receipt:{plt_…:test}:<receipt>` | string | `<used> <unix s> <ns> <credits spent>` of the accepted consume (receipts written before credits lack the last field: 0) | [`RECEIPT_RETENTION_HOURS`](dream_core::RECEIPT_RETENTION_HOURS) + 1 h after it |
//!
//! The `requests` meter keeps the `P:usage` keys it had before meters existed, so
//! stored counts stay valid; `get_usage`, `active_customers` and `total_usage` read
//! only it, and a consume on another meter never adds to `P:total`.
//! `active_customers` is the usage hash's length, so it moves with the counters by
//! construction. Credits are read only when the allowance cannot hold a call, so a
//! call within its allowance runs the commands it ran before credits existed. The
//! period start is written as Unix seconds (with `.nnnnnnnnn` when it has a
//! fraction; a lifetime meter's period starts at `0`). The prefix should not contain `{` or `}`, or Redis
//! Cluster would hash on it instead of on the tenant.
//!
//! Expiries are relative TTLs computed from the time of the call as the caller's
//! clock sees it ([`ConsumeRequest::now`](dream_core::ConsumeRequest::now)), so a
//! deployment that counts usage for old periods (or a test with a manual clock)
//! still gets keys that live [`PERIOD_RETENTION`] from now at least. Counts older
//! than that are gone: keep invoices and reports elsewhere if they must outlive
//! it. Lifetime counters and credit balances never expire. A credit grant id is
//! remembered for [`GRANT_ID_RETENTION`]: a grant repeated within it adds nothing,
//! one repeated later adds again. Whether a receipt still replays, or a TAT still
//! throttles, is decided by the times stored in them against the caller's clock;
//! their TTLs only collect garbage, and assume that clock runs roughly with real
//! time.
//!
//! # Running Redis for usage
//!
//! Usage is billable, so configure the server like a database: `maxmemory-policy
//! noeviction` (most keys here have a TTL, so any `volatile-*` or `allkeys-*`
//! policy could evict live counters under memory pressure and undercount; the
//! `allkeys-*` ones could also evict lifetime counters and credit balances), and
//! AOF persistence (`appendonly yes`; `appendfsync everysec` loses at most about a
//! second of counts in a crash).
//!
//! # Ranges
//!
//! Lua computes in doubles. To stay exact the store keeps counters and period
//! totals at most 2^51 (about 2.25 × 10^15 units; a call that would pass it fails
//! with [`RedisUsageError::CounterOverflow`] and changes nothing), credit balances
//! at most [`MAX_CREDIT_BALANCE`](dream_core::MAX_CREDIT_BALANCE) (2^50), and
//! accepts times within ±2^52 µs of the epoch (1827 to 2112; [`RedisUsageError::OutOfRange`]
//! otherwise). Inside those ranges its answers are exactly
//! [`decide_usage`](dream_core::decide_usage) and [`gcra`](dream_core::gcra).

mod keys;
mod usage;

use std::{fmt, time::Duration};

use ::redis::{
    aio::{ConnectionManager, ConnectionManagerConfig},
    Client, ErrorKind, RedisError, ServerErrorKind,
};
use dream_core::StoreError;
use tokio::sync::OnceCell;

/// How long a period's counters outlive the period's end.
pub const PERIOD_RETENTION: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// How long a credit grant id is remembered after its grant (90 days): the key
/// holds the balance the grant produced, so a grant retried within this time
/// (a retried request, a redelivered webhook) adds nothing and answers that
/// balance; the same id sent later counts as a new grant.
pub const GRANT_ID_RETENTION: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// Usage counters, credit balances and GCRA rate windows in Redis: implements
/// [`UsageStore`](dream_core::ports::UsageStore) and nothing else.
///
/// Cheap to clone; clones share the connection. Every operation is one round trip;
/// `consume_usage`, `grant_credits` and `release_usage` are each one atomic Lua
/// script. Connection, I/O and timeout failures are [`StoreError::Unavailable`],
/// so usage fails closed.
///
/// ```no_run
/// use std::sync::Arc;
/// use dream_core::{ports::Stores, Dream};
/// use dream_store::{MemoryStore, RedisUsageStore};
///
/// # async fn run() -> Result<(), dream_core::StoreError> {
/// let counters = RedisUsageStore::connect("redis://127.0.0.1:6379", "dream").await?;
/// // The rest would be the SQL store in production.
/// let mut stores = Stores::new(Arc::new(MemoryStore::new()));
/// stores.usage = Arc::new(counters);
/// let dream = Dream::new(stores);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisUsageStore {
    conn: Connection,
    prefix: String,
}

#[derive(Clone)]
enum Connection {
    Ready(ConnectionManager),
    /// Connects on first use, on the runtime of that first use.
    Lazy(std::sync::Arc<LazyConnection>),
}

struct LazyConnection {
    client: Client,
    config: ConnectionManagerConfig,
    cell: OnceCell<ConnectionManager>,
}

impl RedisUsageStore {
    /// A store over an open connection, with every key under `prefix`.
    ///
    /// Build the manager with [`RedisUsageStore::connection_config`] (or your own
    /// timeouts): without a response timeout a stalled Redis would stall every
    /// tracked call instead of failing closed.
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            conn: Connection::Ready(conn),
            prefix: prefix.into(),
        }
    }

    /// Connects to `url` (`redis://…`, `rediss://…`) with
    /// [`RedisUsageStore::connection_config`]. Fails when Redis cannot be reached.
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, prefix, Duration::from_secs(1)).await
    }

    /// [`RedisUsageStore::connect`] with `timeout` for each connection attempt and
    /// each reply instead of one second.
    pub async fn connect_with_timeout(
        url: &str,
        prefix: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(store_error)?;
        let conn =
            ConnectionManager::new_with_config(client, Self::connection_config_with(timeout))
                .await
                .map_err(store_error)?;
        Ok(Self::new(conn, prefix))
    }

    /// Like [`RedisUsageStore::connect`], but connects on first use: needs no
    /// runtime to build and never fails for an unreachable server (its
    /// operations do, until Redis is back). The connection belongs to the tokio
    /// runtime of that first use, so use the store on one runtime only.
    pub fn connect_lazy(url: &str, prefix: impl Into<String>) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(store_error)?;
        Ok(Self {
            conn: Connection::Lazy(std::sync::Arc::new(LazyConnection {
                client,
                config: Self::connection_config(),
                cell: OnceCell::new(),
            })),
            prefix: prefix.into(),
        })
    }

    /// The connection settings of [`RedisUsageStore::connect`]: each connection
    /// attempt and each reply time out after one second, and a lost connection is
    /// retried twice, quickly, before the call fails. A tracked call therefore
    /// answers within a few seconds even when Redis is down.
    pub fn connection_config() -> ConnectionManagerConfig {
        Self::connection_config_with(Duration::from_secs(1))
    }

    /// [`RedisUsageStore::connection_config`] with `timeout` for each connection
    /// attempt and each reply.
    pub fn connection_config_with(timeout: Duration) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
    }

    /// Answers when Redis does (`PING`): the check behind `GET /ready`. Bounded by
    /// the connection's response timeout.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        ::redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn conn(&self) -> Result<ConnectionManager, StoreError> {
        match &self.conn {
            Connection::Ready(conn) => Ok(conn.clone()),
            Connection::Lazy(lazy) => lazy
                .cell
                .get_or_try_init(|| {
                    ConnectionManager::new_with_config(lazy.client.clone(), lazy.config.clone())
                })
                .await
                .cloned()
                .map_err(store_error),
        }
    }
}

impl fmt::Debug for RedisUsageStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisUsageStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Failures of the Redis usage store that are not Redis errors; the source of a
/// [`StoreError::Backend`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisUsageError {
    /// An input lies outside the range the store computes exactly (see the
    /// module docs).
    OutOfRange {
        /// Which input.
        what: &'static str,
    },
    /// Counting the call would take the customer's counter or the tenant's period
    /// total past the store's maximum; nothing was counted.
    CounterOverflow {
        /// The largest value a counter may hold.
        max: u64,
    },
    /// A key under the prefix holds a value this store did not write.
    CorruptValue {
        /// Which kind of key.
        what: &'static str,
    },
    /// A script (consume, grant, release) or a read answered something it never
    /// answers.
    UnexpectedReply,
}

impl fmt::Display for RedisUsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { what } => {
                write!(
                    f,
                    "{what} is outside the range the Redis usage store handles"
                )
            }
            Self::CounterOverflow { max } => write!(f, "a usage counter would pass {max}"),
            Self::CorruptValue { what } => write!(f, "a stored {what} is not a value dream wrote"),
            Self::UnexpectedReply => f.write_str("unexpected reply from a usage script or read"),
        }
    }
}

impl std::error::Error for RedisUsageError {}

impl From<RedisUsageError> for StoreError {
    fn from(err: RedisUsageError) -> Self {
        StoreError::Backend(Box::new(err))
    }
}

/// Classifies by error kind: whatever says "Redis cannot serve right now" is
/// `Unavailable` (retry later; usage fails closed), the rest is `Backend`.
fn store_error(err: RedisError) -> StoreError {
    match err.kind() {
        // Refused, reset, dropped, connection and response timeouts.
        ErrorKind::Io
        | ErrorKind::ClusterConnectionNotFound
        | ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            // A primary demoted by a failover, until clients follow the new one.
            | ServerErrorKind::ReadOnly,
        ) => StoreError::Unavailable(Box::new(err)),
        _ => StoreError::Backend(Box::new(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_unavailable_and_the_source_is_kept() {
        let err = store_error(RedisError::from(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        let StoreError::Unavailable(source) = err else {
            panic!("an I/O error must be Unavailable, got {err:?}");
        };
        assert!(source.downcast_ref::<RedisError>().is_some());
    }

    #[test]
    fn client_errors_are_backend() {
        let err = store_error(RedisError::from((ErrorKind::Client, "bad")));
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        let err = Client::open("http://nope").map_err(store_error);
        assert!(matches!(err, Err(StoreError::Backend(_))), "{err:?}");
    }
}
