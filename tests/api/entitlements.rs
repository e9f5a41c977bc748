//! Entitlements (issue #15, first part): tier flags and alert thresholds,
//! `GET /api/entitlements`, `GET /api/check` (consumes nothing, leaves the rate
//! window alone), `usage.threshold_reached` once per threshold under concurrency,
//! and `GET /api/usage/history`.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{creds, Reply, TestServer};

fn pricing() -> Value {
    json!([
        { "name": "free", "price": 0, "limit": 5, "rateLimitPerMinute": 3 },
        { "name": "pro", "price": 29, "limit": 10, "flags": ["sso", "exports_csv"],
          "alerts": [50, 100] },
        { "name": "enterprise", "price": 99, "flags": ["sso", "priority_support"] }
    ])
}

async fn priced(server: &TestServer, tiers: Value) -> String {
    let reply = server
        .create_products(json!({ "mode": "test", "tiers": tiers }))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    creds(&reply.json).secret_key
}

/// A GET as customer `user`, seeding a first-seen customer's plan unless `plan`
/// is empty.
async fn get_as(server: &TestServer, path: &str, sk: &str, user: &str, plan: &str) -> Reply {
    let mut headers = vec![("X-User-Id", user)];
    if !plan.is_empty() {
        headers.push(("X-User-Plan", plan));
    }
    server
        .send(Method::GET, path, Some(sk), &headers, None)
        .await
}

