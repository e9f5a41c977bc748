//! No Stripe secret ever lands in the store, the logs or a response: the real
//! binary on SQLite, debug logging, Connect and direct mode, the whole billing flow.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use dream_stripe_standin::{
    StandIn, StandInConfig, AUTHORIZE_ACCOUNT, CLIENT_ID, TEST_DIRECT_KEY, TEST_PLATFORM_KEY,
};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_dream");
const ADMIN: &str = "billing-secrets-admin-token";
/// The direct platform's webhook endpoint secret.
const DIRECT_WEBHOOK_SECRET: &str = "whsec_BillingSecretsDirectEndpoint42";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Session {
    http: reqwest::Client,
    base: String,
    /// Every response body, to grep.
    seen: String,
}

impl Session {
    async fn call(
        &mut self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().await.expect("body");
        self.seen.push_str(&text);
        if let Some(location) = &location {
            self.seen.push_str(location);
        }
        assert!(status.as_u16() < 400, "{path}: {status} {text}");
        let mut json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(location) = location {
            json["location"] = location.into();
        }
        json
    }

    async fn browse(&mut self, url: &str) -> String {
        let resp = self.http.get(url).send().await.expect("browse");
        assert_eq!(resp.status(), 302, "{url}");
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("location")
            .to_owned();
        self.seen.push_str(&location);
        location
    }
}

