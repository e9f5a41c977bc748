//! The fault-injection battery: real `dream serve` processes while their
//! database or counter store is cut away (PostgreSQL restarted, Redis killed with
//! SIGKILL) or while the servers themselves are killed with SIGKILL. Clients
//! behave as documented (every track carries an `Idempotency-Key` and is retried
//! with it until answered), and whatever happens nothing acknowledged is lost
//! and nothing is counted twice: the final usage equals the number of accepted
//! calls, exactly, and never exceeds the limit.
//!
//! Lengths are short for CI; `FAULT_SOAK_SECS=60` runs the kill -9 soak for its
//! full minute. Every loop is bounded in count and time, and all traffic stays on
//! loopback.

use std::{
    collections::BTreeMap,
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde_json::Value;

use crate::{
    private_servers::{PrivatePostgres, PrivateRedis},
    processes::{bootstrap, call, temp_dir, usage, Server},
};

/// What one logical call (one idempotency key) ended with, and how long its
/// slowest attempt waited for an answer.
struct Outcome {
    status: u16,
    slowest: Duration,
    attempts: u32,
    answered_at: Instant,
}

/// Sends `key`'s track to `servers[start..]` in turn until it gets a final answer
/// (200 or 429); 503, 409 (the first attempt still holds the key) and dropped
/// connections are retried after a pause, for at most `budget`.
async fn track_until_answered(
    http: &reqwest::Client,
    servers: &[String],
    start: usize,
    sk: &str,
    user: &str,
    key: &str,
    budget: Duration,
) -> Outcome {
    let deadline = Instant::now() + budget;
    let mut slowest = Duration::ZERO;
    let mut attempts = 0;
    loop {
        let base = &servers[(start + attempts as usize) % servers.len()];
        attempts += 1;
        let sent = Instant::now();
        let (status, body) = call(
            http,
            reqwest::Method::POST,
            format!("{base}/api/data"),
            sk,
            &[("X-User-Id", user), ("Idempotency-Key", key)],
            None,
        )
        .await;
        slowest = slowest.max(sent.elapsed());
        match status {
            200 | 429 => {
                return Outcome {
                    status,
                    slowest,
                    attempts,
                    answered_at: Instant::now(),
                }
            }
            503 => assert_eq!(
                body["code"], "store_unavailable",
                "a 503 during a store outage says so: {body}"
            ),
            0 | 409 => {}
            other => panic!("call {key}: unexpected {other}: {body}"),
        }
        assert!(
            Instant::now() < deadline,
            "call {key} still unanswered after {budget:?} ({attempts} attempts)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `calls` tracks for one customer from `workers` concurrent clients over
/// `servers`, while `fault` runs beside them; returns each call's outcome.
async fn load_with_fault<F>(
    servers: &[String],
    sk: &str,
    calls: usize,
    workers: usize,
    fault: F,
) -> Vec<Outcome>
where
    F: std::future::Future<Output = ()>,
{
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = (0..workers).map(|w| {
        let (http, next) = (http.clone(), next.clone());
        async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= calls {
                    return done;
                }
                let key = format!("fault-{i}");
                let outcome = track_until_answered(
                    &http,
                    servers,
                    w,
                    sk,
                    "fault-user",
                    &key,
                    Duration::from_secs(60),
                )
                .await;
                done.push(outcome);
                // A steady stream rather than a burst, so the fault lands mid-run.
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }
    });
    let (outcomes, ()) = tokio::join!(join_all(workers), fault);
    outcomes.into_iter().flatten().collect()
}

fn summary(outcomes: &[Outcome]) -> BTreeMap<u16, usize> {
    let mut by_status = BTreeMap::new();
    for o in outcomes {
        *by_status.entry(o.status).or_default() += 1;
    }
    by_status
}

async fn final_usage(servers: &[String], sk: &str) -> u64 {
    let http = reqwest::Client::new();
    let (status, body): (u16, Value) = call(
        &http,
        reqwest::Method::GET,
        format!("{}/api/usage", servers[0]),
        sk,
        &[("X-User-Id", "fault-user")],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["usageCount"].as_u64().expect("usageCount")
}

/// The promises of the battery, for one run against `limit`.
fn assert_exact(outcomes: &[Outcome], counted: u64, limit: u64, calls: usize) {
    let by_status = summary(outcomes);
    let retried = outcomes.iter().filter(|o| o.attempts > 1).count();
    let slowest = outcomes.iter().map(|o| o.slowest).max().unwrap_or_default();
    eprintln!(
        "{calls} calls: {by_status:?}, {retried} needed retries, slowest attempt {slowest:?}, {counted} counted"
    );
    let accepted = by_status.get(&200).copied().unwrap_or(0) as u64;
    let refused = by_status.get(&429).copied().unwrap_or(0) as u64;
    assert_eq!(outcomes.len(), calls, "every call answered");
    assert_eq!(
        counted, accepted,
        "usage read afterwards equals the calls accepted ({by_status:?})"
    );
    assert!(
        counted <= limit,
        "never over the limit: {counted} > {limit}"
    );
    assert_eq!(accepted, limit.min(calls as u64), "{by_status:?}");
    assert_eq!(accepted + refused, calls as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load_loses_nothing_and_recovers_within_5s() {
    const CALLS: usize = 400;
    const LIMIT: u64 = 300;
    let pg = Arc::new(PrivatePostgres::start());
    let env = [
        ("DATABASE_URL", pg.url()),
        ("DREAM_DATABASE_MAX_CONNECTIONS", "4".to_owned()),
        ("DREAM_IDEMPOTENCY_LOCK_SECS", "2".to_owned()),
    ];
    // The first process migrates; the others then find the schema current.
    let mut processes = vec![Server::start(&env).await];
    for _ in 1..4 {
        processes.push(Server::start(&env).await);
    }
    let servers: Vec<String> = processes.iter().map(|s| s.base.clone()).collect();
    let sk = bootstrap(&reqwest::Client::new(), &processes[0], LIMIT).await;

    let back_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let outage = {
        let (pg, back_at) = (pg.clone(), back_at.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            tokio::task::spawn_blocking(move || {
                pg.stop();
                std::thread::sleep(Duration::from_secs(2));
                pg.resume();
                *back_at.lock().expect("lock") = Some(Instant::now());
            })
            .await
            .expect("restart postgres");
        }
    };
    let outcomes = load_with_fault(&servers, &sk, CALLS, 8, outage).await;

    let slowest = outcomes.iter().map(|o| o.slowest).max().unwrap_or_default();
    assert!(
        slowest <= Duration::from_secs(5),
        "an attempt waited {slowest:?}: during the outage answers must come quickly"
    );
    assert!(
        outcomes.iter().any(|o| o.attempts > 1),
        "the restart should have interrupted some calls"
    );
    // Service is back within 5 s of the database: the first call answered after
    // the restart came soon after it (clients retry every 100 ms).
    let back = back_at.lock().expect("lock").expect("postgres restarted");
    let first_after = outcomes
        .iter()
        .map(|o| o.answered_at)
        .filter(|at| *at >= back)
        .min()
        .expect("calls were answered after the restart");
    assert!(
        first_after.duration_since(back) < Duration::from_secs(5),
        "back only {:?} after the database",
        first_after.duration_since(back)
    );
    assert_exact(&outcomes, final_usage(&servers, &sk).await, LIMIT, CALLS);
}

/// A fresh database on the shared test server.
fn fresh_database() -> String {
    let url = std::env::var("DREAM_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("DREAM_TEST_DATABASE_URL is not set: run ./scripts/test, which starts it")
    });
    let name = format!("dream_fault_{}", crate::private_servers::free_port());
    let status = Command::new("psql")
        .args([&url, "-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql runs");
    assert!(status.success(), "CREATE DATABASE failed");
    let (server, _) = url.rsplit_once('/').expect("url has a database");
    format!("{server}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_under_load_loses_nothing_and_recovers() {
    const CALLS: usize = 400;
    const LIMIT: u64 = 300;
    let redis = Arc::new(std::sync::Mutex::new(PrivateRedis::start_durable()));
    let redis_url = redis.lock().expect("lock").url();
    let env = [
        ("DATABASE_URL", fresh_database()),
        ("REDIS_URL", redis_url),
        ("DREAM_IDEMPOTENCY_LOCK_SECS", "2".to_owned()),
    ];
    let mut processes = vec![Server::start(&env).await];
    for _ in 1..4 {
        processes.push(Server::start(&env).await);
    }
    let servers: Vec<String> = processes.iter().map(|s| s.base.clone()).collect();
    let sk = bootstrap(&reqwest::Client::new(), &processes[0], LIMIT).await;

    let outage = {
        let redis = redis.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            tokio::task::spawn_blocking(move || {
                let mut redis = redis.lock().expect("lock");
                redis.stop(); // SIGKILL: what was fsynced to the AOF is all there is
                std::thread::sleep(Duration::from_secs(2));
                redis.resume();
            })
            .await
            .expect("restart redis");
        }
    };
    let outcomes = load_with_fault(&servers, &sk, CALLS, 8, outage).await;
    let slowest = outcomes.iter().map(|o| o.slowest).max().unwrap_or_default();
    assert!(
        slowest <= Duration::from_secs(5),
        "an attempt waited {slowest:?}: usage must fail closed, and fast"
    );
    assert!(
        outcomes.iter().any(|o| o.attempts > 1),
        "the kill should have interrupted some calls"
    );
    assert_exact(&outcomes, final_usage(&servers, &sk).await, LIMIT, CALLS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_soak_with_idempotent_retries_counts_each_key_exactly_once() {
    let soak = Duration::from_secs(
        std::env::var("FAULT_SOAK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(12),
    );
    const LIMIT: u64 = 1_000_000;
    let data_dir = temp_dir("soak");
    let env = [
        ("DREAM_DATA_DIR", data_dir.display().to_string()),
        ("DREAM_IDEMPOTENCY_LOCK_SECS", "1".to_owned()),
    ];
    let mut server = Server::start(&env).await;
    let servers = vec![server.base.clone()];
    let sk = bootstrap(&reqwest::Client::new(), &server, LIMIT).await;

    let running = Arc::new(AtomicBool::new(true));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let (http, servers, sk, running) =
                (http.clone(), servers.clone(), sk.clone(), running.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                let mut i = 0;
                while running.load(Ordering::SeqCst) {
                    let key = format!("soak-{w}-{i}");
                    i += 1;
                    outcomes.push(
                        track_until_answered(
                            &http,
                            &servers,
                            0,
                            &sk,
                            "fault-user",
                            &key,
                            Duration::from_secs(60),
                        )
                        .await,
                    );
                }
                outcomes
            })
        })
        .collect();
    let started = Instant::now();
    let mut kills = 0;
    while started.elapsed() < soak {
        tokio::time::sleep(Duration::from_millis(1500 + (kills % 3) * 700)).await;
        server.kill9();
        kills += 1;
        server.restart().await;
    }
    running.store(false, Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.expect("worker"));
    }
    assert!(kills >= 3, "only {kills} kills");
    let calls = outcomes.len();
    assert!(calls > 100, "only {calls} calls got through the soak");
    let counted = usage(&http, &server, &sk, "fault-user").await["usageCount"]
        .as_u64()
        .expect("count");
    assert_exact(&outcomes, counted, LIMIT, calls);
    eprintln!("kill -9 soak: {kills} kills, {calls} distinct keys, {counted} counted");
}
