//! `POST /webhook/clerk`: Clerk user events signed with Svix's official library
//! (PyPI `svix`), delivered to the real server, routed by the publishable key in
//! the user's public metadata, applied once and in Clerk's order.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{Creds, Reply, TestServer};

/// The endpoint's current secret, and one being rotated out (both accepted).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// A well-formed secret the server does not know.
const FOREIGN_SECRET: &str = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA==";

/// One delivery to sign: message id, unix seconds, body, secret.
type ToSign<'a> = (&'a str, i64, &'a str, &'a str);

/// A delivery that must be refused: what it is, body, headers, the header blamed.
type RefusalCase<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);

/// Signs each payload with `svix.webhooks.Webhook(secret).sign(msg_id, datetime,
/// payload)`, all in one Python process.
fn svix_sign(items: &[ToSign<'_>]) -> Vec<String> {
    let python = std::env::var("DREAM_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("DREAM_TEST_PYTHON is not set: run ./scripts/test, which installs Svix's official signer")
    });
    let script = "import json, sys\n\
                  from datetime import datetime, timezone\n\
                  from svix.webhooks import Webhook\n\
                  for msg_id, ts, payload, secret in json.load(sys.stdin):\n    \
                  print(Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), payload))";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let input = serde_json::to_vec(&items).expect("items serialize");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("signer input");
    let out = child.wait_with_output().expect("signer");
    assert!(out.status.success(), "the official signer failed");
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .expect("signer output")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), items.len(), "one signature per item");
    lines
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A Clerk `user.created`/`user.updated` event as Clerk sends it (trimmed, plus a
/// few fields dream does not read). `at_ms` is the event's `timestamp`.
fn user_event(kind: &str, user: &str, at_ms: i64, pk: Option<&str>, email: &str) -> String {
    let metadata = match pk {
        Some(pk) => json!({ "publishableKey": pk, "team": "blue" }),
        None => json!({}),
    };
    json!({
        "data": {
            "backup_code_enabled": false,
            "created_at": at_ms - 5_000,
            "email_addresses": [
                {
                    "email_address": "secondary@example.com",
                    "id": "idn_secondary",
                    "object": "email_address",
                    "verification": { "status": "verified", "strategy": "ticket" }
                },
                {
                    "email_address": email,
                    "id": "idn_primary",
                    "linked_to": [],
                    "object": "email_address",
                    "verification": { "status": "verified", "strategy": "ticket" }
                }
            ],
            "external_accounts": [],
            "external_id": null,
            "first_name": "Ada",
            "id": user,
            "image_url": "https://img.clerk.com/x",
            "last_name": "Lovelace",
            "last_sign_in_at": null,
            "object": "user",
            "phone_numbers": [],
            "primary_email_address_id": "idn_primary",
            "private_metadata": {},
            "public_metadata": metadata,
            "unsafe_metadata": {},
            "updated_at": at_ms - 100,
            "username": null
        },
        "event_attributes": { "http_request": { "client_ip": "0.0.0.0", "user_agent": "x" } },
        "instance_id": "ins_2abc",
        "object": "event",
        "timestamp": at_ms,
        "type": kind
    })
    .to_string()
}

/// Clerk's `user.deleted`: no metadata, just the id.
fn deleted_event(user: &str, at_ms: i64) -> String {
    json!({
        "data": { "deleted": true, "id": user, "object": "user" },
        "object": "event",
        "timestamp": at_ms,
        "type": "user.deleted"
    })
    .to_string()
}

async fn clerk_server() -> TestServer {
    let secrets = format!("{SECRET}, {OLD_SECRET}");
    TestServer::start_with(|config| {
        config
            .apply_env(|name| (name == "CLERK_WEBHOOK_SECRET").then(|| secrets.clone()))
            .expect("clerk config");
    })
    .await
}

/// POSTs `payload` with exactly `headers`.
async fn deliver(server: &TestServer, payload: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = server
        .http
        .post(format!("{}/webhook/clerk", server.base))
        .header("content-type", "application/json")
        .body(payload.to_owned());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    TestServer::reply(req.send().await.expect("delivered")).await
}

/// Signs (officially, with `SECRET`, now) and delivers as Clerk does, with the
/// `svix-*` headers; asserts 200 and returns the `result`.
async fn send(server: &TestServer, msg_id: &str, payload: &str) -> String {
    let ts = now();
    let signature = svix_sign(&[(msg_id, ts, payload, SECRET)]).remove(0);
    let ts = ts.to_string();
    let reply = deliver(
        server,
        payload,
        &[
            ("svix-id", msg_id),
            ("svix-timestamp", &ts),
            ("svix-signature", &signature),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{msg_id}: {}", reply.text);
    assert_eq!(reply.json["received"], true, "{}", reply.text);
    reply.json["result"].as_str().expect("result").to_owned()
}

/// The customer with this id or external id, or `None` on 404.
async fn customer(server: &TestServer, sk: &str, reference: &str) -> Option<Value> {
    let reply = server.get(&format!("/api/customers/{reference}"), sk).await;
    match reply.status.as_u16() {
        200 => Some(reply.json["customer"].clone()),
        404 => None,
        other => panic!("GET customer answered {other}: {}", reply.text),
    }
}

async fn events_of(server: &TestServer, sk: &str, kind: &str) -> usize {
    let reply = server.get("/api/events?limit=100", sk).await;
    reply.json["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == kind)
        .count()
}

/// `dream_webhooks_{name}_total{source="clerk"}` from `GET /admin/metrics`. The
/// counters are per process and tests run in parallel in one process: compare
/// with "at least".
async fn clerk_metric(server: &TestServer, name: &str) -> u64 {
    let reply = server.get("/admin/metrics", &server.admin_token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let prefix = format!("dream_webhooks_{name}_total{{source=\"clerk\"}} ");
    reply
        .text
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in\n{}", reply.text))
}

/// A unique Clerk user id per call, so tests never share users.
fn user_id(what: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "user_{what}{}x{}",
        NEXT.fetch_add(1, Ordering::Relaxed),
        now()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_become_customers_once_and_in_clerk_order() {
    let server = clerk_server().await;
    let creds = server.tenant("test", 5).await;
    let (pk, sk) = (creds.publishable_key.as_str(), creds.secret_key.as_str());
    let user = user_id("ada");
    let t = now() * 1000;
    let (applied, duplicates, ignored) = (
        clerk_metric(&server, "applied").await,
        clerk_metric(&server, "duplicates").await,
        clerk_metric(&server, "ignored").await,
    );

    // Created: the customer appears under the Clerk id, with the primary email.
    let created = user_event("user.created", &user, t, Some(pk), "ada@example.com");
    assert_eq!(send(&server, "msg_created", &created).await, "applied");
    let c = customer(&server, sk, &user).await.expect("created");
    assert_eq!(
        (
            &c["externalId"],
            &c["email"],
            &c["firstName"],
            &c["lastName"],
            &c["plan"]
        ),
        (
            &json!(user),
            &json!("ada@example.com"),
            &json!("Ada"),
            &json!("Lovelace"),
            &json!("free")
        ),
        "{c}"
    );
    let id = c["id"].as_str().expect("id").to_owned();

    // The same svix-id again (Clerk's retry) changes nothing.
    assert_eq!(send(&server, "msg_created", &created).await, "duplicate");
    assert_eq!(customer(&server, sk, &user).await.expect("still there"), c);
    assert_eq!(events_of(&server, sk, "customer.created").await, 1);

    // Updated: the new primary email.
    let updated = user_event(
        "user.updated",
        &user,
        t + 2_000,
        Some(pk),
        "ada@new.example",
    );
    assert_eq!(send(&server, "msg_updated", &updated).await, "applied");
    let c = customer(&server, sk, &user).await.expect("updated");
    assert_eq!(
        (&c["id"], &c["email"]),
        (&json!(id), &json!("ada@new.example"))
    );

    // An older update delivered late is ignored.
    let late = user_event(
        "user.updated",
        &user,
        t + 1_000,
        Some(pk),
        "ada@stale.example",
    );
    assert_eq!(send(&server, "msg_late", &late).await, "ignored");
    assert_eq!(
        customer(&server, sk, &user).await.expect("kept")["email"],
        "ada@new.example"
    );

    // Deleted: the customer goes; a late older update does not bring it back.
    let deleted = deleted_event(&user, t + 3_000);
    assert_eq!(send(&server, "msg_deleted", &deleted).await, "applied");
    assert_eq!(customer(&server, sk, &user).await, None);
    assert_eq!(customer(&server, sk, &id).await, None);
    let late = user_event(
        "user.updated",
        &user,
        t + 2_500,
        Some(pk),
        "ada@zombie.example",
    );
    assert_eq!(send(&server, "msg_zombie", &late).await, "ignored");
    assert_eq!(customer(&server, sk, &user).await, None, "no resurrection");
    assert_eq!(events_of(&server, sk, "customer.created").await, 1);
    assert_eq!(events_of(&server, sk, "customer.deleted").await, 1);
    // Deleted again (a second delete event): nothing left to do.
    let again = deleted_event(&user, t + 4_000);
    assert_eq!(send(&server, "msg_deleted_again", &again).await, "applied");
    assert_eq!(events_of(&server, sk, "customer.deleted").await, 1);
    assert!(clerk_metric(&server, "applied").await >= applied + 4);
    assert!(clerk_metric(&server, "duplicates").await > duplicates);
    assert!(clerk_metric(&server, "ignored").await >= ignored + 2);

    // A customer the developer created through the API is linked, not duplicated.
    let bob = user_id("bob");
    let made = server
        .customer(sk, json!({ "externalId": bob, "plan": "pro" }))
        .await;
    let event = user_event("user.created", &bob, t, Some(pk), "bob@example.com");
    assert_eq!(send(&server, "msg_bob", &event).await, "applied");
    let c = customer(&server, sk, &bob).await.expect("bob");
    assert_eq!(
        (&c["id"], &c["plan"], &c["email"]),
        (&json!(made), &json!("pro"), &json!("bob@example.com")),
        "the existing customer keeps its id and plan and gets Clerk's profile"
    );

    // The Standard Webhooks header names work too.
    let carol = user_id("carol");
    let payload = user_event("user.created", &carol, t, Some(pk), "carol@example.com");
    let ts = now();
    let signature = svix_sign(&[("msg_carol", ts, &payload, SECRET)]).remove(0);
    let reply = deliver(
        &server,
        &payload,
        &[
            ("webhook-id", "msg_carol"),
            ("webhook-timestamp", &ts.to_string()),
            ("webhook-signature", &signature),
        ],
    )
    .await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);
    assert!(customer(&server, sk, &carol).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publishable_key_routes_users_to_their_tenant() {
    let server = clerk_server().await;
    let test = server.tenant("test", 5).await;
    // The same platform's live tenant, with its own key pair.
    let live_reply = server
        .create_products(json!({
            "mode": "live",
            "platformId": test.platform_id,
            "tiers": crate::support::standard_tiers(5)
        }))
        .await;
    assert_eq!(live_reply.status, 200, "{}", live_reply.text);
    let live = crate::support::creds(&live_reply.json);
    let other = server.tenant("test", 5).await;
    let t = now() * 1000;

    // A live key routes to the live tenant, not the test one.
    let dana = user_id("dana");
    let event = user_event(
        "user.created",
        &dana,
        t,
        Some(&live.publishable_key),
        "d@example.com",
    );
    assert_eq!(send(&server, "msg_dana", &event).await, "applied");
    assert!(customer(&server, &live.secret_key, &dana).await.is_some());
    assert_eq!(customer(&server, &test.secret_key, &dana).await, None);

    // Unknown, missing or malformed keys, and other event types: acknowledged, ignored.
    let erin = user_id("erin");
    for (msg, pk, kind) in [
        (
            "msg_unknown_pk",
            Some("pk_test_0000000000000000000000"),
            "user.created",
        ),
        ("msg_no_pk", None, "user.created"),
        (
            "msg_secret_as_pk",
            Some(test.secret_key.as_str()),
            "user.updated",
        ),
        ("msg_bad_pk", Some("not a key"), "user.created"),
        (
            "msg_session",
            Some(test.publishable_key.as_str()),
            "session.created",
        ),
    ] {
        let event = user_event(kind, &erin, t, pk, "e@example.com");
        assert_eq!(send(&server, msg, &event).await, "ignored", "{msg}");
    }
    for creds in [&test, &live, &other] {
        assert_eq!(customer(&server, &creds.secret_key, &erin).await, None);
    }
    // A delete of a user dream never saw is acknowledged and ignored.
    let deleted = deleted_event(&user_id("ghost"), t);
    assert_eq!(send(&server, "msg_ghost", &deleted).await, "ignored");

    // A user stays in the tenant it first reached, whatever its metadata says later.
    let fay = user_id("fay");
    let event = user_event(
        "user.created",
        &fay,
        t,
        Some(&test.publishable_key),
        "f@example.com",
    );
    assert_eq!(send(&server, "msg_fay", &event).await, "applied");
    let moved = user_event(
        "user.updated",
        &fay,
        t + 1_000,
        Some(&other.publishable_key),
        "f@moved.example",
    );
    assert_eq!(send(&server, "msg_fay_moved", &moved).await, "ignored");
    assert_eq!(customer(&server, &other.secret_key, &fay).await, None);
    assert_eq!(
        customer(&server, &test.secret_key, &fay)
            .await
            .expect("fay")["email"],
        "f@example.com"
    );

    // A revoked publishable key still routes: users keep old metadata after a rotation.
    revoke_first_pair(&server, &test).await;
    let gus = user_id("gus");
    let event = user_event(
        "user.created",
        &gus,
        t,
        Some(&test.publishable_key),
        "g@example.com",
    );
    assert_eq!(send(&server, "msg_gus", &event).await, "applied");
    let rotated = issue_pair(&server, &test.platform_id).await;
    assert!(customer(&server, &rotated, &gus).await.is_some());
}

/// Issues a second test pair for the platform; returns its secret key.
async fn issue_pair(server: &TestServer, platform: &str) -> String {
    let admin = server.admin_token.clone();
    let issued = server
        .post(
            &format!("/admin/platforms/{platform}/keys"),
            &admin,
            json!({ "mode": "test" }),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    issued.json["secretKey"]
        .as_str()
        .expect("secretKey")
        .to_owned()
}

/// Revokes the tenant's first key pair (the one `creds` holds).
async fn revoke_first_pair(server: &TestServer, creds: &Creds) {
    let admin = server.admin_token.clone();
    let list = server
        .get(
            &format!("/admin/platforms/{}/keys?mode=test", creds.platform_id),
            &admin,
        )
        .await;
    let first = list.json["data"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["publishableKey"] == creds.publishable_key.as_str())
        .expect("the first pair is listed");
    let revoked = server
        .send(
            Method::DELETE,
            &format!("/admin/keys/{}", first["id"].as_str().expect("key id")),
            Some(&admin),
            &[],
            None,
        )
        .await;
    assert!(revoked.status.is_success(), "{}", revoked.text);
    assert_eq!(
        server.get("/api/customers", &creds.secret_key).await.status,
        401,
        "the revoked secret key is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_checked_like_svix_specifies() {
    let server = clerk_server().await;
    let creds = server.tenant("test", 5).await;
    let user = user_id("sig");
    let payload = user_event(
        "user.created",
        &user,
        now() * 1000,
        Some(&creds.publishable_key),
        "s@example.com",
    );
    let t = now();
    let signed = svix_sign(&[
        ("msg_sig", t, &payload, SECRET),
        ("msg_sig", t, &payload, FOREIGN_SECRET),
        ("msg_sig", t - 400, &payload, SECRET),
        ("msg_sig_old", t, &payload, OLD_SECRET),
        ("msg_not_json", t, "not json", SECRET),
    ]);
    let ts = t.to_string();
    let stale = (t - 400).to_string();
    let tampered = payload.replace("s@example.com", "mallory@example.com");
    let cases: Vec<RefusalCase<'_>> = vec![
        (
            "tampered body",
            &tampered,
            vec![
                ("svix-id", "msg_sig"),
                ("svix-timestamp", &ts),
                ("svix-signature", &signed[0]),
            ],
            "svix-signature",
        ),
        (
            "wrong secret",
            &payload,
            vec![
                ("svix-id", "msg_sig"),
                ("svix-timestamp", &ts),
                ("svix-signature", &signed[1]),
            ],
            "svix-signature",
        ),
        (
            "stale timestamp",
            &payload,
            vec![
                ("svix-id", "msg_sig"),
                ("svix-timestamp", &stale),
                ("svix-signature", &signed[2]),
            ],
            "svix-signature",
        ),
        (
            "another message id",
            &payload,
            vec![
                ("svix-id", "msg_other"),
                ("svix-timestamp", &ts),
                ("svix-signature", &signed[0]),
            ],
            "svix-signature",
        ),
        (
            "missing signature",
            &payload,
            vec![("svix-id", "msg_sig"), ("svix-timestamp", &ts)],
            "svix-signature",
        ),
        (
            "missing timestamp",
            &payload,
            vec![("svix-id", "msg_sig"), ("svix-signature", &signed[0])],
            "svix-timestamp",
        ),
        (
            "missing id",
            &payload,
            vec![("svix-timestamp", &ts), ("svix-signature", &signed[0])],
            "svix-id",
        ),
        ("no headers at all", &payload, vec![], "svix-id"),
        (
            "malformed signature",
            &payload,
            vec![
                ("svix-id", "msg_sig"),
                ("svix-timestamp", &ts),
                ("svix-signature", "v1=abc"),
            ],
            "svix-signature",
        ),
        (
            "Standard Webhooks names, missing signature",
            &payload,
            vec![("webhook-id", "msg_sig"), ("webhook-timestamp", &ts)],
            "webhook-signature",
        ),
    ];
    let (received, failures) = (
        clerk_metric(&server, "received").await,
        clerk_metric(&server, "failures").await,
    );
    for (name, body, headers, field) in &cases {
        let reply = deliver(&server, body, headers).await;
        reply.assert_error(400, "invalid_signature");
        assert_eq!(reply.json["field"], *field, "{name}: {}", reply.text);
        if name.starts_with("missing") {
            assert!(
                reply.json["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(field)),
                "{name}: the message names the missing header: {}",
                reply.text
            );
        }
    }
    assert_eq!(
        customer(&server, &creds.secret_key, &user).await,
        None,
        "nothing refused was applied"
    );
    let refused = cases.len() as u64;
    assert!(clerk_metric(&server, "received").await >= received + refused);
    assert!(clerk_metric(&server, "failures").await >= failures + refused);

    // Correctly signed but not a Clerk event: 400 naming the body.
    let reply = deliver(
        &server,
        "not json",
        &[
            ("svix-id", "msg_not_json"),
            ("svix-timestamp", &ts),
            ("svix-signature", &signed[4]),
        ],
    )
    .await;
    reply.assert_error(400, "invalid_webhook");
    assert_eq!(reply.json["field"], "body");

    // Both configured secrets verify (rotation), and every v1 entry is tried.
    let both = format!("v1,AAAA {}", signed[0]);
    let reply = deliver(
        &server,
        &payload,
        &[
            ("svix-id", "msg_sig"),
            ("svix-timestamp", &ts),
            ("svix-signature", &both),
        ],
    )
    .await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);
    let reply = deliver(
        &server,
        &payload,
        &[
            ("svix-id", "msg_sig_old"),
            ("svix-timestamp", &ts),
            ("svix-signature", &signed[3]),
        ],
    )
    .await;
    assert_eq!(
        reply.status, 200,
        "the secret being rotated out still verifies: {}",
        reply.text
    );
    assert!(customer(&server, &creds.secret_key, &user).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_clerk_webhooks_answer_503() {
    let server = TestServer::start().await;
    let payload = deleted_event("user_x", now() * 1000);
    let ts = now();
    let signature = svix_sign(&[("msg_x", ts, &payload, SECRET)]).remove(0);
    let reply = deliver(
        &server,
        &payload,
        &[
            ("svix-id", "msg_x"),
            ("svix-timestamp", &ts.to_string()),
            ("svix-signature", &signature),
        ],
    )
    .await;
    reply.assert_error(503, "webhooks_not_configured");
    assert!(
        reply.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("CLERK_WEBHOOK_SECRET")),
        "{}",
        reply.text
    );
}

/// A `user.deleted` delivered before the user's `user.created` (Clerk retries
/// out of order): no tenant is known yet, so it leaves a tombstone without one,
/// and the older create and update delivered afterwards never make a customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_before_the_create_keeps_the_user_deleted() {
    let server = clerk_server().await;
    let creds = server.tenant("test", 5).await;
    let (pk, sk) = (creds.publishable_key.as_str(), creds.secret_key.as_str());
    let user = user_id("early_delete");
    let t = now() * 1000;

    let deleted = deleted_event(&user, t + 3_000);
    assert_eq!(
        send(&server, "msg_early_deleted", &deleted).await,
        "ignored",
        "no tenant is known: nothing to delete yet"
    );
    let created = user_event("user.created", &user, t, Some(pk), "ghost@example.com");
    assert_eq!(
        send(&server, "msg_late_created", &created).await,
        "ignored",
        "the create is older than the delete"
    );
    let updated = user_event(
        "user.updated",
        &user,
        t + 1_000,
        Some(pk),
        "ghost@new.example",
    );
    assert_eq!(send(&server, "msg_late_updated", &updated).await, "ignored");
    assert_eq!(customer(&server, sk, &user).await, None, "no resurrection");
    assert_eq!(events_of(&server, sk, "customer.created").await, 0);

    // Another user, created in order, is unaffected.
    let other = user_id("in_order");
    let created = user_event("user.created", &other, t, Some(pk), "ok@example.com");
    assert_eq!(
        send(&server, "msg_other_created", &created).await,
        "applied"
    );
    assert!(customer(&server, sk, &other).await.is_some());
}
