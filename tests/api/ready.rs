//! `GET /ready` follows the backing services: 503 `store_unavailable` naming the
//! check while the database (or Redis) is down, 200 again once it is back; never
//! slower than the per-check timeout. `/health` stays 200 throughout. Each test
//! stops and starts its own private server, never the shared ones.

use std::time::{Duration, Instant};

use dream_bin::StoreKind;
use reqwest::Method;

use crate::{
    private_servers::{PrivatePostgres, PrivateRedis},
    support::{Reply, TestServer},
};

async fn ready(server: &TestServer) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = server.send(Method::GET, "/ready", None, &[], None).await;
    (reply, started.elapsed())
}

/// Polls `/ready` until it answers `status`, for at most `limit`.
async fn wait_for_ready_status(server: &TestServer, status: u16, limit: Duration) -> Reply {
    let deadline = Instant::now() + limit;
    loop {
        let (reply, _) = ready(server).await;
        if reply.status.as_u16() == status {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "/ready did not turn {status} within {limit:?}; last: {} {}",
            reply.status,
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The 503 body: our error shape, the failed check named, nothing that locates
/// the backend.
fn assert_not_ready(reply: &Reply, check: &str, port: u16) {
    reply.assert_error(503, "store_unavailable");
    assert_eq!(reply.header("retry-after"), Some("1"), "{}", reply.text);
    let state = reply.json["checks"][check].as_str().unwrap_or_default();
    assert!(
        state == "unavailable" || state == "timeout",
        "{check} should have failed: {}",
        reply.text
    );
    assert!(
        reply.json["message"]
            .as_str()
            .is_some_and(|m| m.contains(check)),
        "the message names the check: {}",
        reply.text
    );
    for leak in ["127.0.0.1", &port.to_string(), "postgres://", "redis://"] {
        assert!(!reply.text.contains(leak), "{leak} in {}", reply.text);
    }
}

async fn assert_alive(server: &TestServer) {
    let health = server.send(Method::GET, "/health", None, &[], None).await;
    assert_eq!(health.status, 200, "/health is liveness only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_is_always_ready() {
    let server = TestServer::start().await;
    let (reply, _) = ready(&server).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["status"], "ready");
    assert_eq!(reply.json["checks"], serde_json::json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_is_ready_with_its_database_check() {
    let dir = crate::private_servers::fresh_temp_dir("ready-sqlite");
    let server = TestServer::start_with(|c| {
        c.store = Some(StoreKind::Sqlite);
        c.data_dir = dir.clone();
    })
    .await;
    let (reply, _) = ready(&server).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["checks"]["database"], "ok", "{}", reply.text);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_postgres_down_and_up() {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start)
        .await
        .expect("start PostgreSQL");
    let url = pg.url();
    let server = TestServer::start_with(|c| {
        c.store = Some(StoreKind::Postgres);
        c.apply_env(|n| (n == "DATABASE_URL").then(|| url.clone()))
            .expect("config");
    })
    .await;
    let (reply, _) = ready(&server).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["status"], "ready");
    assert_eq!(reply.json["checks"]["database"], "ok", "{}", reply.text);

    let pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .expect("stop PostgreSQL");
    let (reply, took) = ready(&server).await;
    assert_not_ready(&reply, "database", pg.port);
    // 2 s per check, plus the request itself.
    assert!(took < Duration::from_secs(4), "/ready took {took:?}");
    assert_alive(&server).await;

    let pg = tokio::task::spawn_blocking(move || {
        pg.resume();
        pg
    })
    .await
    .expect("restart PostgreSQL");
    let reply = wait_for_ready_status(&server, 200, Duration::from_secs(30)).await;
    assert_eq!(reply.json["checks"]["database"], "ok", "{}", reply.text);
    drop(server);
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_redis_down_and_up() {
    let mut redis = tokio::task::spawn_blocking(PrivateRedis::start)
        .await
        .expect("start Redis");
    let url = redis.url();
    let server = TestServer::start_with(|c| {
        c.apply_env(|n| (n == "REDIS_URL").then(|| url.clone()))
            .expect("config");
    })
    .await;
    let (reply, _) = ready(&server).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["checks"]["redis"], "ok", "{}", reply.text);

    redis.stop();
    let (reply, took) = ready(&server).await;
    assert_not_ready(&reply, "redis", redis.port);
    assert!(took < Duration::from_secs(4), "/ready took {took:?}");
    assert_alive(&server).await;

    let mut redis = tokio::task::spawn_blocking(move || {
        redis.resume();
        redis
    })
    .await
    .expect("restart Redis");
    let reply = wait_for_ready_status(&server, 200, Duration::from_secs(30)).await;
    assert_eq!(reply.json["checks"]["redis"], "ok", "{}", reply.text);
    drop(server);
    redis.stop();
}