fn tiers() -> Value {
    json!([
        { "name": "free", "price": 0, "limit": 2 },
        { "name": "pro", "price": 29, "limit": 10 },
        { "name": "ticket", "type": "one_time", "price": 5, "inventory": 3 }
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stripe_secret_reaches_the_store_logs_or_responses() {
    let stripe = StandIn::start(StandInConfig::test_default())
        .await
        .expect("stand-in");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data_dir = std::env::temp_dir().join(format!("dream-billing-secrets-{port}"));
    let _ = std::fs::remove_dir_all(&data_dir);
    // Logs go to a file: debug logs would fill a pipe nobody reads until the end
    // and block the server.
    let log_path = std::env::temp_dir().join(format!("dream-billing-secrets-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("log file");
    let server = Command::new(BIN)
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
        .env("STRIPE_SECRET_KEY", TEST_PLATFORM_KEY)
        .env("STRIPE_CLIENT_ID", CLIENT_ID)
        .env("STRIPE_API_BASE", stripe.base_url())
        .env("STRIPE_CONNECT_BASE", stripe.connect_base_url())
        .env("DREAM_PUBLIC_URL", &base)
        .env("DREAM_MASTER_KEY", "3c".repeat(32))
        .env("DREAM_CHECKOUT_SUCCESS_URL", "https://app.example/ok")
        .env("DREAM_CHECKOUT_CANCEL_URL", "https://app.example/no")
        .stdout(Stdio::from(log.try_clone().expect("log file")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("server starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut s = Session {
        http,
        base: base.clone(),
        seen: String::new(),
    };
    use reqwest::Method;

    // Connect onboarding through the browser hops.
    let connected = s
        .call(
            Method::POST,
            "/admin/platforms",
            ADMIN,
            &[],
            Some(json!({})),
        )
        .await;
    let platform = connected["id"].as_str().unwrap().to_owned();
    let to_stripe = s
        .call(
            Method::GET,
            &format!("/authorize?platformId={platform}&mode=test"),
            ADMIN,
            &[],
            None,
        )
        .await["location"]
        .as_str()
        .unwrap()
        .to_owned();
    let callback = s.browse(&to_stripe).await;
    let done = s.http.get(&callback).send().await.expect("callback");
    let done_text = done.text().await.expect("body");
    assert!(done_text.contains(AUTHORIZE_ACCOUNT), "{done_text}");
    s.seen.push_str(&done_text);

    // Direct mode on a second platform.
    let direct = s
        .call(
            Method::POST,
            "/admin/platforms",
            ADMIN,
            &[],
            Some(json!({})),
        )
        .await;
    let direct_platform = direct["id"].as_str().unwrap().to_owned();
    s.call(
        Method::PUT,
        &format!("/admin/platforms/{direct_platform}/stripe"),
        ADMIN,
        &[],
        Some(json!({
            "mode": "test",
            "secretKey": TEST_DIRECT_KEY,
            "webhookSecret": DIRECT_WEBHOOK_SECRET
        })),
    )
    .await;

    for platform in [&platform, &direct_platform] {
        let products = s
            .call(
                Method::POST,
                "/create-products",
                ADMIN,
                &[],
                Some(json!({ "platformId": platform, "mode": "test", "tiers": tiers() })),
            )
            .await;
        let sk = products["secretKey"].as_str().unwrap().to_owned();
        let ticket = products["priceIds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["tier"] == "ticket")
            .unwrap()["priceId"]
            .as_str()
            .unwrap()
            .to_owned();
        let customer = s
            .call(
                Method::POST,
                "/api/customers",
                &sk,
                &[],
                Some(json!({ "email": "c@example.com" })),
            )
            .await["customer"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let user = [("X-User-Id", customer.as_str())];
        s.call(
            Method::POST,
            "/api/create-checkout",
            &sk,
            &user,
            Some(json!({ "tier": "pro" })),
        )
        .await;
        s.call(Method::POST, "/api/customer-portal", &sk, &user, None)
            .await;
        s.call(Method::GET, "/api/products", &sk, &[], None).await;
        s.call(
            Method::POST,
            "/api/cart/checkout",
            &sk,
            &[],
            Some(json!({ "items": [{ "priceId": ticket, "quantity": 1 }] })),
        )
        .await;
        s.call(
            Method::GET,
            &format!("/admin/platforms/{platform}/stripe?mode=test"),
            ADMIN,
            &[],
            None,
        )
        .await;
        s.call(Method::GET, "/api/events", &sk, &[], None).await;
    }

    // A webhook on the direct platform's own endpoint: the secret is opened and used
    // (STRIPE_WEBHOOK_SECRET is not set: direct mode does not need it), and still
    // appears nowhere.
    let payload = json!({
        "id": "evt_secrets_direct",
        "object": "event",
        "created": chrono::Utc::now().timestamp(),
        "data": { "object": { "id": "cs_unknown", "object": "checkout.session", "mode": "subscription",
                              "status": "complete", "payment_status": "paid", "metadata": {} } },
        "livemode": false,
        "type": "checkout.session.completed"
    })
    .to_string();
    let signature = dream_stripe::webhook_signature_header(
        payload.as_bytes(),
        DIRECT_WEBHOOK_SECRET,
        chrono::Utc::now().timestamp(),
    );
    let delivered = s
        .http
        .post(format!("{base}/webhook/stripe/{direct_platform}"))
        .header("Stripe-Signature", signature)
        .body(payload)
        .send()
        .await
        .expect("webhook");
    let status = delivered.status();
    let text = delivered.text().await.expect("body");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("applied"), "{text}");
    s.seen.push_str(&text);

    // Stop the server so the logs are complete and the WAL is checkpointed or on disk.
    let pid = server.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut server = server;
    assert!(server.wait().expect("server exits").success());
    let logs = std::fs::read_to_string(&log_path).expect("logs");
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&data_dir).expect("data dir") {
        let path = entry.expect("entry").path();
        stored.extend(std::fs::read(&path).expect("read store file"));
    }
    let stored = String::from_utf8_lossy(&stored).into_owned();

    // The grep looks in the right places: what may be stored is there.
    assert!(
        stored.contains(AUTHORIZE_ACCOUNT),
        "the account id is stored"
    );
    assert!(stored.contains("v1:"), "the sealed direct key is stored");
    assert!(logs.contains("/create-products"), "request logs are there");

    let tokens = stripe.issued_oauth_tokens();
    assert!(!tokens.is_empty(), "the exchange issued tokens to look for");
    let mut secrets: Vec<&str> = tokens.iter().map(String::as_str).collect();
    secrets.push(TEST_DIRECT_KEY);
    secrets.push(DIRECT_WEBHOOK_SECRET);
    secrets.push(TEST_PLATFORM_KEY);
    for secret in secrets {
        assert!(!stored.contains(secret), "a Stripe secret is in the store");
        assert!(!logs.contains(secret), "a Stripe secret is in the logs");
        assert!(!s.seen.contains(secret), "a Stripe secret is in a response");
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    let _ = std::fs::remove_file(&log_path);
}
