//! API keys for a developer's own customers (`ck_…`): issue, list, revoke, roll,
//! and `POST /api/keys/verify`, which verifies and counts in one call.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    processes::{bootstrap, call, fresh_database, Server},
    support::{Creds, TestServer},
};

/// A tenant whose only plan allows `limit` calls a month.
async fn tenant(server: &TestServer, limit: u64) -> Creds {
    let reply = server
        .create_products(json!({
            "mode": "test",
            "tiers": [{ "name": "starter", "price": 0, "limit": limit }]
        }))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    crate::support::creds(&reply.json)
}

/// Issues a key to `customer`; returns (key id, the key).
async fn issue(server: &TestServer, sk: &str, customer: &str, body: Value) -> (String, String) {
    let reply = server
        .post(&format!("/api/customers/{customer}/keys"), sk, body)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let secret = reply.json["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("ck_test_"), "{secret}");
    assert!(secret.len() >= 50, "a high-entropy key: {secret}");
    let key = &reply.json["key"];
    assert!(key["id"].as_str().is_some_and(|id| id.starts_with("ckey_")));
    assert_eq!(key["customerId"], customer);
    assert_eq!(key["mode"], "test");
    assert_eq!(
        key["hint"].as_str().expect("hint"),
        format!("ck_test_…{}", &secret[secret.len() - 4..])
    );
    (key["id"].as_str().expect("id").to_owned(), secret)
}

async fn verify(server: &TestServer, sk: &str, key: &str, amount: Option<u64>) -> Value {
    let body = match amount {
        Some(amount) => json!({ "key": key, "amount": amount }),
        None => json!({ "key": key }),
    };
    let reply = server.post("/api/keys/verify", sk, body).await;
    assert_eq!(reply.status, 200, "every verdict is a 200: {}", reply.text);
    assert_eq!(
        reply.json["valid"],
        reply.json["code"] == "VALID",
        "valid is code == VALID: {}",
        reply.text
    );
    reply.json
}

fn assert_not_found(verdict: &Value) {
    assert_eq!(
        verdict,
        &json!({ "valid": false, "code": "NOT_FOUND", "keyId": null, "customerId": null,
                 "plan": null, "usage": null }),
        "NOT_FOUND says nothing else"
    );
}

/// Create → VALID with customer and plan → exactly `limit` of 200 concurrent
/// counted verifications VALID, the rest USAGE_EXCEEDED → revoke → REVOKED; the
/// key never appears in a list, the audit log or the event log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_counts_exactly_to_the_limit_under_concurrency_then_revoke() {
    const LIMIT: u64 = 37;
    let server = TestServer::start().await;
    let creds = tenant(&server, LIMIT).await;
    let sk = creds.secret_key.as_str();
    let customer = server
        .customer(
            sk,
            json!({ "email": "ck@example.com", "externalId": "acme" }),
        )
        .await;
    let (key_id, key) = issue(&server, sk, &customer, json!({ "name": "production" })).await;

    let fresh = verify(&server, sk, &key, None).await;
    assert_eq!(fresh["code"], "VALID");
    assert_eq!(fresh["keyId"], key_id.as_str());
    assert_eq!(fresh["customerId"], customer.as_str());
    assert_eq!(fresh["plan"], "starter");
    assert_eq!(fresh["usage"]["count"], 0, "verifying alone counts nothing");
    assert_eq!(fresh["usage"]["limit"], LIMIT);
    assert_eq!(fresh["usage"]["remaining"], LIMIT);

    let verdicts = join_all((0..200).map(|_| verify(&server, sk, &key, Some(1)))).await;
    let valid = verdicts.iter().filter(|v| v["code"] == "VALID").count();
    let exceeded = verdicts
        .iter()
        .filter(|v| v["code"] == "USAGE_EXCEEDED")
        .count();
    assert_eq!(valid as u64, LIMIT, "exactly the limit is admitted");
    assert_eq!(exceeded as u64, 200 - LIMIT, "every other call is refused");
    let mut counts: Vec<u64> = verdicts
        .iter()
        .filter(|v| v["code"] == "VALID")
        .map(|v| v["usage"]["count"].as_u64().expect("count"))
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=LIMIT).collect::<Vec<_>>(), "one count each");
    let refused = verdicts
        .iter()
        .find(|v| v["code"] == "USAGE_EXCEEDED")
        .expect("a refusal");
    assert_eq!(refused["valid"], false);
    assert_eq!(refused["customerId"], customer.as_str());
    assert_eq!(refused["plan"], "starter");
    assert_eq!(refused["usage"]["count"], LIMIT);
    assert_eq!(refused["usage"]["remaining"], 0);
    // The same counter as POST /api/data: the data route is refused too.
    let usage = server.usage(sk, &customer).await;
    assert_eq!(usage.json["usageCount"], LIMIT, "{}", usage.text);
    assert_eq!(server.track(sk, "acme").await.status, 429);

    let listed = server
        .get(&format!("/api/customers/{customer}/keys"), sk)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json["data"][0]["id"], key_id.as_str());
    assert_eq!(listed.json["data"][0]["name"], "production");
    // The external id names the customer too.
    let by_external = server.get("/api/customers/acme/keys", sk).await;
    assert_eq!(by_external.json["data"], listed.json["data"]);

    let revoked = server
        .send(
            Method::DELETE,
            &format!("/api/customers/{customer}/keys/{key_id}"),
            Some(sk),
            &[],
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert!(revoked.json["revokedAt"].is_string(), "{}", revoked.text);
    for amount in [None, Some(1)] {
        let verdict = verify(&server, sk, &key, amount).await;
        assert_eq!(verdict["code"], "REVOKED", "{verdict}");
        assert_eq!(verdict["customerId"], customer.as_str());
    }

    let audit = server.get("/api/audit?limit=100", sk).await;
    let actions: Vec<&str> = audit.json["data"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"customer_key.created"), "{actions:?}");
    assert!(actions.contains(&"customer_key.revoked"), "{actions:?}");
    let events = server.get("/api/events?limit=100", sk).await;
    let kinds: Vec<&str> = events.json["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(kinds.contains(&"customer_key.created"), "{kinds:?}");
    assert!(kinds.contains(&"customer_key.revoked"), "{kinds:?}");
    let body = &key["ck_test_".len()..];
    for text in [&listed.text, &revoked.text, &audit.text, &events.text] {
        assert!(!text.contains(body), "the key leaked: {text}");
    }
}

