//! The seed README's "Tested Flow", steps 1–3, then an upgrade.

use reqwest::Method;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn seed_flow_customer_usage_limit_and_upgrade() {
    let server = TestServer::start().await;
    let creds = server.tenant("test", 2).await;
    let sk = &creds.secret_key;

    // 1. Create customer (the seed's exact body).
    let created = server
        .post(
            "/api/customers",
            sk,
            json!({"email": "sharon@example.com", "firstName": "Sharon", "lastName": "Sheffield",
                   "password": "UniquePass123xyz", "plan": "free"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["success"], true);
    assert_eq!(created.json["customer"]["plan"], "free");
    assert!(
        !created.text.contains("UniquePass123xyz"),
        "password echoed"
    );
    let id = created.json["customer"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("usr_"));

    // 2. Check usage.
    let headers = [("X-User-Id", id.as_str()), ("X-User-Plan", "free")];
    let usage = server
        .send(Method::GET, "/api/usage", Some(sk), &headers, None)
        .await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    assert_eq!(usage.json["usageCount"], 0);
    assert_eq!(usage.json["limit"], 2);
    assert_eq!(usage.json["remaining"], 2);

    // 3. Track until the limit.
    for n in 1..=2 {
        let tracked = server
            .send(Method::POST, "/api/data", Some(sk), &headers, None)
            .await;
        assert_eq!(tracked.status, 200, "{}", tracked.text);
        assert_eq!(tracked.json["success"], true);
        assert_eq!(tracked.json["usage"]["count"], n);
        assert_eq!(tracked.json["usage"]["limit"], 2);
        assert_eq!(tracked.header("ratelimit-limit"), Some("2"));
        assert_eq!(
            tracked.header("ratelimit-remaining"),
            Some((2 - n).to_string().as_str())
        );
    }
    let refused = server
        .send(Method::POST, "/api/data", Some(sk), &headers, None)
        .await;
    refused.assert_error(429, "usage_limit_reached");
    assert_eq!(refused.json["error"], "Tier limit reached");
    assert_eq!(refused.json["message"], "Please upgrade");
    assert_eq!(refused.json["limit"], 2);
    assert_eq!(refused.json["used"], 2);
    assert!(refused.json["periodEnd"].is_string());
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0);
    assert_eq!(server.usage(sk, &id).await.json["usageCount"], 2);

    // Upgrade: the stored plan changes, the limit rises at once, the count stays.
    let patched = server
        .send(
            Method::PATCH,
            &format!("/api/customers/{id}"),
            Some(sk),
            &[],
            Some(json!({"plan": "pro"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.json["customer"]["plan"], "pro");
    let tracked = server
        .send(Method::POST, "/api/data", Some(sk), &headers, None)
        .await;
    assert_eq!(tracked.status, 200, "{}", tracked.text);
    assert_eq!(
        tracked.json["plan"], "pro",
        "stored plan wins over X-User-Plan"
    );
    assert_eq!(tracked.json["usage"]["count"], 3);
    assert_eq!(tracked.json["usage"]["limit"], 10);
}

#[tokio::test]
async fn unknown_user_is_created_on_first_sight_with_hinted_plan() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 2).await.secret_key;
    let headers = [("X-User-Id", "ext-42"), ("X-User-Plan", "pro")];
    let tracked = server
        .send(Method::POST, "/api/data", Some(&sk), &headers, None)
        .await;
    assert_eq!(tracked.status, 200, "{}", tracked.text);
    assert_eq!(tracked.json["plan"], "pro");
    let got = server.get("/api/customers/ext-42", &sk).await;
    assert_eq!(got.json["customer"]["externalId"], "ext-42");
    // An unknown plan hint falls back to the default (free) plan.
    let other = server
        .send(
            Method::POST,
            "/api/data",
            Some(&sk),
            &[("X-User-Id", "ext-43"), ("X-User-Plan", "gold")],
            None,
        )
        .await;
    assert_eq!(other.json["plan"], "free");
    // Unlimited tier: limit and remaining are null and never refused.
    let unl = [("X-User-Id", "big"), ("X-User-Plan", "enterprise")];
    for _ in 0..25 {
        let r = server
            .send(Method::POST, "/api/data", Some(&sk), &unl, None)
            .await;
        assert_eq!(r.status, 200);
        assert!(r.json["usage"]["limit"].is_null());
        assert!(r.json["usage"]["remaining"].is_null());
        assert!(r.header("ratelimit-limit").is_none());
    }
    assert_eq!(server.usage(&sk, "big").await.json["usageCount"], 25);
}

#[tokio::test]
async fn amount_counts_all_or_nothing_and_rate_limit_refuses_without_counting() {
    let server = TestServer::start().await;
    let reply = server
        .create_products(json!({"mode": "live", "tiers": [
            {"name": "metered", "price": 5, "limit": 10, "rateLimitPerMinute": 3},
            {"name": "bulk", "price": 5, "limit": 10}
        ]}))
        .await;
    let sk = crate::support::creds(&reply.json).secret_key;
    assert!(sk.starts_with("sk_live_"));
    let track = |user: &'static str, plan: &'static str, amount: u64| {
        let sk = sk.clone();
        let server = &server;
        async move {
            server
                .send(
                    Method::POST,
                    "/api/data",
                    Some(&sk),
                    &[("X-User-Id", user), ("X-User-Plan", plan)],
                    Some(json!({ "amount": amount })),
                )
                .await
        }
    };

    // Usage: all of the amount or none of it.
    track("u2", "bulk", 11)
        .await
        .assert_error(429, "usage_limit_reached");
    assert_eq!(server.usage(&sk, "u2").await.json["usageCount"], 0);
    assert_eq!(track("u2", "bulk", 10).await.json["usage"]["count"], 10);

    // Rate: more than a minute's allowance at once is a caller error, not "retry later".
    let burst = track("u1", "metered", 4).await;
    burst.assert_error(400, "invalid_request");
    assert_eq!(burst.json["field"], "/amount");
    assert_eq!(track("u1", "metered", 2).await.json["usage"]["count"], 2);
    assert_eq!(track("u1", "metered", 1).await.json["usage"]["count"], 3);
    let limited = track("u1", "metered", 1).await;
    limited.assert_error(429, "rate_limited");
    assert!(
        limited
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(server.usage(&sk, "u1").await.json["usageCount"], 3);

    let zero = track("u1", "metered", 0).await;
    zero.assert_error(400, "invalid_request");
    assert_eq!(zero.json["field"], "/amount");
}
