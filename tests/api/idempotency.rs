//! `Idempotency-Key`: same key and request → same bytes, counted once.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::support::{Reply, TestServer};

/// Every file of a SQLite data directory (database, WAL), as one lossy string.
fn store_text(dir: &std::path::Path) -> String {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("data dir") {
        bytes.extend(std::fs::read(entry.expect("entry").path()).expect("read store file"));
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A SQLite server in a fresh directory, with or without a master key.
async fn sqlite_server(name: &str, master_key: bool) -> (TestServer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "dream-idem-{name}-{}-{}",
        std::process::id(),
        master_key
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.clone();
    let server = TestServer::start_with(move |c| {
        c.store = Some(dream_bin::StoreKind::Sqlite);
        c.data_dir = data;
        if master_key {
            c.apply_env(|n| (n == "DREAM_MASTER_KEY").then(|| "ab".repeat(32)))
                .expect("master key");
        }
    })
    .await;
    (server, dir)
}

/// Issues a key pair and bootstraps a platform, each twice with one
/// `Idempotency-Key`: `[(first, retry)]` for both.
async fn issue_secrets_twice(server: &TestServer) -> Vec<(Reply, Reply)> {
    let admin = server.admin_token.clone();
    let platform = server.tenant("test", 5).await.platform_id;
    let mut pairs = Vec::new();
    for (path, body) in [
        (
            format!("/admin/platforms/{platform}/keys"),
            json!({"mode": "test", "label": "ci"}),
        ),
        (
            "/create-products".to_owned(),
            json!({"mode": "test", "tiers": [{"name": "free", "price": 0}]}),
        ),
    ] {
        let send = || {
            server.send(
                Method::POST,
                &path,
                Some(&admin),
                &[("Idempotency-Key", "shown-once")],
                Some(body.clone()),
            )
        };
        let first = send().await;
        assert!(first.status.is_success(), "{path}: {}", first.text);
        assert!(first.json["secretKey"]
            .as_str()
            .is_some_and(|s| s.starts_with("sk_test_")));
        let retry = send().await;
        pairs.push((first, retry));
    }
    pairs
}

#[tokio::test]
async fn without_a_master_key_shown_once_secrets_are_not_kept_for_replay() {
    let (server, dir) = sqlite_server("plain", false).await;
    let pairs = issue_secrets_twice(&server).await;
    let stored = store_text(&dir);
    for (first, retry) in &pairs {
        retry.assert_error(409, "replay_unavailable");
        assert!(!retry.text.contains("sk_test_"), "{}", retry.text);
        let secret = first.json["secretKey"].as_str().expect("secret");
        assert!(
            !stored.contains(secret),
            "a shown-once secret is in the store"
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn with_a_master_key_secret_replays_are_identical_and_sealed_at_rest() {
    let (server, dir) = sqlite_server("sealed", true).await;
    let pairs = issue_secrets_twice(&server).await;
    let stored = store_text(&dir);
    assert!(
        stored.contains("shown-once"),
        "the idempotency rows are there"
    );
    for (first, retry) in &pairs {
        assert_eq!(first.status, retry.status);
        assert_eq!(first.text, retry.text, "the retry replays the same secret");
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
        let secret = first.json["secretKey"].as_str().expect("secret");
        assert!(
            !stored.contains(secret),
            "a shown-once secret is in the store"
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn replays_are_byte_identical_and_counted_once() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 50).await.secret_key;
    let h = [("X-User-Id", "u1"), ("Idempotency-Key", "track-1")];
    let first = server
        .send(
            Method::POST,
            "/api/data",
            Some(&sk),
            &h,
            Some(json!({"amount": 3})),
        )
        .await;
    let second = server
        .send(
            Method::POST,
            "/api/data",
            Some(&sk),
            &h,
            Some(json!({"amount": 3})),
        )
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.text, second.text);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        first.header("ratelimit-remaining"),
        second.header("ratelimit-remaining")
    );
    assert_eq!(server.usage(&sk, "u1").await.json["usageCount"], 3);

    let other = server
        .send(
            Method::POST,
            "/api/data",
            Some(&sk),
            &h,
            Some(json!({"amount": 4})),
        )
        .await;
    other.assert_error(422, "idempotency_key_mismatch");
    // The same key for another customer is another request too.
    let other_user = server
        .send(
            Method::POST,
            "/api/data",
            Some(&sk),
            &[("X-User-Id", "u2"), ("Idempotency-Key", "track-1")],
            Some(json!({"amount": 3})),
        )
        .await;
    other_user.assert_error(422, "idempotency_key_mismatch");
    assert_eq!(server.usage(&sk, "u1").await.json["usageCount"], 3);

    // Another tenant's identical key is independent (and never sees our response).
    let sk_b = server.tenant("test", 50).await.secret_key;
    let theirs = server
        .send(
            Method::POST,
            "/api/data",
            Some(&sk_b),
            &h,
            Some(json!({"amount": 3})),
        )
        .await;
    assert_eq!(theirs.status, 200);
    assert!(theirs.header("idempotent-replayed").is_none());
    assert_ne!(theirs.json["customerId"], first.json["customerId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_count_once() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 50).await.secret_key;
    let replies = join_all((0..20).map(|_| {
        server.send(
            Method::POST,
            "/api/data",
            Some(&sk),
            &[("X-User-Id", "u1"), ("Idempotency-Key", "same")],
            None,
        )
    }))
    .await;
    let ok: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert!(!ok.is_empty());
    assert!(ok.iter().all(|r| r.text == ok[0].text));
    for r in replies.iter().filter(|r| r.status != 200) {
        r.assert_error(409, "idempotency_key_in_use");
    }
    assert_eq!(server.usage(&sk, "u1").await.json["usageCount"], 1);
}

#[tokio::test]
async fn refusals_are_not_stored() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 1).await.secret_key;
    let h = [("X-User-Id", "u1"), ("Idempotency-Key", "k")];
    assert_eq!(server.track(&sk, "u1").await.status, 200);
    let refused = server
        .send(Method::POST, "/api/data", Some(&sk), &h, None)
        .await;
    refused.assert_error(429, "usage_limit_reached");
    // Upgrade, retry with the same key: the refusal was not stored, so it runs.
    server
        .send(
            Method::PATCH,
            "/api/customers/u1",
            Some(&sk),
            &[],
            Some(json!({"plan": "pro"})),
        )
        .await;
    let retried = server
        .send(Method::POST, "/api/data", Some(&sk), &h, None)
        .await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    // Replays of responses holding a secret: see the two tests above.
}

/// The server purges idempotency entries past their retention, starting at
/// start-up (issue 14, defect 2c): they may hold sealed responses.
#[tokio::test]
async fn the_server_sweeps_expired_idempotency_keys() {
    use dream_core::{IdempotencyClaim, IdempotencyScope, IdempotencyTimes, Mode, Tenant};

    let config = dream_bin::Config {
        addr: "127.0.0.1:0".parse().expect("addr"),
        store: Some(dream_bin::StoreKind::Memory),
        ..dream_bin::Config::default()
    };
    let app = dream_bin::Application::build(&config)
        .await
        .expect("server builds");
    let dream = app.dream().clone();
    let platform = dream.create_platform(None).await.expect("platform");
    let scope = IdempotencyScope {
        tenant: Tenant::new(platform.id, Mode::Test),
        endpoint: "POST /api/data".into(),
        key: "yesterday".into(),
    };
    let long_ago = IdempotencyTimes::standard(dream.now() - chrono::Duration::hours(25));
    let store = dream.stores().idempotency.clone();
    let claim = |times| {
        let store = store.clone();
        let scope = scope.clone();
        async move {
            store
                .claim_idempotency_key(&scope, &[7; 32], &times)
                .await
                .expect("claim")
        }
    };
    assert!(matches!(
        claim(long_ago).await,
        IdempotencyClaim::Claimed(_)
    ));
    // Seen from the claim's own time, the entry is in flight until it is purged.
    assert_eq!(claim(long_ago).await, IdempotencyClaim::InFlight);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = claim(long_ago).await;
        if matches!(now, IdempotencyClaim::Claimed(_)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the expired entry was not purged: {now:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    let _ = server.await;
}
