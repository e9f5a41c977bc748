//! The customer cache fed by PostgreSQL `LISTEN/NOTIFY`: two pools on one schema
//! stand for two server processes; one changes customers, the other caches them
//! and follows the changes.

mod support;

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use dream_core::{
    ports::{CustomerStore, Stores},
    Customer, CustomerId, Mode, PlatformId, Tenant,
};
use dream_store::{
    cached_with_changes, observed, CustomerChanges, PostgresStore, StoreObserver,
    DEFAULT_CUSTOMER_CACHE_BYTES, LISTENER_APPLICATION_NAME,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// Options for a fresh, migrated schema, under a unique application name.
async fn fresh_schema() -> (PgConnectOptions, String) {
    let (options, schema) = support::fresh_schema_options("feed").await;
    let options = options.application_name(&schema);
    store_on(&options).await.migrate().await.expect("migrate");
    (options, schema)
}

/// Finds the listener connection of the process whose pool is named
/// `application`, through a connection of its own.
struct Listeners {
    admin: PgPool,
    name: String,
}

impl Listeners {
    async fn of(options: &PgConnectOptions, application: &str) -> Self {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().application_name("feed-admin"))
            .await
            .expect("admin");
        Self {
            admin,
            name: format!("{application} {LISTENER_APPLICATION_NAME}"),
        }
    }

    /// Every backend process under the listener's name: a stopped or dying old
    /// one is still listed beside its replacement.
    async fn pids(&self) -> Vec<i32> {
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1")
            .bind(&self.name)
            .fetch_all(&self.admin)
            .await
            .expect("query")
    }
}

/// A store on its own pool: one server process.
async fn store_on(options: &PgConnectOptions) -> PostgresStore {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.clone())
        .await
        .expect("connect");
    PostgresStore::new(pool)
}

/// Counts the store reads of customers behind the cache.
#[derive(Default)]
struct Reads(AtomicU64);

