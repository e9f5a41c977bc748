//! Real `dream serve` processes: restarts, crashes, several processes sharing one
//! PostgreSQL (and Redis), and key revocation across processes.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_dream");
const ADMIN: &str = "processes-test-admin-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run ./scripts/test, which starts throwaway PostgreSQL and Redis servers")
    })
}

/// A `dream serve` child process; killed (SIGKILL) when dropped.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    port: u16,
    env: Vec<(String, String)>,
}

impl Server {
    pub async fn start(env: &[(&str, String)]) -> Self {
        let port = free_port();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let mut server = Self {
            child: None,
            base: format!("http://127.0.0.1:{port}"),
            port,
            env,
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("DREAM_CONFIG")
            .env("DREAM_ADDR", format!("127.0.0.1:{}", self.port))
            .env("DREAM_ADMIN_TOKEN", ADMIN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("dream serve starts"));
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{}/health", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "dream serve did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, and waits for a clean exit.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill");
            let status = child.wait().expect("wait");
            assert!(status.success(), "graceful shutdown failed: {status:?}");
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            let _ = child.wait();
        }
    }

    /// The process id, while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        self.spawn().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url).bearer_auth(key);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let json = resp.json().await.unwrap_or(Value::Null);
            (status, json)
        }
        Err(_) => (0, Value::Null),
    }
}

