//! Developer webhooks out: endpoints registered through the API receive their
//! events signed (checked with Svix's official PyPI library), retried from the
//! store across a crash, logged, replayable, disabled when they keep failing,
//! and never sent to private addresses unless the operator allows it.

use std::{
    collections::{HashMap, VecDeque},
    io::Write,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use poem::{
    handler, http::StatusCode, listener::TcpAcceptor, web::Data, Body, EndpointExt, Request,
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    processes::{self, Server},
    support::TestServer,
};

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
    answered: u16,
}

#[derive(Default)]
struct Inbox {
    /// Statuses to answer with, in order; 200 once empty.
    script: VecDeque<u16>,
    got: Vec<Received>,
}

/// A developer's endpoint on loopback that answers as scripted.
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[handler]
async fn hook(req: &Request, body: Body, inbox: Data<&Arc<Mutex<Inbox>>>) -> StatusCode {
    let body = body.into_string().await.unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let mut inbox = inbox.lock().expect("inbox");
    let answered = inbox.script.pop_front().unwrap_or(200);
    inbox.got.push(Received {
        headers,
        body,
        answered,
    });
    StatusCode::from_u16(answered).unwrap_or(StatusCode::OK)
}

impl Receiver {
    async fn start(script: &[u16]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let inbox = Arc::new(Mutex::new(Inbox {
            script: script.iter().copied().collect(),
            got: vec![],
        }));
        let app = poem::Route::new()
            .at("/hook", poem::post(hook))
            .data(inbox.clone());
        let acceptor = TcpAcceptor::from_tokio(listener).expect("acceptor");
        let task = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            inbox,
            task,
        }
    }

    fn got(&self) -> Vec<Received> {
        self.inbox.lock().expect("inbox").got.clone()
    }

    async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.got();
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the endpoint got {} of {count} requests: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Checks each (body, headers) with `svix.webhooks.Webhook(secret).verify`;
/// returns whether each verified.
fn svix_verify(secret: &str, items: &[&Received]) -> Vec<bool> {
    let python = std::env::var("DREAM_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("DREAM_TEST_PYTHON is not set: run ./scripts/test, which installs Svix's official library")
    });
    let script = "import json, sys\n\
                  from svix.webhooks import Webhook\n\
                  req = json.load(sys.stdin)\n\
                  wh = Webhook(req['secret'])\n\
                  for body, headers in req['items']:\n    \
                  try:\n        wh.verify(body, headers)\n        print('ok')\n    \
                  except Exception as e:\n        print('bad', type(e).__name__)";
    let input = json!({
        "secret": secret,
        "items": items.iter().map(|r| json!([r.body, r.headers])).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("verifier input");
    let out = child.wait_with_output().expect("verifier");
    assert!(out.status.success(), "the official verifier failed to run");
    String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(|l| l == "ok")
        .collect()
}

async fn create_endpoint(
    server: &TestServer,
    sk: &str,
    url: &str,
    event_types: Option<&[&str]>,
) -> (String, String) {
    let mut body = json!({ "url": url, "description": "test receiver" });
    if let Some(types) = event_types {
        body["eventTypes"] = json!(types);
    }
    let reply = server.post("/api/webhooks/endpoints", sk, body).await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
    let id = reply.json["id"].as_str().expect("id").to_owned();
    let secret = reply.json["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    (id, secret)
}

async fn start_server(adjust: impl FnOnce(&mut dream_bin::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.webhook_allow_private = true;
        c.webhook_poll_ms = 50;
        c.webhook_retry_schedule = vec![1, 1, 1, 1, 1];
        adjust(c);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endpoints_get_their_events_signed_filtered_and_replayable() {
    let server = start_server(|_| {}).await;
    let t = server.tenant("test", 10).await;
    let other = server.tenant("test", 10).await;
    let all = Receiver::start(&[]).await;
    let plans = Receiver::start(&[]).await;
    let paused = Receiver::start(&[]).await;
    let (all_id, all_secret) = create_endpoint(&server, &t.secret_key, &all.url, None).await;
    let (plans_id, plans_secret) =
        create_endpoint(&server, &t.secret_key, &plans.url, Some(&["plan.changed"])).await;
    let (paused_id, _) = create_endpoint(&server, &t.secret_key, &paused.url, None).await;
    let reply = server
        .send(
            Method::PATCH,
            &format!("/api/webhooks/endpoints/{paused_id}"),
            Some(&t.secret_key),
            &[],
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(reply.json["enabled"], false, "{}", reply.text);
    assert_eq!(reply.json["disabledReason"], "manual");
    assert!(
        reply.json.get("secret").is_none(),
        "only create returns the secret"
    );

    let customer = server
        .customer(
            &t.secret_key,
            json!({ "externalId": "u1", "email": "u1@example.com" }),
        )
        .await;
    let reply = server
        .send(
            Method::PATCH,
            &format!("/api/customers/{customer}"),
            Some(&t.secret_key),
            &[],
            Some(json!({ "plan": "pro" })),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);

    all.wait_for(2, Duration::from_secs(10)).await;
    let got_plans = plans.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Deliveries of one pass go out concurrently: order is not promised (as with
    // Svix), each body carries its `timestamp`.
    let of_type = |got: &[Received], kind: &str| -> Received {
        got.iter()
            .find(|r| serde_json::from_str::<Value>(&r.body).expect("json")["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {got:?}"))
            .clone()
    };
    let got = all.got();
    assert_eq!(got.len(), 2, "{got:?}");
    let created = of_type(&got, "customer.created");
    let changed = of_type(&got, "plan.changed");
    assert_eq!(
        plans.got().len(),
        1,
        "the filtered endpoint gets plan.changed only"
    );
    let plan_event: Value = serde_json::from_str(&got_plans[0].body).expect("json");
    assert_eq!(plan_event["type"], "plan.changed");
    assert_eq!(plan_event["customerId"], customer.as_str());
    assert_eq!(plan_event["livemode"], false);
    assert!(paused.got().is_empty(), "a disabled endpoint gets nothing");

    // Svix's own library accepts our signatures, and refuses a tampered body
    // and another endpoint's secret.
    assert_eq!(
        svix_verify(&all_secret, &[&created, &changed]),
        vec![true, true]
    );
    let mut tampered = created.clone();
    tampered.body = tampered
        .body
        .replace("customer.created", "customer.deleted");
    assert_eq!(svix_verify(&all_secret, &[&tampered]), vec![false]);
    assert_eq!(svix_verify(&plans_secret, &[&created]), vec![false]);
    assert_eq!(svix_verify(&plans_secret, &[&got_plans[0]]), vec![true]);
    let event_id = serde_json::from_str::<Value>(&created.body).expect("json")["id"].clone();
    assert_eq!(json!(created.headers["webhook-id"]), event_id);

    // The log: one delivery per event, succeeded at the first attempt.
    let list = server
        .get(
            &format!("/api/webhooks/endpoints/{all_id}/deliveries"),
            &t.secret_key,
        )
        .await;
    assert_eq!(list.status.as_u16(), 200, "{}", list.text);
    let deliveries = list.json["data"].as_array().expect("data").clone();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(deliveries[0]["eventType"], "plan.changed", "newest first");
    assert!(deliveries
        .iter()
        .all(|d| d["state"] == "succeeded" && d["attempts"] == 1));
    let first = deliveries[1]["id"].as_str().expect("id");

    // Replay: the same message again (same webhook-id), a second attempt logged.
    let reply = server
        .send(
            Method::POST,
            &format!("/api/webhooks/deliveries/{first}/retry"),
            Some(&t.secret_key),
            &[],
            None,
        )
        .await;
    assert_eq!(reply.status.as_u16(), 202, "{}", reply.text);
    let got = all.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(got[2].headers["webhook-id"], created.headers["webhook-id"]);
    assert_eq!(got[2].body, created.body);
    let detail = wait_for_attempts(&server, &t.secret_key, first, 2).await;
    assert_eq!(detail["delivery"]["state"], "succeeded");

    // Rotation: later deliveries verify with the new secret only.
    let reply = server
        .send(
            Method::PATCH,
            &format!("/api/webhooks/endpoints/{all_id}"),
            Some(&t.secret_key),
            &[],
            Some(json!({ "rotateSecret": true })),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let new_secret = server
        .get(
            &format!("/api/webhooks/endpoints/{all_id}/secret"),
            &t.secret_key,
        )
        .await
        .json["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_ne!(new_secret, all_secret);
    server
        .customer(&t.secret_key, json!({ "externalId": "u2" }))
        .await;
    let got = all.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(
        svix_verify(&new_secret, &[&got[3]]),
        vec![true],
        "signed with the new secret"
    );
    assert_eq!(svix_verify(&all_secret, &[&got[3]]), vec![false]);

    // Another tenant sees none of it: the same 404 as a missing id.
    for path in [
        format!("/api/webhooks/endpoints/{all_id}"),
        format!("/api/webhooks/endpoints/{all_id}/secret"),
        format!("/api/webhooks/endpoints/{all_id}/deliveries"),
        format!("/api/webhooks/deliveries/{first}"),
    ] {
        server
            .get(&path, &other.secret_key)
            .await
            .assert_error(404, "not_found");
    }
    let theirs = server
        .get("/api/webhooks/endpoints", &other.secret_key)
        .await;
    assert_eq!(theirs.json["data"], json!([]));
    let ours = server.get("/api/webhooks/endpoints", &t.secret_key).await;
    let ids: Vec<&str> = ours.json["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec![all_id.as_str(), plans_id.as_str(), paused_id.as_str()]
    );

    // The operator sees the attempts in the metrics (counters are per process,
    // shared by the servers of this test binary, hence at least).
    let metrics = server.get("/admin/metrics", &server.admin_token).await;
    assert_eq!(metrics.status.as_u16(), 200, "{}", metrics.text);
    let succeeded: u64 = metrics
        .text
        .lines()
        .find_map(|l| l.strip_prefix("dream_webhook_delivery_succeeded_total "))
        .and_then(|v| v.parse().ok())
        .expect("succeeded counter");
    assert!(succeeded >= 5, "{}", metrics.text);
    server
        .get("/admin/metrics", &t.secret_key)
        .await
        .assert_error(401, "invalid_api_key");

    // Delete removes the endpoint and its log.
    let reply = server
        .send(
            Method::DELETE,
            &format!("/api/webhooks/endpoints/{plans_id}"),
            Some(&t.secret_key),
            &[],
            None,
        )
        .await;
    assert_eq!(reply.json["deleted"], true, "{}", reply.text);
    server
        .get(
            &format!("/api/webhooks/endpoints/{plans_id}"),
            &t.secret_key,
        )
        .await
        .assert_error(404, "not_found");
}

async fn wait_for_attempts(server: &TestServer, sk: &str, delivery: &str, count: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = server
            .get(&format!("/api/webhooks/deliveries/{delivery}"), sk)
            .await;
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
        if reply.json["attempts"].as_array().map_or(0, Vec::len) >= count
            && reply.json["delivery"]["state"] != "pending"
        {
            return reply.json;
        }
        assert!(Instant::now() < deadline, "attempts: {}", reply.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endpoint_urls_are_checked_against_ssrf_and_bad_input() {
    let server = TestServer::start().await;
    let t = server.tenant("test", 10).await;
    let live = server.tenant("live", 10).await;
    for (key, url) in [
        (&t.secret_key, "http://127.0.0.1:9/hook"),
        (&t.secret_key, "http://localhost:9/hook"),
        (&t.secret_key, "https://10.1.2.3/hook"),
        (&t.secret_key, "https://169.254.169.254/latest/meta-data"),
        (&t.secret_key, "https://[::1]/hook"),
        (&t.secret_key, "ftp://example.com/hook"),
        (&t.secret_key, "https://user:pw@example.com/hook"),
        (&live.secret_key, "http://example.com/hook"),
    ] {
        let reply = server
            .post("/api/webhooks/endpoints", key, json!({ "url": url }))
            .await;
        reply.assert_error(400, "invalid_request");
        assert_eq!(reply.json["field"], "url", "{url}: {}", reply.text);
    }
    for (body, field) in [
        (
            json!({ "url": "https://example.com/h", "eventTypes": ["customer.exploded"] }),
            "eventTypes",
        ),
        (
            json!({ "url": "https://example.com/h", "secret": "whsec_mine" }),
            "secret",
        ),
        (
            json!({ "url": "https://example.com/h", "description": null }),
            "description",
        ),
        // A missing field is reported on the body, the message names it.
        (json!({}), "body"),
    ] {
        let reply = server
            .post("/api/webhooks/endpoints", &t.secret_key, body.clone())
            .await;
        assert_eq!(reply.status.as_u16(), 400, "{body}: {}", reply.text);
        // Body fields are named by JSON pointer (`/secret`), core checks by name.
        let named = reply.json["field"].as_str().unwrap_or_default();
        assert_eq!(
            named.trim_start_matches('/'),
            field,
            "{body}: {}",
            reply.text
        );
        assert!(reply
            .text
            .contains(if field == "body" { "url" } else { field }));
    }
    let reply = server
        .post(
            "/api/webhooks/endpoints",
            &live.secret_key,
            json!({ "url": "https://hooks.example.com/dream", "eventTypes": ["*"] }),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
    assert_eq!(reply.json["eventTypes"], json!(["*"]));
    // Endpoints are per mode: the test key does not see the live endpoint.
    let listed = server.get("/api/webhooks/endpoints", &t.secret_key).await;
    assert_eq!(listed.json["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_that_keeps_failing_is_disabled_and_resumes_when_enabled() {
    let server = start_server(|c| {
        c.webhook_retry_schedule = vec![1; 10];
        c.webhook_disable_after_secs = 2;
    })
    .await;
    let t = server.tenant("test", 10).await;
    let failing = Receiver::start(&[500; 100]).await;
    let (id, _) = create_endpoint(&server, &t.secret_key, &failing.url, None).await;
    server
        .customer(&t.secret_key, json!({ "externalId": "f1" }))
        .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let endpoint = loop {
        let reply = server
            .get(&format!("/api/webhooks/endpoints/{id}"), &t.secret_key)
            .await;
        if reply.json["enabled"] == false {
            break reply.json;
        }
        assert!(Instant::now() < deadline, "never disabled: {}", reply.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(endpoint["disabledReason"], "failing");
    assert!(endpoint["failingSince"].is_string());
    let attempts_when_disabled = failing.got().len();
    assert!(attempts_when_disabled >= 2, "{attempts_when_disabled}");

    // Disabled: no new deliveries, no more attempts.
    server
        .customer(&t.secret_key, json!({ "externalId": "f2" }))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(failing.got().len(), attempts_when_disabled);
    let list = server
        .get(
            &format!("/api/webhooks/endpoints/{id}/deliveries"),
            &t.secret_key,
        )
        .await;
    assert_eq!(
        list.json["data"].as_array().map(Vec::len),
        Some(1),
        "{}",
        list.text
    );

    // Enabled again (receiver fixed): the pending delivery goes through.
    failing.inbox.lock().expect("inbox").script.clear();
    let reply = server
        .send(
            Method::PATCH,
            &format!("/api/webhooks/endpoints/{id}"),
            Some(&t.secret_key),
            &[],
            Some(json!({ "enabled": true })),
        )
        .await;
    assert_eq!(reply.json["enabled"], true, "{}", reply.text);
    assert!(reply.json.get("failingSince").is_none());
    let delivery = list.json["data"][0]["id"].as_str().expect("id").to_owned();
    let detail = wait_for_attempts(&server, &t.secret_key, &delivery, 1).await;
    assert_eq!(detail["delivery"]["state"], "succeeded", "{detail}");
}

/// The acceptance test: 500 three times, then 200, with the server
/// killed (SIGKILL) after the first failure and started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recovered_endpoint_gets_the_event_exactly_once_more_across_a_crash() {
    let data = processes::temp_dir("outbound");
    let receiver = Receiver::start(&[500, 500, 500]).await;
    let mut server = Server::start(&[
        ("DREAM_DATA_DIR", data.display().to_string()),
        ("DREAM_WEBHOOK_ALLOW_PRIVATE", "true".into()),
        ("DREAM_WEBHOOK_RETRY_SCHEDULE", "2,1,1,1,1".into()),
        ("DREAM_WEBHOOK_POLL_MS", "50".into()),
    ])
    .await;
    let http = reqwest::Client::new();
    let sk = processes::bootstrap(&http, &server, 10).await;
    let (status, endpoint) = processes::call(
        &http,
        Method::POST,
        format!("{}/api/webhooks/endpoints", server.base),
        &sk,
        &[],
        Some(json!({ "url": receiver.url, "eventTypes": ["customer.created"] })),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    let endpoint_id = endpoint["id"].as_str().expect("id").to_owned();
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    let (status, body) = processes::call(
        &http,
        Method::POST,
        format!("{}/api/customers", server.base),
        &sk,
        &[],
        Some(json!({ "externalId": "crash-1" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // First attempt answered 500 and recorded; then the process dies.
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let deliveries_url = format!(
        "{}/api/webhooks/endpoints/{endpoint_id}/deliveries",
        server.base
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivery_id = loop {
        let (_, list) =
            processes::call(&http, Method::GET, deliveries_url.clone(), &sk, &[], None).await;
        if list["data"][0]["attempts"] == 1 {
            break list["data"][0]["id"].as_str().expect("id").to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "first attempt not logged: {list}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.kill9();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        receiver.got().len(),
        1,
        "nothing is sent while the server is down"
    );

    server.restart().await;
    let got = receiver.wait_for(4, Duration::from_secs(20)).await;
    // Several retry periods later: nothing more arrives after the success.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let got_after = receiver.got();
    assert_eq!(
        got_after.len(),
        4,
        "exactly once more after recovery: {got_after:?}"
    );
    let answered: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(answered, vec![500, 500, 500, 200]);
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.headers["webhook-id"].as_str())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one message id: {ids:?}"
    );
    let refs: Vec<&Received> = got.iter().collect();
    assert_eq!(svix_verify(&secret, &refs), vec![true; 4]);

    let (status, detail) = processes::call(
        &http,
        Method::GET,
        format!("{}/api/webhooks/deliveries/{delivery_id}", server.base),
        &sk,
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["delivery"]["state"], "succeeded", "{detail}");
    assert_eq!(detail["delivery"]["attempts"], 4);
    let statuses: Vec<Value> = detail["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![json!(500), json!(500), json!(500), json!(200)]
    );
    let numbers: Vec<Value> = detail["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["number"].clone())
        .collect();
    assert_eq!(numbers, vec![json!(1), json!(2), json!(3), json!(4)]);
    assert!(detail["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .all(|a| a["latencyMs"].is_u64()));
    server.terminate();
    let _ = std::fs::remove_dir_all(&data);
}

/// An endpoint that accepts connections and never answers; counts them.
struct Tarpit {
    url: String,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Tarpit {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            connections,
            task,
        }
    }
}

impl Drop for Tarpit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tarpit_endpoint_does_not_delay_another_tenants_delivery() {
    let server = start_server(|c| c.webhook_timeout_secs = 10).await;
    let slow = server.tenant("test", 10).await;
    let fast = server.tenant("test", 10).await;
    let tarpit = Tarpit::start().await;
    let receiver = Receiver::start(&[]).await;
    create_endpoint(&server, &slow.secret_key, &tarpit.url, None).await;
    create_endpoint(&server, &fast.secret_key, &receiver.url, None).await;
    for i in 0..20 {
        server
            .customer(
                &slow.secret_key,
                json!({ "email": format!("slow{i}@example.com") }),
            )
            .await;
    }
    // The slow tenant's deliveries are now hanging in the tarpit.
    let deadline = Instant::now() + Duration::from_secs(5);
    while tarpit.connections.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the tarpit got no delivery");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let created = Instant::now();
    server
        .customer(&fast.secret_key, json!({ "email": "fast@example.com" }))
        .await;
    receiver.wait_for(1, Duration::from_secs(2)).await;
    let delay = created.elapsed();
    assert!(delay < Duration::from_secs(2), "delivered after {delay:?}");
    // The tarpit holds at most its per-endpoint share of the sends.
    assert!(
        tarpit.connections.load(std::sync::atomic::Ordering::SeqCst)
            <= dream_bin::delivery_loop::MAX_IN_FLIGHT_PER_ENDPOINT,
        "the tarpit got {} concurrent sends",
        tarpit.connections.load(std::sync::atomic::Ordering::SeqCst)
    );
}

/// With a master key, endpoint signing secrets are sealed at rest (bound to the
/// tenant) and still revealed by `GET …/secret` (issue 14, defect 2b).
#[tokio::test]
async fn endpoint_secrets_are_sealed_at_rest_with_a_master_key() {
    let dir = processes::temp_dir("sealed-whsec");
    let data = dir.clone();
    let server = TestServer::start_with(move |c| {
        c.store = Some(dream_bin::StoreKind::Sqlite);
        c.data_dir = data;
        c.webhook_allow_private = true;
        c.webhook_worker = false;
        c.apply_env(|n| (n == "DREAM_MASTER_KEY").then(|| "cd".repeat(32)))
            .expect("master key");
    })
    .await;
    let sk = server.tenant("test", 10).await.secret_key;
    let created = server
        .post(
            "/api/webhooks/endpoints",
            &sk,
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().expect("id").to_owned();
    let secret = created.json["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    let revealed = server
        .get(&format!("/api/webhooks/endpoints/{id}/secret"), &sk)
        .await;
    assert_eq!(revealed.status, 200, "{}", revealed.text);
    assert_eq!(revealed.json["secret"], secret.as_str(), "still revealable");

    let rotated = server
        .send(
            Method::PATCH,
            &format!("/api/webhooks/endpoints/{id}"),
            Some(&sk),
            &[],
            Some(json!({"rotateSecret": true})),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_secret = server
        .get(&format!("/api/webhooks/endpoints/{id}/secret"), &sk)
        .await
        .json["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_ne!(new_secret, secret);

    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("data dir") {
        bytes.extend(std::fs::read(entry.expect("entry").path()).expect("read store file"));
    }
    let stored = String::from_utf8_lossy(&bytes);
    assert!(stored.contains(&id), "the endpoint is in the store");
    for s in [&secret, &new_secret] {
        let key = s.trim_start_matches("whsec_");
        assert!(!stored.contains(key), "an endpoint secret is in the store");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