impl StoreObserver for Reads {
    fn observe(&self, _port: &'static str, method: &'static str, _elapsed: Duration, _ok: bool) {
        if method == "get_customer" || method == "find_customer_by_external_id" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Reads {
    fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A process whose customer cache (bound `ttl`) follows the database's changes.
async fn following_process(
    options: &PgConnectOptions,
    ttl: Duration,
) -> (Arc<dyn CustomerStore>, CustomerChanges, Arc<Reads>) {
    let store = store_on(options).await;
    let reads = Arc::new(Reads::default());
    let stores = observed(Stores::new(Arc::new(store.clone())), reads.clone());
    let (stores, changes) = cached_with_changes(stores, ttl, DEFAULT_CUSTOMER_CACHE_BYTES);
    store.follow_customer_changes(changes.clone());
    wait_for("the feed to go live", || changes.is_live()).await;
    (stores.customers, changes, reads)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn customer(external_id: &str) -> Customer {
    let now = Utc::now();
    Customer {
        id: CustomerId::generate(),
        tenant: Tenant::new(PlatformId::generate(), Mode::Test),
        external_id: Some(external_id.to_owned()),
        email: None,
        first_name: None,
        last_name: None,
        plan: "free".into(),
        password_hash: None,
        metadata: BTreeMap::new(),
        created_at: now,
        updated_at: now,
    }
}

async fn plan_seen(cache: &dyn CustomerStore, c: &Customer) -> Option<String> {
    cache
        .get_customer(&c.tenant, &c.id)
        .await
        .expect("read")
        .map(|found| found.plan)
}

/// With a bound of a minute, only the feed can make the other process see a
/// change or a deletion within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_elsewhere_reach_a_following_cache_long_before_its_bound() {
    let (options, _) = fresh_schema().await;
    let elsewhere = store_on(&options).await;
    let (cache, _changes, _) = following_process(&options, Duration::from_secs(60)).await;
    let c = customer("u");
    elsewhere.insert_customer(&c).await.expect("insert");
    assert_eq!(plan_seen(&*cache, &c).await.as_deref(), Some("free"));
    let by_external = cache
        .find_customer_by_external_id(&c.tenant, "u")
        .await
        .expect("read");
    assert_eq!(by_external.map(|found| found.plan).as_deref(), Some("free"));

    elsewhere
        .change_customer_plan(&c.tenant, &c.id, "pro", Utc::now(), &|_| Vec::new())
        .await
        .expect("change the plan");
    let changed = Instant::now();
    loop {
        match plan_seen(&*cache, &c).await.as_deref() {
            Some("pro") => break,
            Some("free") => assert!(
                changed.elapsed() < Duration::from_secs(5),
                "still the old plan {:?} after the change",
                changed.elapsed()
            ),
            other => panic!("unexpected {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let by_external = cache
        .find_customer_by_external_id(&c.tenant, "u")
        .await
        .expect("read");
    assert_eq!(by_external.map(|found| found.plan).as_deref(), Some("pro"));

    assert!(elsewhere
        .delete_customer(&c.tenant, &c.id)
        .await
        .expect("delete"));
    let deleted = Instant::now();
    while plan_seen(&*cache, &c).await.is_some() {
        assert!(
            deleted.elapsed() < Duration::from_secs(5),
            "a deleted customer is still served"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads of an unchanged customer for five bounds: one store read, where the
/// bound alone would make five or more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_feed_keeps_an_unchanged_customer_past_the_bound() {
    let (options, _) = fresh_schema().await;
    let ttl = Duration::from_millis(200);
    let (cache, changes, reads) = following_process(&options, ttl).await;
    let c = customer("u");
    cache.insert_customer(&c).await.expect("insert");
    let started = Instant::now();
    while started.elapsed() < ttl * 5 {
        assert_eq!(plan_seen(&*cache, &c).await.as_deref(), Some("free"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(changes.is_live());
    assert!(
        reads.count() <= 2,
        "{} store reads in five bounds",
        reads.count()
    );
}

/// A killed listener connection loses notifications: entries read before it
/// are reloaded after the bound, and the feed comes back on a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_distrusts_what_it_may_have_missed_and_recovers() {
    let (options, application) = fresh_schema().await;
    let ttl = Duration::from_millis(300);
    let (cache, changes, reads) = following_process(&options, ttl).await;
    let c = customer("u");
    cache.insert_customer(&c).await.expect("insert");
    assert_eq!(plan_seen(&*cache, &c).await.as_deref(), Some("free"));
    assert_eq!(reads.count(), 1);

    let listeners = Listeners::of(&options, &application).await;
    let old_pid = *listeners.pids().await.first().expect("a listener");
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(old_pid)
        .fetch_one(&listeners.admin)
        .await
        .expect("terminate");
    assert!(killed);

    tokio::time::sleep(ttl * 2).await;
    assert_eq!(plan_seen(&*cache, &c).await.as_deref(), Some("free"));
    assert_eq!(
        reads.count(),
        2,
        "the entry read before the loss is read again after the bound"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if listeners.pids().await.iter().any(|&pid| pid != old_pid) {
            break;
        }
        assert!(Instant::now() < deadline, "the listener never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for("the feed to go live again", || changes.is_live()).await;
    // Read once in the new epoch, then it holds past the bound again.
    tokio::time::sleep(ttl * 2).await;
    assert_eq!(plan_seen(&*cache, &c).await.as_deref(), Some("free"));
    let settled = reads.count();
    let started = Instant::now();
    while started.elapsed() < ttl * 4 {
        assert_eq!(plan_seen(&*cache, &c).await.as_deref(), Some("free"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reads.count(), settled, "no reload while the feed is live");
}

/// Resumes a stopped server process when dropped, even if the test fails, so
/// the test server can shut down.
struct Stopped(i32);

impl Stopped {
    fn stop(pid: i32) -> Self {
        signal("-STOP", pid);
        Self(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal("-CONT", self.0);
    }
}

fn signal(which: &str, pid: i32) {
    // The shell's own `kill`: a minimal Debian has no /bin/kill (procps).
    let status = std::process::Command::new("sh")
        .args(["-c", r#"kill "$1" "$2""#, "sh", which, &pid.to_string()])
        .status()
        .expect("run sh");
    assert!(
        status.success(),
        "kill {which} {pid}: the test needs to signal the test server's processes (run it as ./scripts/test does)"
    );
}

/// A listener connection that goes silent without closing (its backend
/// stopped, as on a failover that sent no reset): the feed stops being live,
/// presumes the connection dead after its silence limit and listens again on a
/// new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_listener_connection_is_replaced() {
    let (options, application) = fresh_schema().await;
    let (_cache, changes, _) = following_process(&options, Duration::from_secs(1)).await;
    let listeners = Listeners::of(&options, &application).await;
    let old_pid = *listeners.pids().await.first().expect("a listener");
    let stopped = Stopped::stop(old_pid);
    wait_for("the feed to notice the silence", || !changes.is_live()).await;
    wait_for("the feed to listen again", || changes.is_live()).await;
    // Asked while the old backend is still stopped (so still listed): the
    // replacement is a backend of its own beside it.
    let pids = listeners.pids().await;
    drop(stopped);
    assert!(
        pids.iter().any(|&pid| pid != old_pid),
        "listening on a new connection: {pids:?}, the old one {old_pid}"
    );
}