/// Another tenant's key, the other mode's key, a well-formed made-up key and
/// garbage are all the same NOT_FOUND; so is a deleted customer's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_made_up_and_deleted_customers_keys_are_not_found() {
    let server = TestServer::start().await;
    let mine = tenant(&server, 100).await;
    let theirs = tenant(&server, 100).await;
    let customer = server.customer(&theirs.secret_key, json!({})).await;
    let (_, their_key) = issue(&server, &theirs.secret_key, &customer, json!({})).await;
    assert_eq!(
        verify(&server, &theirs.secret_key, &their_key, None).await["code"],
        "VALID"
    );
    let live = server
        .create_products(json!({ "mode": "live", "platformId": theirs.platform_id,
                                  "tiers": [{ "name": "starter", "price": 0, "limit": 5 }] }))
        .await;
    assert_eq!(live.status, 200, "{}", live.text);
    let admin = server.admin_token.clone();
    let live_key = server
        .post(
            &format!("/admin/platforms/{}/keys", theirs.platform_id),
            &admin,
            json!({ "mode": "live" }),
        )
        .await;
    assert_eq!(live_key.status, 201, "{}", live_key.text);
    let live_sk = live_key.json["secretKey"].as_str().expect("sk").to_owned();
    let made_up = format!("ck_test_{}", "A".repeat(44));
    for (sk, key, what) in [
        (&mine.secret_key, their_key.as_str(), "another tenant's key"),
        (&live_sk, their_key.as_str(), "the other mode's key"),
        (&mine.secret_key, made_up.as_str(), "a made-up key"),
        (&mine.secret_key, "garbage", "garbage"),
        (&mine.secret_key, "sk_test_notacustomerkey", "a secret key"),
    ] {
        for amount in [None, Some(1)] {
            let verdict = verify(&server, sk, key, amount).await;
            assert_eq!(verdict["code"], "NOT_FOUND", "{what}: {verdict}");
            assert_not_found(&verdict);
        }
    }
    // The foreign verifications counted nothing for the owner's customer.
    let usage = server.usage(&theirs.secret_key, &customer).await;
    assert_eq!(usage.json["usageCount"], 0, "{}", usage.text);
    // Another tenant cannot list, revoke or roll it either.
    let listed = server
        .get(&format!("/api/customers/{customer}/keys"), &mine.secret_key)
        .await;
    listed.assert_error(404, "not_found");

    let deleted = server
        .send(
            Method::DELETE,
            &format!("/api/customers/{customer}"),
            Some(&theirs.secret_key),
            &[],
            None,
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    for amount in [None, Some(1)] {
        assert_not_found(&verify(&server, &theirs.secret_key, &their_key, amount).await);
    }

    // Bad requests are errors, not verdicts.
    server
        .post(
            "/api/keys/verify",
            &mine.secret_key,
            json!({ "key": made_up, "amount": 0 }),
        )
        .await
        .assert_error(400, "invalid_request");
    server
        .post("/api/keys/verify", &mine.secret_key, json!({ "amount": 1 }))
        .await
        .assert_error(400, "invalid_request");
    server
        .post(
            "/api/keys/verify",
            "sk_test_unknown",
            json!({ "key": made_up }),
        )
        .await
        .assert_error(401, "invalid_api_key");
}

