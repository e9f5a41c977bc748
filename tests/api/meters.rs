//! Meters and credits (issue #15): several meters per tier with their own limits
//! and resets, lifetime meters given back, prepaid credits spent after the
//! allowance (all or nothing, exactly under concurrency), and the events, checks
//! and entitlements that show them.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    entitlements::events_of,
    support::{creds, Reply, TestServer},
};

fn pricing() -> Value {
    json!([
        { "name": "free", "price": 0, "limit": 100,
          "meters": { "exports": { "limit": 2, "reset": "day" },
                      "seats": { "limit": 3, "reset": "never", "alerts": [] } } },
        { "name": "pro", "price": 29, "limit": 1000,
          "meters": { "exports": { "limit": 50, "reset": "day" },
                      "seats": { "limit": 10, "reset": "never" },
                      "tokens": { "limit": 0, "reset": "month", "alerts": [] } } }
    ])
}

async fn priced(server: &TestServer) -> String {
    let reply = server
        .create_products(json!({ "mode": "test", "tiers": pricing() }))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    creds(&reply.json).secret_key
}

async fn track(server: &TestServer, sk: &str, user: &str, body: Value) -> Reply {
    server
        .send(
            Method::POST,
            "/api/data",
            Some(sk),
            &[("X-User-Id", user)],
            Some(body),
        )
        .await
}

async fn entitlements(server: &TestServer, sk: &str, user: &str) -> Value {
    let reply = server
        .send(
            Method::GET,
            "/api/entitlements",
            Some(sk),
            &[("X-User-Id", user)],
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json
}

#[tokio::test]
async fn meters_count_apart_with_their_own_limits_and_seats_are_given_back() {
    let server = TestServer::start().await;
    let sk = priced(&server).await;
    let tiers = server.get("/api/tiers", &sk).await;
    assert_eq!(
        tiers.json["tiers"][0]["meters"]["exports"],
        json!({ "limit": 2, "reset": "day", "alerts": [80, 100] }),
        "{}",
        tiers.text
    );

    let plain = track(&server, &sk, "ada", json!({})).await;
    assert_eq!(plain.status, 200, "{}", plain.text);
    assert_eq!(plain.json["usage"]["meter"], "requests");
    for expected in 1..=2 {
        let reply = track(&server, &sk, "ada", json!({ "meter": "exports" })).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json["usage"]["count"], expected);
        assert_eq!(reply.json["usage"]["meter"], "exports");
        assert_eq!(reply.json["usage"]["limit"], 2);
    }
    let refused = track(&server, &sk, "ada", json!({ "meter": "exports" })).await;
    refused.assert_error(429, "usage_limit_reached");
    assert_eq!(refused.json["used"], 2);

    let seats = track(
        &server,
        &sk,
        "ada",
        json!({ "meter": "seats", "amount": 3 }),
    )
    .await;
    assert_eq!(seats.status, 200, "{}", seats.text);
    let full = track(&server, &sk, "ada", json!({ "meter": "seats" })).await;
    full.assert_error(429, "usage_limit_reached");
    assert!(
        full.header("retry-after").is_none() && full.json.get("retryAfter").is_none(),
        "waiting never frees a seat: {:?} {}",
        full.header("retry-after"),
        full.text
    );
    assert!(
        refused.header("retry-after").is_some(),
        "a daily meter resets"
    );
    let freed = track(
        &server,
        &sk,
        "ada",
        json!({ "meter": "seats", "amount": -1 }),
    )
    .await;
    assert_eq!(freed.status, 200, "{}", freed.text);
    assert_eq!(freed.json["usage"]["count"], 2);
    let floor = track(
        &server,
        &sk,
        "ada",
        json!({ "meter": "seats", "amount": -50 }),
    )
    .await;
    assert_eq!(
        floor.json["usage"]["count"], 0,
        "never below zero: {}",
        floor.text
    );

    let e = entitlements(&server, &sk, "ada").await;
    assert_eq!(e["meters"]["requests"]["used"], 1, "{e}");
    assert_eq!(e["meters"]["exports"]["used"], 2);
    assert_eq!(e["meters"]["exports"]["remaining"], 0);
    assert_eq!(e["meters"]["exports"]["reset"], "day");
    assert!(e["meters"]["exports"]["resetsAt"].is_string());
    assert_eq!(e["meters"]["seats"]["used"], 0);
    assert_eq!(e["meters"]["seats"]["reset"], "never");
    assert!(
        e["meters"]["seats"].get("resetsAt").is_none(),
        "a lifetime meter never resets: {e}"
    );
    assert!(
        e["meters"].get("tokens").is_none(),
        "not on the free plan: {e}"
    );

    // Upgrading keeps the counts and applies the new limits at once.
    let customer = e["customerId"].as_str().expect("customer id").to_owned();
    let upgraded = server
        .send(
            Method::PATCH,
            &format!("/api/customers/{customer}"),
            Some(&sk),
            &[],
            Some(json!({ "plan": "pro" })),
        )
        .await;
    assert_eq!(upgraded.status, 200, "{}", upgraded.text);
    let more = track(&server, &sk, "ada", json!({ "meter": "exports" })).await;
    assert_eq!(more.status, 200, "{}", more.text);
    assert_eq!(more.json["usage"]["count"], 3);
    assert_eq!(more.json["usage"]["limit"], 50);
}

