//! The audit log through the HTTP API: an entry for every management action with
//! its actor and request id, newest-first paging, platform and mode isolation,
//! and no secret in any entry (PostgreSQL).

use std::collections::BTreeSet;

use dream_stripe_standin::TEST_DIRECT_KEY;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    billing::Billing,
    support::{fresh_database, Reply, TestServer},
};

const DIRECT_WEBHOOK_SECRET: &str = "whsec_AuditLogDirectEndpointSecret42";
const PASSWORD: &str = "correct horse battery staple 42";

/// Every entry of a platform's log through the admin route, following cursors.
async fn whole_log(server: &TestServer, platform_id: &str, query: &str) -> Vec<Value> {
    let mut entries: Vec<Value> = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/admin/platforms/{platform_id}/audit?limit=3{query}");
        if let Some(after) = &cursor {
            path.push_str(&format!("&startingAfter={after}"));
        }
        let page = server.get(&path, &server.admin_token).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let data = page.json["data"].as_array().expect("data").clone();
        assert!(data.len() <= 3, "limit honoured");
        entries.extend(data);
        if page.json["hasMore"] != true {
            break;
        }
        cursor = entries
            .last()
            .and_then(|e| e["id"].as_str())
            .map(str::to_owned);
        assert!(entries.len() < 1000, "paging must end");
    }
    entries
}