/// Creates a platform with one plan of `limit` calls on `server`; returns the secret key.
pub async fn bootstrap(http: &reqwest::Client, server: &Server, limit: u64) -> String {
    let (status, body) = call(
        http,
        reqwest::Method::POST,
        format!("{}/create-products", server.base),
        ADMIN,
        &[],
        Some(json!({"mode": "test", "tiers": [{"name": "plan", "price": 0, "limit": limit}]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["secretKey"].as_str().expect("secret").to_owned()
}

pub async fn track(http: &reqwest::Client, server: &Server, sk: &str, user: &str) -> u16 {
    call(
        http,
        reqwest::Method::POST,
        format!("{}/api/data", server.base),
        sk,
        &[("X-User-Id", user)],
        None,
    )
    .await
    .0
}

pub async fn usage(http: &reqwest::Client, server: &Server, sk: &str, user: &str) -> Value {
    let (status, body) = call(
        http,
        reqwest::Method::GET,
        format!("{}/api/usage", server.base),
        sk,
        &[("X-User-Id", user)],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dream-{name}-{}", free_port()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A fresh database on the test server, as a URL.
pub(crate) async fn fresh_database() -> String {
    let url = env_url("DREAM_TEST_DATABASE_URL");
    let name = format!("dream_mp_{}", free_port());
    let (client_url, _) = url.rsplit_once('/').expect("url has a database");
    let status = Command::new("psql")
        .args([&url, "-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql runs");
    assert!(status.success(), "CREATE DATABASE failed");
    format!("{client_url}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_default_survives_sigterm_and_kill9() {
    let data_dir = temp_dir("restart");
    let http = reqwest::Client::new();
    let mut server = Server::start(&[("DREAM_DATA_DIR", data_dir.display().to_string())]).await;
    let sk = bootstrap(&http, &server, 100).await;
    let (status, created) = call(
        &http,
        reqwest::Method::POST,
        format!("{}/api/customers", server.base),
        &sk,
        &[],
        Some(json!({"email": "keep@example.com", "externalId": "keeper"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    for _ in 0..10 {
        assert_eq!(track(&http, &server, &sk, "keeper").await, 200);
    }
    assert!(
        data_dir.join("dream.sqlite3").exists(),
        "data lives under DREAM_DATA_DIR"
    );

    server.terminate();
    server.restart().await;
    let after = usage(&http, &server, &sk, "keeper").await;
    assert_eq!(after["usageCount"], 10, "after SIGTERM: {after}");
    assert_eq!(after["customerId"], created["customer"]["id"]);

    assert_eq!(track(&http, &server, &sk, "keeper").await, 200);
    server.kill9();
    server.restart().await;
    let after = usage(&http, &server, &sk, "keeper").await;
    assert_eq!(after["usageCount"], 11, "after kill -9: {after}");
    let (status, got) = call(
        &http,
        reqwest::Method::GET,
        format!("{}/api/customers/keeper", server.base),
        &sk,
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(got["customer"]["email"], "keep@example.com");
}

async fn four_processes_exact(extra_env: &[(&str, String)]) {
    let db = fresh_database().await;
    let mut env = vec![
        ("DATABASE_URL", db),
        ("DREAM_DATABASE_MAX_CONNECTIONS", "12".into()),
    ];
    env.extend(extra_env.iter().cloned());
    let mut servers = Vec::new();
    for _ in 0..4 {
        servers.push(Server::start(&env).await);
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let sk = bootstrap(&http, &servers[0], 500).await;
    // Clients behave as documented: each call carries an Idempotency-Key and is
    // retried with it after a 503 or a dropped connection (on a starved machine the
    // store may time out after counting; the retry then replays the receipt).
    let statuses = join_all((0..2000).map(|i| {
        let (http, sk, server) = (&http, &sk, &servers[i % 4]);
        async move {
            let key = format!("mp-{i}");
            let mut last = 0;
            // 409: the first attempt still runs; a starved machine may need long.
            for _ in 0..600 {
                let (status, _) = call(
                    http,
                    reqwest::Method::POST,
                    format!("{}/api/data", server.base),
                    sk,
                    &[
                        ("X-User-Id", "shared-user"),
                        ("Idempotency-Key", key.as_str()),
                    ],
                    None,
                )
                .await;
                last = status;
                if status != 503 && status != 0 && status != 409 {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("call {i} never got an answer (last status {last})");
        }
    }))
    .await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((ok, refused), (500, 1500), "statuses: {:?}", {
        let mut other: Vec<_> = statuses
            .iter()
            .filter(|s| **s != 200 && **s != 429)
            .collect();
        other.dedup();
        other
    });
    for server in &servers {
        assert_eq!(
            usage(&http, server, &sk, "shared-user").await["usageCount"],
            500
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_processes_sharing_postgres_accept_exactly_the_limit() {
    four_processes_exact(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_processes_with_redis_counters_accept_exactly_the_limit() {
    four_processes_exact(&[("REDIS_URL", env_url("DREAM_TEST_REDIS_URL"))]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_in_one_process_is_refused_by_another_within_the_bound() {
    const TTL_MS: u64 = 500;
    let (a, b) = two_servers_sharing_postgres(TTL_MS).await;
    let http = reqwest::Client::new();
    let sk = bootstrap(&http, &a, 1000).await;
    // Warm B's cache with the key.
    assert_eq!(track(&http, &b, &sk, "u").await, 200);
    let key_id = key_id_of(&http, &a, &sk).await;
    let (status, _) = call(
        &http,
        reqwest::Method::DELETE,
        format!("{}/admin/keys/{key_id}", a.base),
        ADMIN,
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let revoked_at = Instant::now();
    assert_eq!(
        track(&http, &a, &sk, "u").await,
        401,
        "the revoking process refuses at once"
    );
    loop {
        // Judged by when the call was sent: a slow answer on a loaded machine
        // is not a stale one.
        let sent = revoked_at.elapsed();
        let status = track(&http, &b, &sk, "u").await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            sent <= Duration::from_millis(TTL_MS + 300),
            "still accepted a call sent {sent:?} after the revocation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..5 {
        assert_eq!(
            track(&http, &b, &sk, "u").await,
            401,
            "never accepted again"
        );
    }
}

/// Two `dream serve` processes on one fresh PostgreSQL database, caching for
/// `cache_ttl_ms`.
async fn two_servers_sharing_postgres(cache_ttl_ms: u64) -> (Server, Server) {
    let db = fresh_database().await;
    let env = [
        ("DATABASE_URL", db),
        ("DREAM_CACHE_TTL_MS", cache_ttl_ms.to_string()),
    ];
    (Server::start(&env).await, Server::start(&env).await)
}

/// A plan changed in one process applies there at once and in another process
/// (whose customer cache holds the old plan) within the cache bound, never
/// reverting after: the hot path reads customers from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_changed_in_one_process_applies_in_another_within_the_bound() {
    const TTL_MS: u64 = 500;
    let (a, b) = two_servers_sharing_postgres(TTL_MS).await;
    let http = reqwest::Client::new();
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        format!("{}/create-products", a.base),
        ADMIN,
        &[],
        Some(json!({"mode": "test", "tiers": [
            {"name": "free", "price": 0, "limit": 3},
            {"name": "pro", "price": 900, "limit": 1000}
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sk = body["secretKey"].as_str().expect("secret").to_owned();
    // B creates the customer on the free plan and caches it.
    assert_eq!(track(&http, &b, &sk, "u").await, 200);
    assert_eq!(usage(&http, &b, &sk, "u").await["plan"], "free");
    let (status, body) = call(
        &http,
        reqwest::Method::PATCH,
        format!("{}/api/customers/u", a.base),
        &sk,
        &[],
        Some(json!({"plan": "pro"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let changed_at = Instant::now();
    assert_eq!(
        usage(&http, &a, &sk, "u").await["plan"],
        "pro",
        "the changing process applies the new plan at once"
    );
    loop {
        let sent = changed_at.elapsed();
        let plan = usage(&http, &b, &sk, "u").await["plan"].clone();
        if plan == "pro" {
            break;
        }
        assert_eq!(plan, "free");
        assert!(
            sent <= Duration::from_millis(TTL_MS + 300),
            "the other process still applied the old plan to a call sent {sent:?} after the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Beyond the free plan's limit of 3 in both processes: the new plan holds.
    for server in [&a, &b, &a, &b] {
        assert_eq!(track(&http, server, &sk, "u").await, 200);
    }
    assert_eq!(usage(&http, &b, &sk, "u").await["plan"], "pro");
}

/// A key rolled in one process with a 1 s overlap: the other process accepts the
/// new key at once and refuses the old one once the overlap and its cache bound
/// have passed, never again after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rolled_in_one_process_expires_in_another_after_its_overlap() {
    const TTL_MS: u64 = 500;
    const OVERLAP_SECS: u64 = 1;
    let (a, b) = two_servers_sharing_postgres(TTL_MS).await;
    let http = reqwest::Client::new();
    let sk = bootstrap(&http, &a, 1000).await;
    // Warm B's cache with the key, as it was before the roll (no expiry).
    assert_eq!(track(&http, &b, &sk, "u").await, 200);
    let key_id = key_id_of(&http, &a, &sk).await;
    let (status, rolled) = call(
        &http,
        reqwest::Method::POST,
        format!("{}/admin/keys/{key_id}/roll", a.base),
        ADMIN,
        &[],
        Some(json!({ "overlapSeconds": OVERLAP_SECS })),
    )
    .await;
    assert_eq!(status, 201, "{rolled}");
    let rolled_at = Instant::now();
    let new_sk = rolled["secretKey"].as_str().expect("secretKey").to_owned();
    assert_eq!(
        track(&http, &b, &new_sk, "u").await,
        200,
        "the new key at once"
    );
    // Eventually refused (bounded wait: the overlap, the cache bound, slack).
    let deadline = Duration::from_millis(OVERLAP_SECS * 1000 + TTL_MS + 5000);
    loop {
        let status = track(&http, &b, &sk, "u").await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            rolled_at.elapsed() <= deadline,
            "the old key still works {:?} after the roll",
            rolled_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for server in [&a, &b] {
        for _ in 0..3 {
            assert_eq!(track(&http, server, &sk, "u").await, 401, "never again");
        }
        assert_eq!(track(&http, server, &new_sk, "u").await, 200);
    }
}

/// The key id of `sk`: the platform's only pair.
async fn key_id_of(http: &reqwest::Client, server: &Server, sk: &str) -> String {
    let (_, events) = call(
        http,
        reqwest::Method::GET,
        format!("{}/api/events?limit=100", server.base),
        sk,
        &[],
        None,
    )
    .await;
    events["data"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "key.created")
        .and_then(|e| e["data"]["keyId"].as_str())
        .expect("key.created event")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_under_load_loses_no_acknowledged_call_and_retries_count_once() {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };
    const N: usize = 300;
    let data_dir = temp_dir("crash");
    let env = [
        ("DREAM_DATA_DIR", data_dir.display().to_string()),
        ("DREAM_IDEMPOTENCY_LOCK_SECS", "1".to_owned()),
    ];
    let mut server = Server::start(&env).await;
    let http = reqwest::Client::new();
    let sk = bootstrap(&http, &server, 100_000).await;
    let base = server.base.clone();
    let send = |i: usize| {
        let http = http.clone();
        let sk = sk.clone();
        let url = format!("{base}/api/data");
        async move {
            let key = format!("crash-{i}");
            call(
                &http,
                reqwest::Method::POST,
                url,
                &sk,
                &[
                    ("X-User-Id", "crash-user"),
                    ("Idempotency-Key", key.as_str()),
                ],
                None,
            )
            .await
        }
    };
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..N)
        .map(|i| {
            let request = send(i);
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                let (status, body) = request.await;
                if status == 200 {
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
                (status, body)
            })
        })
        .collect();
    while acknowledged.load(Ordering::SeqCst) < 40 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill9();
    let mut first = Vec::new();
    for task in load {
        first.push(task.await.expect("task"));
    }
    let ok: Vec<usize> = (0..N).filter(|i| first[*i].0 == 200).collect();
    assert!(ok.len() < N, "the kill should interrupt the load");

    server.restart().await;
    let counted = usage(&http, &server, &sk, "crash-user").await["usageCount"]
        .as_u64()
        .expect("count") as usize;
    assert!(
        counted >= ok.len() && counted <= N,
        "{counted} counted, {} acknowledged",
        ok.len()
    );

    // Retry everything with the same keys once abandoned claims have timed out.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for (i, (first_status, first_body)) in first.iter().enumerate() {
        let (status, body) = send(i).await;
        assert_eq!(status, 200, "retry {i}: {body}");
        if *first_status == 200 {
            assert_eq!(
                body["usage"]["count"], first_body["usage"]["count"],
                "retry {i} replays the acknowledged answer"
            );
        }
    }
    let after = usage(&http, &server, &sk, "crash-user").await;
    assert_eq!(
        after["usageCount"], N as u64,
        "each request counted exactly once"
    );
}