#[tokio::test]
async fn bad_meters_and_amounts_are_refused_naming_the_field() {
    let server = TestServer::start().await;
    let sk = priced(&server).await;
    for (body, field) in [
        (json!({ "meter": "uploads" }), "/meter"),
        (json!({ "meter": "Exports!" }), "/meter"),
        (json!({ "meter": "exports", "amount": -1 }), "/amount"),
        (json!({ "amount": -1 }), "/amount"),
        (json!({ "amount": 0 }), "/amount"),
        (json!({ "meter": "seats", "amount": 1_000_001 }), "/amount"),
        (json!({ "meter": null }), "/meter"),
        (json!({ "meter": "" }), "/meter"),
    ] {
        let reply = track(&server, &sk, "bo", body.clone()).await;
        reply.assert_error(400, "invalid_request");
        assert_eq!(reply.json["field"], field, "{body} → {}", reply.text);
    }
    for (meters, field) in [
        (
            json!({ "requests": { "limit": 5, "reset": "day" } }),
            "/tiers/0/meters/requests",
        ),
        (
            json!({ "Bad-Name": { "limit": 5, "reset": "day" } }),
            "/tiers/0/meters/Bad-Name",
        ),
        (
            json!({ "exports": { "limit": 5, "reset": "hourly" } }),
            "/tiers/0/meters/exports/reset",
        ),
        (
            json!({ "exports": { "limit": 5, "reset": "day", "alerts": [0] } }),
            "/tiers/0/meters/exports/alerts/0",
        ),
        (
            json!({ "exports": { "limit": 5, "reset": "day", "extra": 1 } }),
            "/tiers/0/meters/exports/extra",
        ),
    ] {
        let reply = server
            .create_products(json!({ "mode": "test", "tiers": [
                { "name": "free", "price": 0, "meters": meters }
            ]}))
            .await;
        reply.assert_error(400, "invalid_request");
        assert_eq!(reply.json["field"], field, "{meters} → {}", reply.text);
    }
}

#[tokio::test]
async fn credits_are_spent_after_the_allowance_once_per_grant_and_announced() {
    let server = TestServer::start().await;
    let sk = priced(&server).await;
    let customer = server
        .customer(&sk, json!({ "externalId": "cy", "plan": "pro" }))
        .await;
    let path = format!("/api/customers/{customer}/credits");
    let grant = |key: &'static str| {
        let server = &server;
        let sk = sk.clone();
        let path = path.clone();
        async move {
            server
                .send(
                    Method::POST,
                    &path,
                    Some(&sk),
                    &[("Idempotency-Key", key)],
                    Some(json!({ "meter": "tokens", "amount": 5, "reason": "top-up" })),
                )
                .await
        }
    };
    let first = grant("grant-1").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["balance"], 5);
    let again = grant("grant-1").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["balance"], 5, "the same key grants once");
    let second = grant("grant-2").await;
    assert_eq!(second.json["balance"], 10, "{}", second.text);

    // tokens has an allowance of 0 on pro: everything is paid by credits.
    let check = server
        .send(
            Method::GET,
            "/api/check?meter=tokens&amount=10",
            Some(&sk),
            &[("X-User-Id", "cy")],
            None,
        )
        .await;
    assert_eq!(check.json["allowed"], true, "{}", check.text);
    assert_eq!(check.json["credits"], 10);
    let spent = track(
        &server,
        &sk,
        "cy",
        json!({ "meter": "tokens", "amount": 7 }),
    )
    .await;
    assert_eq!(spent.status, 200, "{}", spent.text);
    assert_eq!(spent.json["usage"]["creditsSpent"], 7);
    let short = track(
        &server,
        &sk,
        "cy",
        json!({ "meter": "tokens", "amount": 4 }),
    )
    .await;
    short.assert_error(429, "usage_limit_reached");
    let e = entitlements(&server, &sk, "cy").await;
    assert_eq!(
        e["meters"]["tokens"]["credits"], 3,
        "nothing spent on a refusal: {e}"
    );
    assert_eq!(e["meters"]["tokens"]["used"], 7);

    let granted = events_of(&server, &sk, "credits.granted").await;
    assert_eq!(granted.len(), 2, "one event per grant: {granted:?}");
    let consumed = events_of(&server, &sk, "credits.consumed").await;
    assert_eq!(consumed.len(), 1, "{consumed:?}");
    assert_eq!(consumed[0]["data"]["amount"], 7);
    assert_eq!(consumed[0]["data"]["meter"], "tokens");

    let unknown = server
        .post(&path, &sk, json!({ "meter": "nope", "amount": 1 }))
        .await;
    unknown.assert_error(400, "invalid_request");
    assert_eq!(unknown.json["field"], "/meter");
    let missing = server
        .post(
            "/api/customers/usr_missing/credits",
            &sk,
            json!({ "meter": "tokens", "amount": 1 }),
        )
        .await;
    assert_eq!(missing.status, 404, "{}", missing.text);
}