fn send_ok(reply: &Reply, what: &str) {
    assert!(
        reply.status.is_success(),
        "{what}: {} {}",
        reply.status,
        reply.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_management_action_is_audited_with_its_actor_and_no_secret() {
    let master = "5e".repeat(32);
    let database = fresh_database();
    let b = Billing::start_with(&[
        ("DREAM_MASTER_KEY", master.as_str()),
        ("DATABASE_URL", database.as_str()),
        ("DREAM_STORE", "postgres"),
    ])
    .await;
    let server = &b.server;
    let admin = b.admin();
    let mut secrets: Vec<String> = vec![
        TEST_DIRECT_KEY.to_owned(),
        DIRECT_WEBHOOK_SECRET.to_owned(),
        PASSWORD.to_owned(),
        admin.clone(),
    ];

    // Operator actions.
    let tenant = server.tenant("test", 100).await;
    secrets.push(tenant.secret_key.clone());
    let platform = tenant.platform_id.clone();
    let issued = server
        .post(
            &format!("/admin/platforms/{platform}/keys"),
            &admin,
            json!({ "mode": "test", "label": "ci" }),
        )
        .await;
    send_ok(&issued, "issue key");
    secrets.push(
        issued.json["secretKey"]
            .as_str()
            .expect("secret")
            .to_owned(),
    );
    let issued_id = issued.json["key"]["id"].as_str().expect("id").to_owned();
    let rolled = server
        .post(
            &format!("/admin/keys/{issued_id}/roll"),
            &admin,
            json!({ "overlapSeconds": 3600 }),
        )
        .await;
    send_ok(&rolled, "roll key");
    secrets.push(
        rolled.json["secretKey"]
            .as_str()
            .expect("secret")
            .to_owned(),
    );
    let roll_request_id = rolled
        .header("x-request-id")
        .expect("request id")
        .to_owned();
    let revoked = server
        .send(
            Method::DELETE,
            &format!("/admin/keys/{issued_id}"),
            Some(&admin),
            &[],
            None,
        )
        .await;
    send_ok(&revoked, "revoke key");
    let origins = server
        .send(
            Method::PATCH,
            &format!("/admin/platforms/{platform}"),
            Some(&admin),
            &[],
            Some(json!({ "allowedOrigins": ["https://shop.example.com"] })),
        )
        .await;
    send_ok(&origins, "allowed origins");
    let connected = server
        .send(
            Method::PUT,
            &format!("/admin/platforms/{platform}/stripe"),
            Some(&admin),
            &[],
            Some(json!({ "mode": "test", "secretKey": TEST_DIRECT_KEY,
                         "webhookSecret": DIRECT_WEBHOOK_SECRET })),
        )
        .await;
    send_ok(&connected, "connect direct");
    let disconnected = server
        .send(
            Method::DELETE,
            &format!("/admin/platforms/{platform}/stripe?mode=test"),
            Some(&admin),
            &[],
            None,
        )
        .await;
    send_ok(&disconnected, "disconnect");
    // Connect onboarding: the browser's callback carries no credential.
    b.connect(&platform, "test").await;

    // Secret-key actions.
    let sk = tenant.secret_key.clone();
    let customer = server
        .customer(&sk, json!({ "externalId": "ada", "password": PASSWORD }))
        .await;
    let updated = server
        .send(
            Method::PATCH,
            &format!("/api/customers/{customer}"),
            Some(&sk),
            &[],
            Some(json!({ "plan": "pro", "password": PASSWORD })),
        )
        .await;
    // A password in a PATCH may not be accepted; a plan change alone is enough.
    if !updated.status.is_success() {
        send_ok(
            &server
                .send(
                    Method::PATCH,
                    &format!("/api/customers/{customer}"),
                    Some(&sk),
                    &[],
                    Some(json!({ "plan": "pro" })),
                )
                .await,
            "update customer",
        );
    }
    send_ok(
        &server
            .send(
                Method::DELETE,
                &format!("/api/customers/{customer}"),
                Some(&sk),
                &[],
                None,
            )
            .await,
        "delete customer",
    );
    let endpoint = server
        .post(
            "/api/webhooks/endpoints",
            &sk,
            json!({ "url": "https://hooks.example.com/dream?token=tok_inquery" }),
        )
        .await;
    send_ok(&endpoint, "create endpoint");
    secrets.push(endpoint.json["secret"].as_str().expect("whsec").to_owned());
    secrets.push("tok_inquery".to_owned());
    let endpoint_id = endpoint.json["id"]
        .as_str()
        .expect("endpoint id")
        .to_owned();
    let rotated = server
        .send(
            Method::PATCH,
            &format!("/api/webhooks/endpoints/{endpoint_id}"),
            Some(&sk),
            &[],
            Some(json!({ "rotateSecret": true })),
        )
        .await;
    send_ok(&rotated, "rotate endpoint secret");
    let revealed = server
        .get(
            &format!("/api/webhooks/endpoints/{endpoint_id}/secret"),
            &sk,
        )
        .await;
    send_ok(&revealed, "reveal secret");
    secrets.push(revealed.json["secret"].as_str().expect("whsec").to_owned());
    send_ok(
        &server
            .send(
                Method::DELETE,
                &format!("/api/webhooks/endpoints/{endpoint_id}"),
                Some(&sk),
                &[],
                None,
            )
            .await,
        "delete endpoint",
    );

    // The log, walked page by page, equals one big page.
    let entries = whole_log(server, &platform, "").await;
    let one_page = server
        .get(
            &format!("/admin/platforms/{platform}/audit?limit=100"),
            &admin,
        )
        .await;
    assert_eq!(
        Value::Array(entries.clone()),
        one_page.json["data"],
        "paging must visit the same entries in the same order"
    );

    let sk_key_id = {
        let keys = server
            .get(
                &format!("/admin/platforms/{platform}/keys?mode=test"),
                &admin,
            )
            .await;
        keys.json["data"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| {
                k["label"] == "default"
                    && k.get("revokedAt").is_none()
                    && k.get("expiresAt").is_none()
            })
            .and_then(|k| k["id"].as_str())
            .expect("the create-products key")
            .to_owned()
    };
    let seen: BTreeSet<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("action").to_owned(),
                e["actor"].as_str().expect("actor").to_owned(),
            )
        })
        .collect();
    for (action, actor) in [
        ("platform.created", "operator"),
        ("tiers.replaced", "operator"),
        ("key.created", "operator"),
        ("key.rolled", "operator"),
        ("key.revoked", "operator"),
        ("platform.allowed_origins_replaced", "operator"),
        ("stripe.connected", "operator"),
        ("stripe.disconnected", "operator"),
        ("stripe.connected", "system"),
        ("customer.created", sk_key_id.as_str()),
        ("customer.updated", sk_key_id.as_str()),
        ("customer.deleted", sk_key_id.as_str()),
        ("webhook_endpoint.created", sk_key_id.as_str()),
        ("webhook_endpoint.updated", sk_key_id.as_str()),
        ("webhook_endpoint.secret_revealed", sk_key_id.as_str()),
        ("webhook_endpoint.deleted", sk_key_id.as_str()),
    ] {
        assert!(
            seen.contains(&(action.to_owned(), actor.to_owned())),
            "no {action} by {actor} in {seen:?}"
        );
    }
    let systems: Vec<&Value> = entries.iter().filter(|e| e["actor"] == "system").collect();
    assert_eq!(
        systems.len(),
        1,
        "only the Connect callback acts without a caller: {systems:?}"
    );
    // Newest first: the last action is the first entry.
    assert_eq!(entries[0]["action"], "webhook_endpoint.deleted");
    assert_eq!(
        entries.last().expect("entries")["action"],
        "platform.created"
    );
    for e in &entries {
        assert!(
            e["requestId"]
                .as_str()
                .is_some_and(|r| r.starts_with("req_")),
            "every entry made through the API names its request: {e}"
        );
        assert!(
            e["id"].as_str().is_some_and(|id| id.starts_with("aud_")),
            "{e}"
        );
    }
    let roll = entries
        .iter()
        .find(|e| e["action"] == "key.rolled")
        .expect("roll entry");
    assert_eq!(roll["requestId"], roll_request_id.as_str());
    assert_eq!(roll["objectId"], issued_id.as_str());
    assert_eq!(roll["mode"], "test");
    assert_eq!(roll["detail"]["overlapSeconds"], 3600);

    // The secret key's own view: the same platform's test-mode and platform-wide
    // entries.
    let own = server.get("/api/audit?limit=100", &sk).await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(
        own.json["data"], one_page.json["data"],
        "all entries are test or platform-wide"
    );

    // No secret anywhere in the log.
    let text = format!("{}{}", one_page.text, own.text);
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret leaked into the audit log"
        );
    }
    for prefix in ["sk_test_", "sk_live_", "whsec_", "rk_test_", "rk_live_"] {
        assert!(!text.contains(prefix), "{prefix}… in the audit log: {text}");
    }
}

