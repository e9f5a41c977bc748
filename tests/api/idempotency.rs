//! `Idempotency-Key`: same key and request → same bytes, counted once.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::support::TestServer;

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
async fn refusals_are_not_stored_and_create_products_replays_its_secret() {
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

    let body = json!({"mode": "test", "tiers": [{"name": "free", "price": 0}]});
    let admin = server.admin_token.clone();
    let a = server
        .send(
            Method::POST,
            "/create-products",
            Some(&admin),
            &[("Idempotency-Key", "boot")],
            Some(body.clone()),
        )
        .await;
    let b = server
        .send(
            Method::POST,
            "/create-products",
            Some(&admin),
            &[("Idempotency-Key", "boot")],
            Some(body),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.text, b.text,
        "a retried bootstrap returns the same platform and secret"
    );
}
