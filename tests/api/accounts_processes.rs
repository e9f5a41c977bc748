//! Developer accounts across real `dream serve` processes: sessions ended in one
//! process are ended in the other at once (PostgreSQL, 2 processes), the plan
//! gate with a house platform billing through the Stripe stand-in, and no
//! password, session token or secret key in any log line.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use dream_stripe_standin::{StandIn, StandInConfig, CLIENT_ID, TEST_PLATFORM_KEY};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    accounts::{call, new_app, sign_up, PASSWORD},
    processes::{fresh_database, Server},
    support::TestServer,
};

/// A plain client against a process: `Origin` is the process's own.
async fn send(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let mut req = http
        .request(method, format!("{base}{path}"))
        .header("Origin", base);
    if let Some(session) = session {
        req = req.header("Cookie", format!("dream_session={session}"));
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.strip_prefix("dream_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned);
    (status, resp.json().await.unwrap_or(Value::Null), cookie)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_password_change_end_sessions_in_another_process() {
    let db = fresh_database().await;
    let a = Server::start(&[("DATABASE_URL", db.clone())]).await;
    let b = Server::start(&[("DATABASE_URL", db)]).await;
    let http = reqwest::Client::new();
    let creds = json!({ "email": "two@example.com", "password": PASSWORD });
    let (status, _, first) = send(
        &http,
        &a.base,
        Method::POST,
        "/account/signup",
        None,
        Some(creds.clone()),
    )
    .await;
    assert_eq!(status, 201);
    let first = first.expect("session");
    let (_, _, second) = send(
        &http,
        &b.base,
        Method::POST,
        "/account/login",
        None,
        Some(creds.clone()),
    )
    .await;
    let second = second.expect("session");
    let (_, _, third) = send(
        &http,
        &a.base,
        Method::POST,
        "/account/login",
        None,
        Some(creds),
    )
    .await;
    let third = third.expect("session");

    // Every session works in both processes.
    for session in [&first, &second, &third] {
        for base in [&a.base, &b.base] {
            let (status, _, _) =
                send(&http, base, Method::GET, "/account", Some(session), None).await;
            assert_eq!(status, 200);
        }
    }

    // Logout in A: the very next request in B is refused (sessions are never cached).
    let (status, _, _) = send(
        &http,
        &a.base,
        Method::POST,
        "/account/logout",
        Some(&third),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, body, _) = send(&http, &b.base, Method::GET, "/account", Some(&third), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated"))
    );

    // Password change in B ends the other sessions in A at once; B's own stays.
    let (status, _, _) = send(
        &http,
        &b.base,
        Method::POST,
        "/account/password",
        Some(&second),
        Some(json!({ "currentPassword": PASSWORD, "newPassword": "another long password" })),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = send(&http, &a.base, Method::GET, "/account", Some(&first), None).await;
    assert_eq!(status, 401, "the other session ended in the other process");
    let (status, _, _) = send(&http, &a.base, Method::GET, "/account", Some(&second), None).await;
    assert_eq!(status, 200, "the session that changed the password stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_throttling_holds_across_processes() {
    let db = fresh_database().await;
    let a = Server::start(&[("DATABASE_URL", db.clone())]).await;
    let b = Server::start(&[("DATABASE_URL", db)]).await;
    let http = reqwest::Client::new();
    let email = "throttle@example.com";
    let (status, _, _) = send(
        &http,
        &a.base,
        Method::POST,
        "/account/signup",
        None,
        Some(json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 201);
    for i in 0..5 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let (status, _, _) = send(
            &http,
            base,
            Method::POST,
            "/account/login",
            None,
            Some(json!({ "email": email, "password": "wrong password" })),
        )
        .await;
        assert_eq!(status, 401);
    }
    for base in [&a.base, &b.base] {
        let (status, body, _) = send(
            &http,
            base,
            Method::POST,
            "/account/login",
            None,
            Some(json!({ "email": email, "password": PASSWORD })),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (429, Some("too_many_attempts"))
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Two in-process servers on one SQLite file and one Stripe stand-in: the first
/// sets up the house platform (connected, a $15 plan synced to Stripe), the
/// second runs with it as `DREAM_HOUSE_PLATFORM`.
struct House {
    _stripe: StandIn,
    _setup: TestServer,
    server: TestServer,
    house_secret: String,
}

async fn house() -> House {
    let stripe = StandIn::start(StandInConfig::test_default())
        .await
        .expect("stand-in");
    let data_dir = crate::processes::temp_dir("house");
    let env = |port: u16, house: Option<&str>| {
        let mut env = vec![
            ("DREAM_STORE", "sqlite".to_owned()),
            ("DREAM_DATA_DIR", data_dir.display().to_string()),
            ("STRIPE_SECRET_KEY", TEST_PLATFORM_KEY.to_owned()),
            ("STRIPE_CLIENT_ID", CLIENT_ID.to_owned()),
            ("STRIPE_API_BASE", stripe.base_url()),
            ("STRIPE_CONNECT_BASE", stripe.connect_base_url()),
            ("DREAM_PUBLIC_URL", format!("http://127.0.0.1:{port}")),
            (
                "DREAM_CHECKOUT_SUCCESS_URL",
                "https://dream.example/ok".to_owned(),
            ),
            (
                "DREAM_CHECKOUT_CANCEL_URL",
                "https://dream.example/no".to_owned(),
            ),
        ];
        if let Some(house) = house {
            env.push(("DREAM_HOUSE_PLATFORM", house.to_owned()));
        }
        env
    };
    let start = |port: u16, env: Vec<(&'static str, String)>| {
        TestServer::start_with(move |config| {
            config.addr = format!("127.0.0.1:{port}").parse().expect("addr");
            config
                .apply_env(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
                .expect("config");
        })
    };
    let setup_port = free_port();
    let setup = start(setup_port, env(setup_port, None)).await;
    let admin = setup.admin_token.clone();
    let platform = setup
        .post(
            "/admin/platforms",
            &admin,
            json!({ "name": "dream itself" }),
        )
        .await;
    let house_id = platform.json["id"].as_str().expect("id").to_owned();
    // Connect the house's test mode through the stand-in's OAuth.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let location = |resp: &reqwest::Response| {
        resp.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("Location")
            .to_owned()
    };
    let to_stripe = browser
        .get(format!(
            "{}/authorize?platformId={house_id}&mode=test",
            setup.base
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("authorize");
    let approved = browser
        .get(location(&to_stripe))
        .send()
        .await
        .expect("stripe");
    let done = browser
        .get(location(&approved))
        .send()
        .await
        .expect("callback");
    assert!(done.status().is_success(), "{:?}", done.text().await);
    let products = setup
        .create_products(json!({
            "platformId": house_id,
            "mode": "test",
            "tiers": [
                { "name": "hobby", "price": 0 },
                { "name": "indie", "price": 15 }
            ]
        }))
        .await;
    assert_eq!(products.status, 200, "{}", products.text);
    let house_secret = products.json["secretKey"]
        .as_str()
        .expect("house secret key")
        .to_owned();
    let port = free_port();
    let server = start(port, env(port, Some(&house_id))).await;
    House {
        _stripe: stripe,
        _setup: setup,
        server,
        house_secret,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_house_platform_live_mode_needs_the_paid_plan() {
    let house = house().await;
    let server = &house.server;
    let (dev, account) = sign_up(server, "indie@example.com").await;
    let account_id = account["id"].as_str().expect("id").to_owned();
    assert_eq!(account["plan"], "hobby");
    assert_eq!(account["liveModeAllowed"], false);
    let (app, _) = new_app(server, &dev, "paid later").await;

    let live_key = call(
        server,
        Method::POST,
        &format!("/account/apps/{app}/keys?mode=live"),
        Some(&dev),
        None,
    )
    .await;
    live_key.assert_error(402, "plan_required");
    assert!(
        live_key.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("POST /account/upgrade")),
        "{}",
        live_key.text
    );
    call(
        server,
        Method::GET,
        &format!("/account/apps/{app}/stripe/authorize?mode=live"),
        Some(&dev),
        None,
    )
    .await
    .assert_error(402, "plan_required");
    let test_key = call(
        server,
        Method::POST,
        &format!("/account/apps/{app}/keys?mode=test"),
        Some(&dev),
        None,
    )
    .await;
    assert_eq!(test_key.status, 201, "{}", test_key.text);

    // The upgrade is a Checkout on the house platform's Stripe account.
    let upgrade = call(server, Method::POST, "/account/upgrade", Some(&dev), None).await;
    assert_eq!(upgrade.status, 200, "{}", upgrade.text);
    assert!(upgrade.json["url"].is_string(), "{}", upgrade.text);

    // The account is the house's customer (external id = account id); the house's
    // subscription webhook changes that customer's plan, as this PATCH does.
    let customer = server
        .get(&format!("/api/customers/{account_id}"), &house.house_secret)
        .await;
    assert_eq!(customer.status, 200, "{}", customer.text);
    assert_eq!(customer.json["customer"]["plan"], "hobby");
    let paid = server
        .send(
            Method::PATCH,
            &format!("/api/customers/{account_id}"),
            Some(&house.house_secret),
            &[],
            Some(json!({ "plan": "indie" })),
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    let me = call(server, Method::GET, "/account", Some(&dev), None).await;
    assert_eq!(me.json["plan"], "indie");
    assert_eq!(me.json["liveModeAllowed"], true);
    let live_key = call(
        server,
        Method::POST,
        &format!("/account/apps/{app}/keys?mode=live"),
        Some(&dev),
        None,
    )
    .await;
    assert_eq!(live_key.status, 201, "{}", live_key.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_session_token_or_secret_key_in_any_log_line() {
    const BIN: &str = env!("CARGO_BIN_EXE_dream");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data_dir = crate::processes::temp_dir("account-logs");
    let log_path = std::env::temp_dir().join(format!("dream-account-logs-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("DREAM_CONFIG")
        .env("DREAM_STORE", "sqlite")
        .env("DREAM_DATA_DIR", &data_dir)
        .env("DREAM_ADDR", format!("127.0.0.1:{port}"))
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
    let mut secrets: Vec<String> = vec![
        PASSWORD.into(),
        "a brand new password".into(),
        "wrong password 1".into(),
    ];
    let creds = json!({ "email": "logs@example.com", "password": PASSWORD });
    let (_, _, session) = send(
        &http,
        &base,
        Method::POST,
        "/account/signup",
        None,
        Some(creds.clone()),
    )
    .await;
    let session = session.expect("session");
    secrets.push(session.clone());
    send(
        &http,
        &base,
        Method::POST,
        "/account/login",
        None,
        Some(json!({ "email": "logs@example.com", "password": "wrong password 1" })),
    )
    .await;
    let (_, _, other) = send(
        &http,
        &base,
        Method::POST,
        "/account/login",
        None,
        Some(creds),
    )
    .await;
    secrets.push(other.expect("session"));
    let (_, app, _) = send(
        &http,
        &base,
        Method::POST,
        "/account/apps",
        Some(&session),
        Some(json!({ "name": "logged" })),
    )
    .await;
    secrets.push(app["secretKey"].as_str().expect("secret").to_owned());
    let app_id = app["app"]["id"].as_str().expect("id").to_owned();
    let (_, key, _) = send(
        &http,
        &base,
        Method::POST,
        &format!("/account/apps/{app_id}/keys"),
        Some(&session),
        None,
    )
    .await;
    secrets.push(key["secretKey"].as_str().expect("secret").to_owned());
    send(
        &http,
        &base,
        Method::POST,
        "/account/password",
        Some(&session),
        Some(json!({ "currentPassword": PASSWORD, "newPassword": "a brand new password" })),
    )
    .await;
    send(
        &http,
        &base,
        Method::POST,
        "/account/logout",
        Some(&session),
        None,
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let logs = std::fs::read_to_string(&log_path).expect("log");
    assert!(logs.lines().count() > 5, "the server logged: {logs}");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
    }
}