#[tokio::test]
async fn audit_logs_are_per_platform_and_per_mode_and_check_their_cursors() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let a = server.tenant("test", 10).await;
    let b = server.tenant("test", 10).await;
    let live = server
        .post(
            &format!("/admin/platforms/{}/keys", a.platform_id),
            &admin,
            json!({ "mode": "live" }),
        )
        .await;
    assert_eq!(live.status, 201, "{}", live.text);
    let live_key = live.json["key"]["id"].as_str().expect("id").to_owned();

    let a_all = whole_log(&server, &a.platform_id, "").await;
    let b_all = whole_log(&server, &b.platform_id, "").await;
    let ids = |entries: &[Value]| -> BTreeSet<String> {
        entries
            .iter()
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert!(
        ids(&a_all).is_disjoint(&ids(&b_all)),
        "logs must not overlap"
    );
    assert!(a_all.iter().any(|e| e["objectId"] == live_key.as_str()));

    // A test key sees neither the other platform's entries nor live-mode ones.
    let a_view = server.get("/api/audit?limit=100", &a.secret_key).await;
    assert_eq!(a_view.status, 200, "{}", a_view.text);
    let a_view = a_view.json["data"].as_array().expect("data").clone();
    assert!(ids(&a_view).is_subset(&ids(&a_all)));
    assert!(a_view.iter().all(|e| e["mode"] != "live"), "{a_view:?}");
    assert!(!a_view.iter().any(|e| e["objectId"] == live_key.as_str()));
    let live_only = whole_log(&server, &a.platform_id, "&mode=live").await;
    assert!(live_only.iter().any(|e| e["objectId"] == live_key.as_str()));
    assert!(live_only.iter().all(|e| e["mode"] != "test"));

    // Another platform's entry is not a cursor here; neither is garbage.
    let foreign = b_all[0]["id"].as_str().expect("id");
    let reply = server
        .get(
            &format!("/api/audit?startingAfter={foreign}"),
            &a.secret_key,
        )
        .await;
    reply.assert_error(400, "invalid_request");
    assert_eq!(reply.json["field"], "startingAfter");
    server
        .get("/api/audit?startingAfter=evt_abc", &a.secret_key)
        .await
        .assert_error(400, "invalid_request");
    // Unknown platform: 404; no admin token: 401.
    server
        .get("/admin/platforms/plt_doesnotexist/audit", &admin)
        .await
        .assert_error(404, "not_found");
    server
        .get(
            &format!("/admin/platforms/{}/audit", a.platform_id),
            &a.secret_key,
        )
        .await
        .assert_error(401, "invalid_api_key");
    // A publishable key cannot read the log.
    let pk = server.get("/api/audit", &a.publishable_key).await;
    assert_eq!(pk.status, 401, "{}", pk.text);
}