/// Unknown fields are refused by name: per-key meters and rate windows are not
/// offered (the customer's plan applies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_unknown_fields_and_bad_values() {
    let server = TestServer::start().await;
    let creds = tenant(&server, 10).await;
    let sk = creds.secret_key.as_str();
    let customer = server.customer(sk, json!({})).await;
    let path = format!("/api/customers/{customer}/keys");
    for body in [
        json!({ "meter": "tokens" }),
        json!({ "ratePerMinute": 0 }),
        json!({ "ratePerMinute": 60_001 }),
        json!({ "ratePerMinute": "10" }),
        json!({ "rateLimit": 10 }),
        json!({ "expiresAt": "2001-01-01T00:00:00Z" }),
        json!({ "name": "a\u{7}b" }),
        json!({ "name": null }),
    ] {
        server
            .post(&path, sk, body.clone())
            .await
            .assert_error(400, "invalid_request");
    }
    server
        .post("/api/customers/usr_nobody/keys", sk, json!({}))
        .await
        .assert_error(404, "not_found");
    let revoke_unknown = server
        .send(
            Method::DELETE,
            &format!("{path}/ckey_unknown"),
            Some(sk),
            &[],
            None,
        )
        .await;
    revoke_unknown.assert_error(404, "not_found");
}

/// A key's own `ratePerMinute`, on top of the plan: of 20 concurrent counted
/// verifications at 5/min exactly 5 are VALID and the rest RATE_LIMITED (with a
/// wait, counting nothing); reading is not limited; another key of the same
/// customer has its own window; a roll keeps the rate; an amount above the
/// rate is a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_rate_limit_admits_exactly_its_rate_under_concurrency() {
    let server = TestServer::start().await;
    let creds = tenant(&server, 1_000).await;
    let sk = creds.secret_key.as_str();
    let customer = server.customer(sk, json!({})).await;
    let reply = server
        .post(
            &format!("/api/customers/{customer}/keys"),
            sk,
            json!({ "ratePerMinute": 5 }),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json["key"]["ratePerMinute"], 5, "{}", reply.text);
    let key_id = reply.json["key"]["id"].as_str().expect("id").to_owned();
    let key = reply.json["secret"].as_str().expect("secret").to_owned();

    let verdicts = join_all((0..20).map(|_| verify(&server, sk, &key, Some(1)))).await;
    let valid = verdicts.iter().filter(|v| v["code"] == "VALID").count();
    assert_eq!(valid, 5, "exactly the key's rate: {verdicts:?}");
    for limited in verdicts.iter().filter(|v| v["code"] != "VALID") {
        assert_eq!(limited["code"], "RATE_LIMITED", "{limited}");
        let wait = limited["retryAfter"].as_u64().expect("retryAfter");
        assert!(
            (1..=12).contains(&wait),
            "one emission interval (12 s) at most: {limited}"
        );
        assert_eq!(limited["customerId"], customer.as_str(), "{limited}");
    }
    let usage = server.usage(sk, &customer).await;
    assert_eq!(
        usage.json["usageCount"], 5,
        "refusals count nothing: {}",
        usage.text
    );
    let read = verify(&server, sk, &key, None).await;
    assert_eq!(read["code"], "VALID", "reading is not rate limited: {read}");

    let (_, other) = issue(&server, sk, &customer, json!({})).await;
    assert_eq!(
        verify(&server, sk, &other, Some(1)).await["code"],
        "VALID",
        "a key without a rate of the same customer is not limited by this one"
    );
    let too_much = server
        .post("/api/keys/verify", sk, json!({ "key": key, "amount": 6 }))
        .await;
    too_much.assert_error(400, "invalid_request");
    assert!(too_much.text.contains("/amount"), "{}", too_much.text);

    let rolled = server
        .post(
            &format!("/api/customers/{customer}/keys/{key_id}/roll"),
            sk,
            json!({ "overlapSeconds": 0 }),
        )
        .await;
    assert_eq!(rolled.status, 201, "{}", rolled.text);
    assert_eq!(
        rolled.json["key"]["ratePerMinute"], 5,
        "a rolled key keeps its rate: {}",
        rolled.text
    );
}