/// The tenant's last 100 events of one kind, newest first.
pub(crate) async fn events_of(server: &TestServer, sk: &str, kind: &str) -> Vec<Value> {
    let reply = server.get("/api/events?limit=100", sk).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

#[tokio::test]
async fn tier_flags_and_alerts_are_validated_naming_the_field() {
    let server = TestServer::start().await;
    let cases = [
        (
            json!({"flags": ["sso", "Single-Sign-On"]}),
            "/tiers/0/flags/1",
        ),
        (json!({"flags": ["sso", "sso"]}), "/tiers/0/flags/1"),
        (json!({"flags": ["x".repeat(41)]}), "/tiers/0/flags/0"),
        (json!({"alerts": [80, 0]}), "/tiers/0/alerts/1"),
        (json!({"alerts": [101]}), "/tiers/0/alerts/0"),
        (json!({"alerts": [80, 80]}), "/tiers/0/alerts/1"),
    ];
    for (extra, field) in cases {
        let mut tier = json!({ "name": "free", "price": 0, "limit": 5 });
        for (k, v) in extra.as_object().expect("object") {
            tier[k] = v.clone();
        }
        let reply = server
            .create_products(json!({ "mode": "test", "tiers": [tier] }))
            .await;
        reply.assert_error(400, "invalid_request");
        assert_eq!(reply.json["field"], field, "{extra} → {}", reply.text);
    }

    let sk = priced(&server, pricing()).await;
    let tiers = server.get("/api/tiers", &sk).await;
    assert_eq!(tiers.status, 200, "{}", tiers.text);
    let tiers = tiers.json["tiers"].as_array().expect("tiers").clone();
    assert_eq!(tiers[0]["flags"], json!([]), "flags default to none");
    assert_eq!(
        tiers[0]["alerts"],
        json!([80, 100]),
        "alerts default to 80 and 100"
    );
    assert_eq!(tiers[1]["flags"], json!(["sso", "exports_csv"]));
    assert_eq!(tiers[1]["alerts"], json!([50, 100]));
}

#[tokio::test]
async fn entitlements_list_every_flag_and_the_requests_meter() {
    let server = TestServer::start().await;
    let sk = priced(&server, pricing()).await;
    for _ in 0..3 {
        let tracked = server
            .send(
                Method::POST,
                "/api/data",
                Some(&sk),
                &[("X-User-Id", "ada"), ("X-User-Plan", "pro")],
                None,
            )
            .await;
        assert_eq!(tracked.status, 200, "{}", tracked.text);
    }
    let ada = get_as(&server, "/api/entitlements", &sk, "ada", "pro").await;
    assert_eq!(ada.status, 200, "{}", ada.text);
    assert_eq!(ada.json["plan"], "pro");
    assert_eq!(
        ada.json["flags"],
        json!({"sso": true, "exports_csv": true, "priority_support": false})
    );
    let requests = &ada.json["meters"]["requests"];
    assert_eq!(
        (
            &requests["used"],
            &requests["limit"],
            &requests["remaining"]
        ),
        (&json!(3), &json!(10), &json!(7))
    );
    assert!(requests["resetsAt"].as_str().is_some(), "{}", ada.text);
    assert_eq!(requests["reset"], "month", "{}", ada.text);
    assert_eq!(requests["credits"], 0, "no credits granted: {}", ada.text);

    // A first-seen customer is created on the default plan, as for /api/usage.
    let newcomer = get_as(&server, "/api/entitlements", &sk, "bob", "nope").await;
    assert_eq!(newcomer.status, 200, "{}", newcomer.text);
    assert_eq!(newcomer.json["plan"], "free");
    assert_eq!(
        newcomer.json["flags"],
        json!({"sso": false, "exports_csv": false, "priority_support": false})
    );
    assert_eq!(newcomer.json["meters"]["requests"]["used"], 0);
    let created = events_of(&server, &sk, "customer.created").await;
    assert_eq!(created.len(), 2, "ada and bob, each once");

    let unlimited = get_as(&server, "/api/entitlements", &sk, "eve", "enterprise").await;
    assert_eq!(unlimited.json["meters"]["requests"]["limit"], Value::Null);
    assert_eq!(
        unlimited.json["meters"]["requests"]["remaining"],
        Value::Null
    );
}

#[tokio::test]
async fn check_consumes_nothing_and_leaves_the_rate_window_alone() {
    let server = TestServer::start().await;
    let sk = priced(&server, pricing()).await;
    // free: limit 5 a month, 3 a minute.
    assert_eq!(server.track(&sk, "cat").await.status, 200);
    for _ in 0..20 {
        let fits = get_as(
            &server,
            "/api/check?meter=requests&amount=4",
            &sk,
            "cat",
            "",
        )
        .await;
        assert_eq!(fits.status, 200, "{}", fits.text);
        assert_eq!(fits.json["allowed"], true);
        assert_eq!(fits.json["used"], 1);
        assert_eq!(fits.json["remaining"], 4);
        assert_eq!(fits.json["limit"], 5);
        assert!(fits.json["resetsAt"].is_string());
    }
    let too_many = get_as(
        &server,
        "/api/check?meter=requests&amount=5",
        &sk,
        "cat",
        "",
    )
    .await;
    assert_eq!(too_many.json["allowed"], false, "{}", too_many.text);
    assert_eq!(
        server.usage(&sk, "cat").await.json["usageCount"],
        1,
        "nothing consumed"
    );
    // Two more tracks fit in the 3-per-minute window only if the checks took
    // nothing from it.
    assert_eq!(server.track(&sk, "cat").await.status, 200);
    assert_eq!(server.track(&sk, "cat").await.status, 200);
    server
        .track(&sk, "cat")
        .await
        .assert_error(429, "rate_limited");

    let sso = get_as(&server, "/api/check?flag=sso", &sk, "dan", "pro").await;
    assert_eq!(sso.status, 200, "{}", sso.text);
    assert_eq!(
        (&sso.json["allowed"], &sso.json["plan"]),
        (&json!(true), &json!("pro"))
    );
    assert!(sso.json.get("used").is_none(), "{}", sso.text);
    let priority = get_as(&server, "/api/check?flag=priority_support", &sk, "dan", "").await;
    assert_eq!(priority.json["allowed"], false);
    let unknown = get_as(&server, "/api/check?flag=teleport", &sk, "dan", "").await;
    assert_eq!(unknown.status, 200, "{}", unknown.text);
    assert_eq!(
        unknown.json["allowed"], false,
        "an unknown flag is not allowed"
    );

    for (query, field) in [
        ("", "flag"),
        ("?flag=sso&meter=requests", "meter"),
        ("?meter=exports", "meter"),
        ("?meter=requests&amount=0", "amount"),
        ("?flag=sso&amount=2", "amount"),
        ("?flag=Not%20A%20Flag", "flag"),
    ] {
        let reply = get_as(&server, &format!("/api/check{query}"), &sk, "dan", "").await;
        reply.assert_error(400, "invalid_request");
        assert_eq!(reply.json["field"], field, "{query} → {}", reply.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_concurrent_tracks_alert_once_per_threshold() {
    alerts_once_per_threshold(TestServer::start().await).await;
}

/// The same on PostgreSQL, where the event log's primary key refuses the second
/// append of a derived event id across connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_concurrent_tracks_alert_once_per_threshold_on_postgres() {
    alerts_once_per_threshold(TestServer::start_postgres().await).await;
}

async fn alerts_once_per_threshold(server: TestServer) {
    let sk = server.tenant("test", 50).await.secret_key;
    let id = server
        .customer(&sk, json!({"email": "alerts@example.com", "plan": "free"}))
        .await;
    let replies = join_all((0..60).map(|_| server.track(&sk, &id))).await;
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 50);

    let mut alerts: Vec<(u64, u64, u64)> = events_of(&server, &sk, "usage.threshold_reached")
        .await
        .iter()
        .map(|e| {
            assert_eq!(e["data"]["meter"], "requests", "{e}");
            assert_eq!(e["customerId"], json!(id), "{e}");
            (
                e["data"]["percent"].as_u64().expect("percent"),
                e["data"]["used"].as_u64().expect("used"),
                e["data"]["limit"].as_u64().expect("limit"),
            )
        })
        .collect();
    alerts.sort_unstable();
    assert_eq!(alerts, vec![(80, 40, 50), (100, 50, 50)]);
    assert_eq!(
        events_of(&server, &sk, "usage.limit_reached").await.len(),
        1,
        "the limit event is kept"
    );
}

#[tokio::test]
async fn a_replayed_track_does_not_alert_again() {
    let server = TestServer::start().await;
    let sk = priced(
        &server,
        json!([{ "name": "free", "price": 0, "limit": 4, "alerts": [75] }]),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(server.track(&sk, "fay").await.status, 200);
    }
    let send = || {
        server.send(
            Method::POST,
            "/api/data",
            Some(&sk),
            &[("X-User-Id", "fay"), ("Idempotency-Key", "crossing-call")],
            None,
        )
    };
    let first = send().await;
    let replay = send().await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.text, replay.text, "the replay is the stored answer");
    assert_eq!(first.json["usage"]["count"], 3);
    assert_eq!(
        events_of(&server, &sk, "usage.threshold_reached")
            .await
            .len(),
        1
    );
    assert_eq!(server.track(&sk, "fay").await.status, 200);
    assert_eq!(
        events_of(&server, &sk, "usage.threshold_reached")
            .await
            .len(),
        1,
        "75 % was crossed once; the call reaching the limit crosses nothing new"
    );

    let none = priced(
        &server,
        json!([{ "name": "free", "price": 0, "limit": 2, "alerts": [] }]),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(server.track(&none, "gus").await.status, 200);
    }
    assert!(events_of(&server, &none, "usage.threshold_reached")
        .await
        .is_empty());
}

#[tokio::test]
async fn usage_history_buckets_sum_to_the_counted_total() {
    let server = TestServer::start().await;
    let sk = priced(&server, json!([{ "name": "free", "price": 0 }])).await;
    let mut counted = 0;
    for (user, amount) in [("a", 1), ("b", 7), ("a", 30), ("c", 2)] {
        let reply = server
            .send(
                Method::POST,
                "/api/data",
                Some(&sk),
                &[("X-User-Id", user)],
                Some(json!({ "amount": amount })),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        counted += amount;
    }
    let hours = server
        .get("/api/usage/history?meter=requests&granularity=hour", &sk)
        .await;
    assert_eq!(hours.status, 200, "{}", hours.text);
    assert_eq!(hours.json["granularity"], "hour");
    let buckets = hours.json["buckets"].as_array().expect("buckets");
    assert!(
        (24..=25).contains(&buckets.len()),
        "a day of hours: {}",
        buckets.len()
    );
    let sum: u64 = buckets
        .iter()
        .map(|b| b["amount"].as_u64().expect("amount"))
        .sum();
    assert_eq!(sum, counted);
    assert_eq!(hours.json["total"], counted);

    let days = server.get("/api/usage/history?granularity=day", &sk).await;
    assert_eq!(days.status, 200, "{}", days.text);
    assert_eq!(days.json["total"], counted);
    assert_eq!(days.json["buckets"].as_array().expect("days").len(), 30);
    let last = days.json["buckets"]
        .as_array()
        .expect("days")
        .last()
        .cloned();
    assert_eq!(last.expect("today")["amount"], counted, "all of it today");

    let other = priced(&server, json!([{ "name": "free", "price": 0 }])).await;
    let theirs = server
        .get("/api/usage/history?granularity=hour", &other)
        .await;
    assert_eq!(
        theirs.json["total"], 0,
        "another tenant's history is its own"
    );

    for (query, field) in [
        ("granularity=week", "granularity"),
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-12-05&to=2026-12-01", "from"),
        ("granularity=hour&from=2026-01-01&to=2026-12-01", "from"),
        ("meter=exports", "meter"),
    ] {
        let reply = server
            .get(&format!("/api/usage/history?{query}"), &sk)
            .await;
        reply.assert_error(400, "invalid_request");
        assert_eq!(reply.json["field"], field, "{query} → {}", reply.text);
    }
    let dated = server
        .get(
            "/api/usage/history?granularity=day&from=2026-01-01&to=2026-01-03",
            &sk,
        )
        .await;
    assert_eq!(dated.status, 200, "{}", dated.text);
    let from = dated.json["from"].as_str().expect("from");
    assert!(from.starts_with("2026-01-01T00:00:00"), "{from}");
    assert_eq!(dated.json["buckets"].as_array().expect("days").len(), 2);
}
