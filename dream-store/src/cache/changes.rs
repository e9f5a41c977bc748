//! Pushed invalidation of the customer cache: how a feed of changes made by other
//! processes (PostgreSQL `LISTEN/NOTIFY`) lets a cached customer outlive the
//! cache bound without ever being staler than it.
//!
//! Without a feed, an entry is trusted for `ttl` from the moment its store read
//! began. With one, it is also trusted while the feed proves it current:
//!
//! - the feed forgets every customer another process changes, as the change is
//!   delivered;
//! - the feed regularly sends a *heartbeat* through the same channel and notes
//!   when it sent the last one it got back. Notifications arrive in commit order,
//!   so every change committed before that moment has been delivered, and
//!   forgotten, by then;
//! - a lost connection loses notifications, so every reconnection starts a new
//!   *epoch*, and only entries whose read began in the current epoch (after its
//!   `LISTEN`) are trusted through the feed.
//!
//! So an entry is current if its read began less than `ttl` ago, or if it was
//! read in the current epoch and the last heartbeat heard was sent less than
//! `ttl` ago. Either way, a change made elsewhere applies here within `ttl`;
//! when the feed is down or slow, entries simply fall back to the first rule.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Weak,
    },
    time::{Duration, Instant},
};

use dream_core::{CustomerId, Mode, PlatformId, Tenant};

use super::customers::CustomerCache;

/// When a cached entry was read, on the cache's own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadMark {
    /// Milliseconds since the cache was made.
    pub(crate) at_ms: u64,
    /// The feed epoch the read began in (0: no feed was connected).
    pub(crate) epoch: u64,
}

/// The clock and feed state every lookup consults; hits take no lock.
#[derive(Debug)]
pub(crate) struct Freshness {
    origin: Instant,
    ttl_ms: u64,
    /// 0 until a feed connects; bumped on every (re)connection.
    epoch: AtomicU64,
    /// When the last heartbeat heard in this process was sent, in milliseconds
    /// since `origin`, plus one (0: none yet).
    heard: AtomicU64,
}

impl Freshness {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            origin: Instant::now(),
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            epoch: AtomicU64::new(0),
            heard: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Where a store read starting now stands.
    pub(crate) fn mark(&self) -> ReadMark {
        ReadMark {
            epoch: self.epoch.load(Ordering::Acquire),
            at_ms: self.now_ms(),
        }
    }

    /// Whether an entry read at `read` may still be served.
    pub(crate) fn is_current(&self, read: ReadMark) -> bool {
        let now = self.now_ms();
        if now.saturating_sub(read.at_ms) < self.ttl_ms {
            return true;
        }
        read.epoch != 0
            && read.epoch == self.epoch.load(Ordering::Acquire)
            && self.heard_within_bound(now)
    }

    fn is_live(&self) -> bool {
        self.epoch.load(Ordering::Acquire) != 0 && self.heard_within_bound(self.now_ms())
    }

    /// Whether a heartbeat sent less than the bound before `now` came back.
    fn heard_within_bound(&self, now: u64) -> bool {
        let heard = self.heard.load(Ordering::Acquire);
        heard != 0 && now.saturating_sub(heard - 1) < self.ttl_ms
    }

    fn reconnected(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn heard(&self, sent_ms: u64) {
        self.heard
            .fetch_max(sent_ms.saturating_add(1), Ordering::AcqRel);
    }
}

/// The handle a change feed drives: it forgets customers other processes
/// changed and proves, by heartbeats, that nothing else was missed.
///
/// Made by [`cached_with_changes`](super::cached_with_changes); the PostgreSQL
/// store drives it with `PostgresStore::follow_customer_changes`. It holds the
/// cache weakly: once the cache is dropped, [`CustomerChanges::is_open`] turns
/// false and the feed should stop.
#[derive(Clone)]
pub struct CustomerChanges {
    cache: Weak<CustomerCache>,
    bound: Duration,
    /// Tells this process's heartbeats from other processes' on a shared channel.
    token: String,
}

impl std::fmt::Debug for CustomerChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerChanges")
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

/// What [`CustomerChanges::apply`] made of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A customer was forgotten.
    Forgot,
    /// This process's heartbeat came back.
    Heartbeat,
    /// Another process's heartbeat, or a payload this version does not know.
    Ignored,
    /// The cache is gone: the feed should stop.
    Closed,
}

impl CustomerChanges {
    pub(crate) fn new(cache: &Arc<CustomerCache>, bound: Duration) -> Self {
        Self {
            cache: Arc::downgrade(cache),
            bound,
            token: PlatformId::generate().as_str()["plt_".len()..].to_owned(),
        }
    }