/// An expiring key stops at its expiry; a roll keeps the old key working for the
/// overlap and never extends it; a revoked key cannot be rolled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_roll_with_overlap() {
    let server = TestServer::start().await;
    let creds = tenant(&server, 1000).await;
    let sk = creds.secret_key.as_str();
    let customer = server.customer(sk, json!({})).await;

    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (_, expiring) = issue(
        &server,
        sk,
        &customer,
        json!({ "expiresAt": soon.to_rfc3339() }),
    )
    .await;
    assert_eq!(
        verify(&server, sk, &expiring, Some(1)).await["code"],
        "VALID"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let verdict = verify(&server, sk, &expiring, Some(1)).await;
        if verdict["code"] == "EXPIRED" {
            assert_eq!(verdict["customerId"], customer.as_str());
            break;
        }
        assert_eq!(verdict["code"], "VALID", "{verdict}");
        assert!(Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (old_id, old) = issue(&server, sk, &customer, json!({ "name": "ci" })).await;
    let roll = |id: String, overlap: u64| {
        let (server, customer) = (&server, &customer);
        async move {
            server
                .post(
                    &format!("/api/customers/{customer}/keys/{id}/roll"),
                    sk,
                    json!({ "overlapSeconds": overlap }),
                )
                .await
        }
    };
    let rolled = roll(old_id.clone(), 3600).await;
    assert_eq!(rolled.status, 201, "{}", rolled.text);
    let new = rolled.json["secret"].as_str().expect("secret").to_owned();
    let new_id = rolled.json["key"]["id"].as_str().expect("id").to_owned();
    assert_eq!(rolled.json["key"]["name"], "ci", "the roll keeps the name");
    assert_eq!(rolled.json["rolled"]["id"], old_id.as_str());
    let old_expiry = rolled.json["rolled"]["expiresAt"]
        .as_str()
        .expect("the old key now expires")
        .to_owned();
    for key in [&old, &new] {
        assert_eq!(verify(&server, sk, key, Some(1)).await["code"], "VALID");
    }
    // Rolling the old key again with a longer overlap never extends it.
    let again = roll(old_id.clone(), 7200).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.json["rolled"]["expiresAt"], old_expiry.as_str());
    // Overlap 0: the rolled key stops at once.
    let now = roll(new_id.clone(), 0).await;
    assert_eq!(now.status, 201, "{}", now.text);
    assert_eq!(verify(&server, sk, &new, Some(1)).await["code"], "EXPIRED");
    let newest = now.json["secret"].as_str().expect("secret").to_owned();
    assert_eq!(verify(&server, sk, &newest, Some(1)).await["code"], "VALID");
    roll(new_id, 0).await.assert_error(409, "conflict");
    server
        .post(
            &format!("/api/customers/{customer}/keys/{old_id}/roll"),
            sk,
            json!({ "overlapSeconds": 2_592_001 }),
        )
        .await
        .assert_error(400, "invalid_request");

    let audit = server.get("/api/audit?limit=100", sk).await;
    let rolls = audit.json["data"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "customer_key.rolled")
        .count();
    assert_eq!(rolls, 3, "{}", audit.text);
    let listed = server
        .get(&format!("/api/customers/{customer}/keys"), sk)
        .await;
    assert_eq!(listed.json["data"].as_array().map(Vec::len), Some(5));
    for key in [&expiring, &old, &new, &newest] {
        assert!(!listed.text.contains(&key[8..]), "a key leaked in the list");
    }
}

