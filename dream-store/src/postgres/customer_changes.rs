//! The feed of customer changes for the customer cache: migration 0025's
//! trigger announces every update and deletion of a customer row on
//! [`CHANNEL`], and this process listens, so a cached customer is reloaded when
//! it changed rather than every cache bound. The rules that keep it exact,
//! heartbeats and epochs, are in `cache/changes.rs`.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::task::JoinHandle;

use super::PostgresStore;
use crate::cache::{Applied, CustomerChanges};

/// The channel customer changes and heartbeats travel on.
pub(crate) const CHANNEL: &str = "dream_customers";

/// The pause before the listener connects again after losing its connection.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// How long the listener waits for anything before it presumes its connection
/// dead: twenty heartbeats at their longest interval (250 ms).
const SILENCE_LIMIT: Duration = Duration::from_secs(5);

/// How long a heartbeat may take before the next one is sent instead.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the listener's connection shows as `application_name` in
/// `pg_stat_activity`, after the pool's own application name if it has one.
pub const LISTENER_APPLICATION_NAME: &str = "dream-customer-changes";

impl PostgresStore {
    /// Feeds `changes` (from [`cached_with_changes`](crate::cached_with_changes))
    /// with the customer changes every process commits to this database, so
    /// that a cached customer is kept until it changes instead of reloaded every
    /// cache bound. Spawns two tokio tasks and returns: a listener on its own
    /// connection (outside the pool, [`LISTENER_APPLICATION_NAME`]), and a
    /// heartbeat through the pool a few times per bound. Both stop once the
    /// cache behind `changes` is dropped. A lost connection is logged and
    /// retried every second; meanwhile the cache expires entries after its
    /// bound, as without a feed.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), dream_core::StoreError> {
    /// use std::{sync::Arc, time::Duration};
    /// use dream_core::ports::Stores;
    /// use dream_store::{cached_with_changes, PostgresStore, DEFAULT_CUSTOMER_CACHE_BYTES};
    ///
    /// let store = PostgresStore::connect("postgres://localhost/dream", 16).await?;
    /// let (stores, changes) = cached_with_changes(
    ///     Stores::new(Arc::new(store.clone())),
    ///     Duration::from_secs(1),
    ///     DEFAULT_CUSTOMER_CACHE_BYTES,
    /// );
    /// store.follow_customer_changes(changes);
    /// # Ok(()) }
    /// ```
    pub fn follow_customer_changes(&self, changes: CustomerChanges) {
        let options = (*self.pool.connect_options()).clone();
        let name = match options.get_application_name() {
            Some(pool_name) => format!("{pool_name} {LISTENER_APPLICATION_NAME}"),
            None => LISTENER_APPLICATION_NAME.to_owned(),
        };
        let options = options.application_name(&name);
        let listener = tokio::spawn(listen(options, changes.clone()));
        tokio::spawn(send_heartbeats(self.pool.clone(), changes, listener));
    }
}

/// Listens until the cache is gone, connecting again after every loss.
async fn listen(options: PgConnectOptions, changes: CustomerChanges) {
    let mut was_listening = false;
    while changes.is_open() {
        match follow(&options, &changes, &mut was_listening).await {
            Ok(()) => return,
            Err(error) if was_listening => {
                tracing::warn!(
                    error = %error,
                    "the customer change feed lost its connection; cached customers expire after the cache bound until it is back"
                );
                was_listening = false;
            }
            Err(error) => {
                tracing::debug!(error = %error, "the customer change feed cannot connect")
            }
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

/// One connection's worth of listening: `Ok` once the cache is gone.
async fn follow(
    options: &PgConnectOptions,
    changes: &CustomerChanges,
    was_listening: &mut bool,
) -> Result<(), sqlx::Error> {
    // A pool of one, so that sqlx can reconnect the listener itself.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    changes.reconnected();
    if !*was_listening {
        tracing::info!("following customer changes on PostgreSQL");
        *was_listening = true;
    }
    // This process's own heartbeats arrive a few times a second, so a long
    // silence means a connection that died without a word (a failover, a
    // dropped route): reconnect rather than wait for TCP to notice, hours later.
    loop {
        let received = tokio::time::timeout(SILENCE_LIMIT, listener.try_recv())
            .await
            .map_err(|_| {
                sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("nothing received for {SILENCE_LIMIT:?}, not even this process's heartbeats"),
                ))
            })?;
        match received? {
            Some(notification) => {
                if changes.apply(notification.payload()) == Applied::Closed {
                    return Ok(());
                }
            }
            // The connection dropped and sqlx listens again on a new one: what
            // was announced in between is lost.
            None => {
                tracing::info!("the customer change feed reconnected");
                changes.reconnected();
            }
        }
    }
}

/// Sends a heartbeat every [`CustomerChanges::heartbeat_every`] until the cache
/// is gone, then stops the listener too.
async fn send_heartbeats(pool: PgPool, changes: CustomerChanges, listener: JoinHandle<()>) {
    let mut tick = tokio::time::interval(changes.heartbeat_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(payload) = changes.heartbeat_payload() else {
            listener.abort();
            return;
        };
        // A lost heartbeat only lets cached customers expire after the bound;
        // one stuck on a dead connection must not hold up the next.
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&pool);
        match tokio::time::timeout(HEARTBEAT_TIMEOUT, sent).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::debug!(error = %error, "a customer-feed heartbeat failed"),
            Err(_) => tracing::debug!("a customer-feed heartbeat timed out"),
        }
    }
}