    /// Whether the cache this feeds still exists.
    pub fn is_open(&self) -> bool {
        self.cache.strong_count() > 0
    }

    /// Whether the feed currently keeps entries alive past the bound: it is
    /// connected and one of its heartbeats came back within the bound.
    pub fn is_live(&self) -> bool {
        self.cache
            .upgrade()
            .is_some_and(|cache| cache.freshness().is_live())
    }

    /// How often the feed should send a heartbeat: a quarter of the cache bound
    /// (at most 250 ms, at least 10 ms), so that a healthy feed always has one
    /// heard within the bound.
    pub fn heartbeat_every(&self) -> Duration {
        (self.bound / 4).clamp(Duration::from_millis(10), Duration::from_millis(250))
    }

    /// The payload of a heartbeat sent now; pass it back to [`Self::apply`] when
    /// it is delivered. `None` once the cache is gone.
    pub fn heartbeat_payload(&self) -> Option<String> {
        let cache = self.cache.upgrade()?;
        Some(format!("h {} {}", self.token, cache.freshness().now_ms()))
    }

    /// The feed's connection listens again: notifications may have been lost
    /// since the last one, so entries read before now are no longer trusted
    /// through the feed. Call it after each `LISTEN`, the first included.
    pub fn reconnected(&self) -> bool {
        self.cache
            .upgrade()
            .map(|cache| cache.freshness().reconnected())
            .is_some()
    }

    /// Acts on one delivered notification payload.
    pub fn apply(&self, payload: &str) -> Applied {
        let Some(cache) = self.cache.upgrade() else {
            return Applied::Closed;
        };
        let mut words = payload.split(' ');
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("c"), Some(platform), Some(mode), Some(id)) => {
                match (
                    PlatformId::parse(platform),
                    mode.parse::<Mode>(),
                    CustomerId::parse(id),
                ) {
                    (Some(platform), Ok(mode), Some(id)) => {
                        cache.forget(&Tenant::new(platform, mode), &id);
                    }
                    // Not an id this version makes: forget every customer
                    // rather than keep one that changed.
                    _ => cache.forget_all(),
                }
                Applied::Forgot
            }
            (Some("h"), Some(token), Some(sent), None) if token == self.token => {
                match sent.parse() {
                    Ok(sent_ms) => {
                        cache.freshness().heard(sent_ms);
                        Applied::Heartbeat
                    }
                    Err(_) => Applied::Ignored,
                }
            }
            _ => Applied::Ignored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_millis(40);

    /// A mark of the current epoch whose read began more than the bound ago.
    fn aged(freshness: &Freshness) -> ReadMark {
        std::thread::sleep(TTL + Duration::from_millis(5));
        ReadMark {
            at_ms: 0,
            epoch: freshness.epoch.load(Ordering::Acquire),
        }
    }

    #[test]
    fn without_a_feed_an_entry_lives_for_the_bound_from_its_read() {
        let freshness = Freshness::new(TTL);
        let read = freshness.mark();
        assert!(freshness.is_current(read));
        std::thread::sleep(TTL + Duration::from_millis(5));
        assert!(!freshness.is_current(read));
    }

    #[test]
    fn a_recent_heartbeat_keeps_entries_of_its_epoch_current() {
        let freshness = Freshness::new(TTL);
        freshness.reconnected();
        let read = aged(&freshness);
        assert!(!freshness.is_current(read), "no heartbeat heard yet");
        freshness.heard(freshness.now_ms());
        assert!(freshness.is_current(read));
        std::thread::sleep(TTL + Duration::from_millis(5));
        assert!(
            !freshness.is_current(read),
            "a heartbeat older than the bound proves nothing"
        );
    }

    #[test]
    fn a_reconnection_distrusts_entries_read_before_it() {
        let freshness = Freshness::new(TTL);
        freshness.reconnected();
        let read = aged(&freshness);
        freshness.reconnected();
        freshness.heard(freshness.now_ms());
        assert!(!freshness.is_current(read));
        assert!(freshness.is_current(ReadMark {
            at_ms: 0,
            epoch: freshness.epoch.load(Ordering::Acquire),
        }));
    }

    #[test]
    fn entries_read_before_any_feed_are_never_trusted_through_it() {
        let freshness = Freshness::new(TTL);
        let read = aged(&freshness);
        freshness.heard(freshness.now_ms());
        assert!(!freshness.is_current(read));
    }
}