/// With an `Idempotency-Key`, a retried counted verification is counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_counted_verification_counts_once() {
    let server = TestServer::start().await;
    let creds = tenant(&server, 100).await;
    let sk = creds.secret_key.as_str();
    let customer = server.customer(sk, json!({})).await;
    let (_, key) = issue(&server, sk, &customer, json!({})).await;
    let body = json!({ "key": key, "amount": 3 });
    let mut answers = Vec::new();
    for _ in 0..2 {
        let reply = server
            .send(
                Method::POST,
                "/api/keys/verify",
                Some(sk),
                &[("Idempotency-Key", "verify-retry-1")],
                Some(body.clone()),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        answers.push(reply.text);
    }
    assert_eq!(answers[0], answers[1], "the same answer");
    let usage = server.usage(sk, &customer).await;
    assert_eq!(usage.json["usageCount"], 3, "counted once: {}", usage.text);
}

/// Two `dream serve` processes on one PostgreSQL: a key revoked through one is
/// `REVOKED` from the other within the cache bound (1 s by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_key_revoked_in_one_process_is_revoked_in_another_within_a_second() {
    const BOUND: Duration = Duration::from_millis(1000);
    let db = fresh_database().await;
    let env = [("DATABASE_URL", db)];
    let a = Server::start(&env).await;
    let b = Server::start(&env).await;
    let http = reqwest::Client::new();
    let sk = bootstrap(&http, &a, 1000).await;
    let (status, created) = call(
        &http,
        Method::POST,
        format!("{}/api/customers", a.base),
        &sk,
        &[],
        Some(json!({ "externalId": "two-processes" })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let customer = created["customer"]["id"].as_str().expect("id").to_owned();
    let (status, issued) = call(
        &http,
        Method::POST,
        format!("{}/api/customers/{customer}/keys", a.base),
        &sk,
        &[],
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{issued}");
    let key = issued["secret"].as_str().expect("secret").to_owned();
    let key_id = issued["key"]["id"].as_str().expect("id").to_owned();
    let verify = |server: &Server| {
        let url = format!("{}/api/keys/verify", server.base);
        let (http, sk, key) = (http.clone(), sk.clone(), key.clone());
        async move {
            let (status, body) = call(
                &http,
                Method::POST,
                url,
                &sk,
                &[],
                Some(json!({ "key": key, "amount": 1 })),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body["code"].as_str().expect("code").to_owned()
        }
    };
    // B has the key in its cache.
    assert_eq!(verify(&b).await, "VALID");
    let (status, _) = call(
        &http,
        Method::DELETE,
        format!("{}/api/customers/{customer}/keys/{key_id}", a.base),
        &sk,
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let revoked_at = Instant::now();
    assert_eq!(verify(&a).await, "REVOKED", "the revoking process at once");
    loop {
        let code = verify(&b).await;
        let elapsed = revoked_at.elapsed();
        // The bound plus the time of one request on a loaded machine.
        let limit = BOUND + Duration::from_millis(300);
        if code == "REVOKED" {
            assert!(elapsed <= limit, "revoked only after {elapsed:?}");
            break;
        }
        assert_eq!(code, "VALID");
        assert!(elapsed <= limit, "still valid after {elapsed:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..3 {
        assert_eq!(verify(&b).await, "REVOKED", "never valid again");
    }
}

/// With debug logging, no customer key appears in any log line of a real process
/// while it issues, verifies, lists, rolls and revokes keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_customer_key_in_any_log_line() {
    const BIN: &str = env!("CARGO_BIN_EXE_dream");
    const ADMIN: &str = "customer-key-logs-admin";
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let base = format!("http://127.0.0.1:{port}");
    let data_dir = crate::processes::temp_dir("customer-key-logs");
    let log_path = std::env::temp_dir().join(format!("dream-customer-key-logs-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("DREAM_CONFIG")
        .env("DREAM_STORE", "sqlite")
        .env("DREAM_DATA_DIR", &data_dir)
        .env("DREAM_ADDR", format!("127.0.0.1:{port}"))
        .env("DREAM_ADMIN_TOKEN", ADMIN)
        .env("DREAM_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(log.try_clone().expect("log file")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("server starts");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, products) = call(
        &http,
        Method::POST,
        format!("{base}/create-products"),
        ADMIN,
        &[],
        Some(json!({"mode": "test", "tiers": [{"name": "plan", "price": 0, "limit": 5}]})),
    )
    .await;
    let sk = products["secretKey"].as_str().expect("sk").to_owned();
    let (_, created) = call(
        &http,
        Method::POST,
        format!("{base}/api/customers"),
        &sk,
        &[],
        Some(json!({})),
    )
    .await;
    let customer = created["customer"]["id"].as_str().expect("id").to_owned();
    let keys_url = format!("{base}/api/customers/{customer}/keys");
    let (_, issued) = call(&http, Method::POST, keys_url.clone(), &sk, &[], None).await;
    let key = issued["secret"].as_str().expect("secret").to_owned();
    let key_id = issued["key"]["id"].as_str().expect("id").to_owned();
    for amount in [json!(1), json!(100)] {
        call(
            &http,
            Method::POST,
            format!("{base}/api/keys/verify"),
            &sk,
            &[("Idempotency-Key", "log-check")],
            Some(json!({ "key": key, "amount": amount })),
        )
        .await;
    }
    call(&http, Method::GET, keys_url.clone(), &sk, &[], None).await;
    let (_, rolled) = call(
        &http,
        Method::POST,
        format!("{keys_url}/{key_id}/roll"),
        &sk,
        &[],
        Some(json!({ "overlapSeconds": 60 })),
    )
    .await;
    let new = rolled["secret"].as_str().expect("secret").to_owned();
    call(
        &http,
        Method::DELETE,
        format!("{keys_url}/{key_id}"),
        &sk,
        &[],
        None,
    )
    .await;
    child.kill().expect("stop");
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log_path).expect("log");
    let _ = std::fs::remove_file(&log_path);
    assert!(logged.contains("/api/keys/verify"), "requests were logged");
    for secret in [&key, &new] {
        assert!(
            !logged.contains(&secret[8..]),
            "a customer key leaked into the log"
        );
    }
}