#[tokio::test]
async fn fifty_concurrent_tracks_spend_a_balance_of_twenty_exactly() {
    let server = TestServer::start().await;
    let sk = priced(&server).await;
    let customer = server
        .customer(&sk, json!({ "externalId": "dee", "plan": "pro" }))
        .await;
    let granted = server
        .post(
            &format!("/api/customers/{customer}/credits"),
            &sk,
            json!({ "meter": "tokens", "amount": 20 }),
        )
        .await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    let replies =
        join_all((0..50).map(|_| track(&server, &sk, "dee", json!({ "meter": "tokens" })))).await;
    let accepted = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!((accepted, refused), (20, 30));
    let e = entitlements(&server, &sk, "dee").await;
    assert_eq!(e["meters"]["tokens"]["credits"], 0, "{e}");
    assert_eq!(e["meters"]["tokens"]["used"], 20);
}

#[tokio::test]
async fn a_hundred_concurrent_tracks_against_a_daily_limit_of_ten_accept_ten() {
    let server = TestServer::start().await;
    let reply = server
        .create_products(json!({ "mode": "test", "tiers": [
            { "name": "free", "price": 0,
              "meters": { "exports": { "limit": 10, "reset": "day" } } }
        ]}))
        .await;
    let sk = creds(&reply.json).secret_key;
    let replies =
        join_all((0..100).map(|_| track(&server, &sk, "eve", json!({ "meter": "exports" })))).await;
    let mut counts: Vec<u64> = replies
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.json["usage"]["count"].as_u64().expect("count"))
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=10).collect::<Vec<_>>());
    assert!(replies.iter().all(|r| r.status == 200 || r.status == 429));
}

#[tokio::test]
async fn a_customer_key_counts_its_own_meter_unless_the_call_names_another() {
    let server = TestServer::start().await;
    let sk = priced(&server).await;
    let customer = server
        .customer(&sk, json!({ "externalId": "fay", "plan": "pro" }))
        .await;
    let issued = server
        .post(
            &format!("/api/customers/{customer}/keys"),
            &sk,
            json!({ "name": "exporter", "meter": "exports" }),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    assert_eq!(issued.json["key"]["meter"], "exports");
    let key = issued.json["secret"].as_str().expect("secret").to_owned();
    let counted = server
        .post("/api/keys/verify", &sk, json!({ "key": key, "amount": 2 }))
        .await;
    assert_eq!(counted.json["code"], "VALID", "{}", counted.text);
    let named = server
        .post(
            "/api/keys/verify",
            &sk,
            json!({ "key": key, "amount": 1, "meter": "requests" }),
        )
        .await;
    assert_eq!(named.json["code"], "VALID", "{}", named.text);
    let e = entitlements(&server, &sk, "fay").await;
    assert_eq!(
        (
            &e["meters"]["exports"]["used"],
            &e["meters"]["requests"]["used"]
        ),
        (&json!(2), &json!(1)),
        "{e}"
    );
    let rolled = server
        .post(
            &format!(
                "/api/customers/{customer}/keys/{}/roll",
                issued.json["key"]["id"].as_str().expect("id")
            ),
            &sk,
            json!({}),
        )
        .await;
    assert_eq!(rolled.status, 201, "{}", rolled.text);
    assert_eq!(
        rolled.json["key"]["meter"], "exports",
        "a rolled key keeps its meter"
    );
    let unknown = server
        .post(
            &format!("/api/customers/{customer}/keys"),
            &sk,
            json!({ "meter": "uploads" }),
        )
        .await;
    unknown.assert_error(400, "invalid_request");
    assert_eq!(unknown.json["field"], "/meter");
    // A malformed meter is the caller's mistake whatever the key.
    let malformed = server
        .post(
            "/api/keys/verify",
            &sk,
            json!({ "key": "ck_test_unknown", "amount": 1, "meter": "" }),
        )
        .await;
    malformed.assert_error(400, "invalid_request");
    assert_eq!(malformed.json["field"], "/meter");
}

#[tokio::test]
async fn the_usage_history_is_kept_per_meter() {
    let server = TestServer::start().await;
    let sk = priced(&server).await;
    track(
        &server,
        &sk,
        "gus",
        json!({ "meter": "exports", "amount": 2 }),
    )
    .await;
    track(&server, &sk, "gus", json!({})).await;
    let history = |meter: &str| {
        let server = &server;
        let sk = sk.clone();
        let path = format!("/api/usage/history?granularity=hour&meter={meter}");
        async move { server.get(&path, &sk).await }
    };
    let exports = history("exports").await;
    assert_eq!(exports.status, 200, "{}", exports.text);
    assert_eq!(
        (exports.json["meter"].clone(), exports.json["total"].clone()),
        (json!("exports"), json!(2))
    );
    assert_eq!(history("requests").await.json["total"], 1);
    assert_eq!(
        history("seats").await.json["total"],
        0,
        "defined, never counted"
    );
    let unknown = history("uploads").await;
    unknown.assert_error(400, "invalid_request");
    assert_eq!(unknown.json["field"], "meter");
}
