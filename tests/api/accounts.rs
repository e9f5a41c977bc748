//! Developer accounts through the account front door (in-process servers): the
//! whole journey without the admin token, sessions, CSRF refusal, login
//! throttling, and another account's app as a 404 on every route.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{standard_tiers, Reply, TestServer};

pub const PASSWORD: &str = "correct horse battery";

/// A signed-in developer: the session cookie's value.
#[derive(Clone, Debug)]
pub struct Dev {
    pub session: String,
}

/// The `dream_session` value a response sets.
pub fn session_of(reply: &Reply) -> String {
    let cookie = reply.header("set-cookie").expect("Set-Cookie");
    cookie
        .strip_prefix("dream_session=")
        .and_then(|rest| rest.split(';').next())
        .expect("a dream_session cookie")
        .to_owned()
}

/// A request to the account API as a browser on this server's page sends it:
/// `Origin` is the server's own, the cookie when signed in.
pub async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    dev: Option<&Dev>,
    body: Option<Value>,
) -> Reply {
    let cookie = dev.map(|d| format!("dream_session={}", d.session));
    let mut headers = vec![("Origin", server.base.as_str())];
    if let Some(cookie) = &cookie {
        headers.push(("Cookie", cookie.as_str()));
    }
    server.send(method, path, None, &headers, body).await
}

pub async fn sign_up(server: &TestServer, email: &str) -> (Dev, Value) {
    let reply = call(
        server,
        Method::POST,
        "/account/signup",
        None,
        Some(json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    (
        Dev {
            session: session_of(&reply),
        },
        reply.json,
    )
}

pub async fn log_in(server: &TestServer, email: &str, password: &str) -> Reply {
    call(
        server,
        Method::POST,
        "/account/login",
        None,
        Some(json!({ "email": email, "password": password })),
    )
    .await
}

/// A new app of `dev`: its id and test secret key.
pub async fn new_app(server: &TestServer, dev: &Dev, name: &str) -> (String, String) {
    let reply = call(
        server,
        Method::POST,
        "/account/apps",
        Some(dev),
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    (
        reply.json["app"]["id"].as_str().expect("app id").to_owned(),
        reply.json["secretKey"]
            .as_str()
            .expect("secretKey")
            .to_owned(),
    )
}

/// The body without its request id, for byte-for-byte comparisons.
fn without_request_id(reply: &Reply) -> Value {
    let mut body = reply.json.clone();
    body.as_object_mut().expect("object").remove("requestId");
    body
}

#[tokio::test]
async fn the_journey_from_sign_up_to_the_tier_limit_needs_no_admin_token() {
    let server = TestServer::start().await;
    let (dev, account) = sign_up(&server, "Ada@Example.com").await;
    assert!(account["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("acc_")));
    assert_eq!(account["email"], "Ada@Example.com");
    assert_eq!(account["plan"], Value::Null, "no house platform: no plans");
    assert_eq!(account["liveModeAllowed"], true);

    let (app, first_secret) = new_app(&server, &dev, "Weather").await;
    assert!(first_secret.starts_with("sk_test_"), "{first_secret}");
    let tiers = call(
        &server,
        Method::PUT,
        &format!("/account/apps/{app}/tiers"),
        Some(&dev),
        Some(json!({ "tiers": standard_tiers(3) })),
    )
    .await;
    assert_eq!(tiers.status, 200, "{}", tiers.text);
    assert_eq!(tiers.json["platformId"], app.as_str());
    assert_eq!(tiers.json["mode"], "test");
    assert!(
        tiers.json.get("secretKey").is_none(),
        "the app has a pair already: no new secret"
    );
    let read = call(
        &server,
        Method::GET,
        &format!("/account/apps/{app}/tiers"),
        Some(&dev),
        None,
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json["tiers"][0]["name"], "free");

    let key = call(
        &server,
        Method::POST,
        &format!("/account/apps/{app}/keys"),
        Some(&dev),
        Some(json!({ "label": "server" })),
    )
    .await;
    assert_eq!(key.status, 201, "{}", key.text);
    let secret = key.json["secretKey"]
        .as_str()
        .expect("secretKey")
        .to_owned();
    assert!(secret.starts_with("sk_test_"), "{secret}");

    for used in 1..=3 {
        let tracked = server.track(&secret, "user-1").await;
        assert_eq!(tracked.status, 200, "{}", tracked.text);
        assert_eq!(tracked.json["usage"]["count"], used);
    }
    let refused = server.track(&secret, "user-1").await;
    refused.assert_error(429, "usage_limit_reached");
    assert_eq!(refused.json["error"], "Tier limit reached");

    // The same data through the account door.
    let customers = call(
        &server,
        Method::GET,
        &format!("/account/apps/{app}/customers"),
        Some(&dev),
        None,
    )
    .await;
    assert_eq!(customers.status, 200, "{}", customers.text);
    assert_eq!(customers.json["data"][0]["externalId"], "user-1");
    // Writes through the account door reach the same tenant as the key.
    let created = call(
        &server,
        Method::POST,
        &format!("/account/apps/{app}/customers"),
        Some(&dev),
        Some(json!({ "email": "bo@example.com", "externalId": "user-2", "plan": "pro" })),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let by_key = server.get("/api/customers/user-2", &secret).await;
    assert_eq!(by_key.json["customer"]["plan"], "pro", "{}", by_key.text);
    let live = call(
        &server,
        Method::GET,
        &format!("/account/apps/{app}/customers?mode=live"),
        Some(&dev),
        None,
    )
    .await;
    assert_eq!(live.status, 200, "{}", live.text);
    assert_eq!(live.json["data"], json!([]), "live mode is another tenant");
    let dashboard = call(
        &server,
        Method::GET,
        &format!("/account/apps/{app}/dashboard"),
        Some(&dev),
        None,
    )
    .await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.text);
    let keys = call(
        &server,
        Method::GET,
        &format!("/account/apps/{app}/keys"),
        Some(&dev),
        None,
    )
    .await;
    assert_eq!(keys.json["data"].as_array().map(Vec::len), Some(2));
    let me = call(&server, Method::GET, "/account", Some(&dev), None).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["apps"][0]["id"], app.as_str());
}

#[tokio::test]
async fn apps_are_listed_renamed_and_deleted_with_their_keys() {
    let server = TestServer::start().await;
    let (dev, _) = sign_up(&server, "apps@example.com").await;
    let (first, secret) = new_app(&server, &dev, "First").await;
    let (second, _) = new_app(&server, &dev, "Second").await;
    let list = call(&server, Method::GET, "/account/apps", Some(&dev), None).await;
    let ids: Vec<&str> = list.json["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, vec![first.as_str(), second.as_str()]);

    let renamed = call(
        &server,
        Method::PATCH,
        &format!("/account/apps/{first}"),
        Some(&dev),
        Some(json!({ "name": "Renamed" })),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.json["name"], "Renamed");

    let deleted = call(
        &server,
        Method::DELETE,
        &format!("/account/apps/{first}"),
        Some(&dev),
        None,
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert!(deleted.json["deletedAt"].is_string());
    server
        .get("/api/tiers", &secret)
        .await
        .assert_error(401, "invalid_api_key");
    call(
        &server,
        Method::GET,
        &format!("/account/apps/{first}"),
        Some(&dev),
        None,
    )
    .await
    .assert_error(404, "not_found");
    let list = call(&server, Method::GET, "/account/apps", Some(&dev), None).await;
    assert_eq!(list.json["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn sign_up_validates_and_emails_are_unique_case_insensitively() {
    let server = TestServer::start().await;
    let short = call(
        &server,
        Method::POST,
        "/account/signup",
        None,
        Some(json!({ "email": "a@example.com", "password": "123456789" })),
    )
    .await;
    short.assert_error(400, "invalid_request");
    assert_eq!(short.json["field"], "/password");
    let bad_email = call(
        &server,
        Method::POST,
        "/account/signup",
        None,
        Some(json!({ "email": "not-an-email", "password": PASSWORD })),
    )
    .await;
    bad_email.assert_error(400, "invalid_request");
    assert_eq!(bad_email.json["field"], "/email");

    sign_up(&server, "grace@example.com").await;
    call(
        &server,
        Method::POST,
        "/account/signup",
        None,
        Some(json!({ "email": "GRACE@example.COM", "password": PASSWORD })),
    )
    .await
    .assert_error(409, "conflict");
    let login = log_in(&server, "Grace@Example.com", PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_and_secure_behind_https() {
    let server = TestServer::start().await;
    let reply = call(
        &server,
        Method::POST,
        "/account/signup",
        None,
        Some(json!({ "email": "c@example.com", "password": PASSWORD })),
    )
    .await;
    let cookie = reply.header("set-cookie").expect("Set-Cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");

    let https = TestServer::start_with(|c| {
        c.public_url = Some("https://dream.example".into());
    })
    .await;
    let reply = https
        .send(
            Method::POST,
            "/account/signup",
            None,
            &[("Origin", "https://dream.example")],
            Some(json!({ "email": "s@example.com", "password": PASSWORD })),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let cookie = reply.header("set-cookie").expect("Set-Cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn logout_and_password_change_end_sessions() {
    let server = TestServer::start().await;
    let email = "sessions@example.com";
    let (first, _) = sign_up(&server, email).await;
    let second = Dev {
        session: session_of(&log_in(&server, email, PASSWORD).await),
    };
    let third = Dev {
        session: session_of(&log_in(&server, email, PASSWORD).await),
    };

    let out = call(&server, Method::POST, "/account/logout", Some(&third), None).await;
    assert_eq!(out.status, 204, "{}", out.text);
    assert!(out
        .header("set-cookie")
        .is_some_and(|c| c.contains("Max-Age=0")));
    call(&server, Method::GET, "/account", Some(&third), None)
        .await
        .assert_error(401, "unauthenticated");

    let short = call(
        &server,
        Method::POST,
        "/account/password",
        Some(&first),
        Some(json!({ "currentPassword": PASSWORD, "newPassword": "short" })),
    )
    .await;
    short.assert_error(400, "invalid_request");
    assert_eq!(short.json["field"], "/newPassword");
    let wrong = call(
        &server,
        Method::POST,
        "/account/password",
        Some(&first),
        Some(
            json!({ "currentPassword": "not the password", "newPassword": "a new long password" }),
        ),
    )
    .await;
    wrong.assert_error(400, "invalid_request");
    assert_eq!(wrong.json["field"], "/currentPassword");

    let changed = call(
        &server,
        Method::POST,
        "/account/password",
        Some(&first),
        Some(json!({ "currentPassword": PASSWORD, "newPassword": "a new long password" })),
    )
    .await;
    assert_eq!(changed.status, 204, "{}", changed.text);
    let kept = call(&server, Method::GET, "/account", Some(&first), None).await;
    assert_eq!(kept.status, 200, "the session that changed it stays");
    call(&server, Method::GET, "/account", Some(&second), None)
        .await
        .assert_error(401, "unauthenticated");
    log_in(&server, email, PASSWORD)
        .await
        .assert_error(401, "unauthenticated");
    assert_eq!(
        log_in(&server, email, "a new long password").await.status,
        200
    );

    // No cookie at all, and a made-up one.
    server
        .send(Method::GET, "/account", None, &[], None)
        .await
        .assert_error(401, "unauthenticated");
    call(
        &server,
        Method::GET,
        "/account/apps",
        Some(&Dev {
            session: "ses_made_up".into(),
        }),
        None,
    )
    .await
    .assert_error(401, "unauthenticated");
}

#[tokio::test]
async fn cookie_writes_from_other_origins_are_refused() {
    let server = TestServer::start_with(|c| {
        c.trusted_origins = Some("https://dash.example".into());
    })
    .await;
    let (dev, _) = sign_up(&server, "csrf@example.com").await;
    let cookie = format!("dream_session={}", dev.session);
    let body = json!({ "name": "x" });
    let post = |headers: Vec<(&'static str, String)>| {
        let (server, cookie, body) = (&server, cookie.clone(), body.clone());
        async move {
            let mut all: Vec<(&str, &str)> = vec![("Cookie", cookie.as_str())];
            all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
            server
                .send(Method::POST, "/account/apps", None, &all, Some(body))
                .await
        }
    };
    post(vec![("Origin", "https://evil.example".into())])
        .await
        .assert_error(403, "forbidden");
    post(vec![]).await.assert_error(403, "forbidden");
    post(vec![("Origin", "null".into())])
        .await
        .assert_error(403, "forbidden");
    post(vec![("Referer", "https://evil.example/page".into())])
        .await
        .assert_error(403, "forbidden");
    // A cross-site write to a shared operation is refused before it is routed.
    let (app, _) = new_app(&server, &dev, "target").await;
    server
        .send(
            Method::POST,
            &format!("/account/apps/{app}/customers"),
            None,
            &[
                ("Cookie", cookie.as_str()),
                ("Origin", "https://evil.example"),
            ],
            Some(json!({ "email": "x@example.com" })),
        )
        .await
        .assert_error(403, "forbidden");

    assert_eq!(
        post(vec![("Referer", format!("{}/dashboard", server.base))])
            .await
            .status,
        201
    );
    assert_eq!(
        post(vec![("Origin", "https://dash.example".into())])
            .await
            .status,
        201
    );
    // Reads need no origin.
    let read = server
        .send(
            Method::GET,
            "/account/apps",
            None,
            &[("Cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
}

#[tokio::test]
async fn five_failed_logins_lock_the_email_whatever_the_password() {
    let server = TestServer::start().await;
    sign_up(&server, "locked@example.com").await;
    let unknown = log_in(&server, "nobody@example.com", "whatever password").await;
    unknown.assert_error(401, "unauthenticated");
    for _ in 0..5 {
        let wrong = log_in(&server, "locked@example.com", "wrong password!").await;
        wrong.assert_error(401, "unauthenticated");
        assert_eq!(
            without_request_id(&wrong),
            without_request_id(&unknown),
            "an unknown email and a wrong password get one body"
        );
    }
    let locked = log_in(&server, "LOCKED@example.com", PASSWORD).await;
    locked.assert_error(429, "too_many_attempts");
    let retry: u64 = locked
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    // Another email is not affected.
    assert_eq!(
        log_in(&server, "nobody@example.com", "x").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Every `/account/apps/{platformId}…` operation of the published spec.
async fn app_routes(server: &TestServer) -> Vec<(Method, String)> {
    let spec: Value = server
        .http
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .expect("spec")
        .json()
        .await
        .expect("spec JSON");
    let mut routes = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        if !path.starts_with("/account/apps/{platformId}") {
            continue;
        }
        for method in item.as_object().expect("operations").keys() {
            let method =
                Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
            routes.push((method, path.clone()));
        }
    }
    routes
}

fn fill(path: &str, platform: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{platformId}" => platform.to_owned(),
            s if s.starts_with('{') => "x1".to_owned(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn another_accounts_app_is_a_404_identical_to_a_missing_one_on_every_route() {
    let server = TestServer::start().await;
    let (owner, _) = sign_up(&server, "owner@example.com").await;
    let (stranger, _) = sign_up(&server, "stranger@example.com").await;
    let (app, _) = new_app(&server, &owner, "private").await;
    let routes = app_routes(&server).await;
    assert!(
        routes.len() >= 29
            && routes
                .iter()
                .any(|(m, p)| m == Method::PUT && p.ends_with("/tiers")),
        "every account route is in the spec: {routes:?}"
    );
    for (method, path) in &routes {
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let theirs = call(
            &server,
            method.clone(),
            &fill(path, &app),
            Some(&stranger),
            body.clone(),
        )
        .await;
        let missing = call(
            &server,
            method.clone(),
            &fill(path, "plt_0000000000000000000000"),
            Some(&stranger),
            body.clone(),
        )
        .await;
        theirs.assert_error(404, "not_found");
        missing.assert_error(404, "not_found");
        assert_eq!(
            without_request_id(&theirs),
            without_request_id(&missing),
            "{method} {path}"
        );
        assert_eq!(
            theirs.header("content-type"),
            missing.header("content-type"),
            "{method} {path}"
        );
        // The owner gets past the ownership check on the same route (deleting
        // the app itself would end the table early).
        if method == Method::DELETE && path == "/account/apps/{platformId}" {
            continue;
        }
        let own = call(
            &server,
            method.clone(),
            &fill(path, &app),
            Some(&owner),
            body,
        )
        .await;
        assert!(
            !(own.status == 404 && own.json["message"] == theirs.json["message"]),
            "{method} {path}: the owner must not get the missing-app 404: {}",
            own.text
        );
    }
}

#[tokio::test]
async fn without_a_house_platform_there_is_no_gate() {
    let server = TestServer::start().await;
    let (dev, _) = sign_up(&server, "free@example.com").await;
    let (app, _) = new_app(&server, &dev, "live").await;
    let live = call(
        &server,
        Method::POST,
        &format!("/account/apps/{app}/keys?mode=live"),
        Some(&dev),
        Some(json!({})),
    )
    .await;
    assert_eq!(live.status, 201, "{}", live.text);
    assert!(live.json["secretKey"]
        .as_str()
        .is_some_and(|k| k.starts_with("sk_live_")));
    call(&server, Method::POST, "/account/upgrade", Some(&dev), None)
        .await
        .assert_error(409, "conflict");
    call(
        &server,
        Method::GET,
        &format!("/account/apps/{app}/keys?mode=sideways"),
        Some(&dev),
        None,
    )
    .await
    .assert_error(400, "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_logins_get_exactly_five_password_checks() {
    let server = TestServer::start().await;
    sign_up(&server, "burst@example.com").await;
    let attempts = (0..20).map(|i| {
        let server = &server;
        async move {
            let email = if i % 2 == 0 {
                "burst@example.com"
            } else {
                "BURST@example.com"
            };
            log_in(server, email, "wrong password!")
                .await
                .status
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let count = |s: u16| statuses.iter().filter(|&&x| x == s).count();
    // A 503 `busy` (hashing pool full) is not a failed login and frees its slot.
    assert_eq!(count(401) + count(503), 5, "{statuses:?}");
    assert!(count(401) >= 1, "{statuses:?}");
    assert_eq!(count(429), 15, "{statuses:?}");
}

#[tokio::test]
async fn the_account_door_rolls_keys_sets_origins_and_reads_its_audit_as_the_account() {
    let server = TestServer::start().await;
    let (dev, account) = sign_up(&server, "audited@example.com").await;
    let account_id = account["id"].as_str().expect("account id").to_owned();
    let (app, secret) = new_app(&server, &dev, "Audited").await;
    let keys = call(
        &server,
        Method::GET,
        &format!("/account/apps/{app}/keys"),
        Some(&dev),
        None,
    )
    .await;
    let key_id = keys.json["data"][0]["id"]
        .as_str()
        .expect("key id")
        .to_owned();

    // Roll with a minute of overlap: both secrets work now.
    let rolled = call(
        &server,
        Method::POST,
        &format!("/account/apps/{app}/keys/{key_id}/roll"),
        Some(&dev),
        Some(json!({ "overlapSeconds": 60 })),
    )
    .await;
    assert_eq!(rolled.status, 201, "{}", rolled.text);
    let new_secret = rolled.json["secretKey"]
        .as_str()
        .expect("secretKey")
        .to_owned();
    assert!(rolled.json["rolled"]["expiresAt"].is_string());
    assert_eq!(server.get("/api/dashboard", &secret).await.status, 200);
    assert_eq!(server.get("/api/dashboard", &new_secret).await.status, 200);

    // Another account cannot roll this app's key: the same 404 as a missing one.
    let (stranger, _) = sign_up(&server, "stranger@example.com").await;
    let (own_app, _) = new_app(&server, &stranger, "Own").await;
    call(
        &server,
        Method::POST,
        &format!("/account/apps/{own_app}/keys/{key_id}/roll"),
        Some(&stranger),
        None,
    )
    .await
    .assert_error(404, "not_found");

    let patched = call(
        &server,
        Method::PATCH,
        &format!("/account/apps/{app}"),
        Some(&dev),
        Some(json!({ "allowedOrigins": ["https://shop.example.com"] })),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(
        patched.json["allowedOrigins"],
        json!(["https://shop.example.com"])
    );
    call(
        &server,
        Method::PATCH,
        &format!("/account/apps/{app}"),
        Some(&dev),
        Some(json!({ "allowedOrigins": ["https://*.example.com"] })),
    )
    .await
    .assert_error(400, "invalid_request");

    let audit = call(
        &server,
        Method::GET,
        &format!("/account/apps/{app}/audit"),
        Some(&dev),
        None,
    )
    .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let entries = audit.json["data"].as_array().expect("entries");
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default(),
                e["actor"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for action in [
        "platform.created",
        "key.rolled",
        "platform.allowed_origins_replaced",
    ] {
        assert!(
            actions.contains(&(action, account_id.as_str())),
            "{action} by {account_id} in {actions:?}"
        );
    }
    assert!(
        !audit.text.contains(&secret) && !audit.text.contains(&new_secret),
        "no secret in the audit log"
    );
}

/// `POST` of a dashboard form, as the browser on the server's page sends it.
async fn submit_form(server: &TestServer, path: &str, fields: &str) -> reqwest::Response {
    server
        .http
        .post(format!("{}{path}", server.base))
        .header("Origin", server.base.as_str())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(fields.to_owned())
        .send()
        .await
        .expect("form sent")
}

async fn page(server: &TestServer, path: &str) -> String {
    let resp = server
        .http
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), 200, "{path}");
    resp.text().await.expect("page text")
}

async fn admin_creates_account(server: &TestServer, body: Value) -> Reply {
    let token = server.admin_token.clone();
    server
        .send(
            Method::POST,
            "/admin/accounts",
            Some(&token),
            &[],
            Some(body),
        )
        .await
}

#[tokio::test]
async fn with_sign_up_closed_only_the_operator_creates_accounts() {
    let server = TestServer::start_with(|c| c.signup = dream_core::SignUp::Closed).await;
    let ada = json!({ "email": "ada@example.com", "password": PASSWORD });

    // The API refuses sign-up, and no account came of it.
    let refused = call(
        &server,
        Method::POST,
        "/account/signup",
        None,
        Some(ada.clone()),
    )
    .await;
    refused.assert_error(403, "signup_closed");
    assert!(refused.header("set-cookie").is_none());
    log_in(&server, "ada@example.com", PASSWORD)
        .await
        .assert_error(401, "unauthenticated");

    // The dashboard says so: no form to fill, no link to it, a refused POST.
    let signup_page = page(&server, "/dashboard/signup").await;
    assert!(signup_page.contains("Sign-up is closed"), "{signup_page}");
    assert!(!signup_page.contains("<form"), "{signup_page}");
    let login_page = page(&server, "/dashboard/login").await;
    assert!(
        !login_page.contains("href=\"/dashboard/signup\""),
        "{login_page}"
    );
    assert!(
        login_page.contains("created by its operator"),
        "{login_page}"
    );
    let posted = submit_form(
        &server,
        "/dashboard/signup",
        "email=ada%40example.com&password=correct+horse+battery",
    )
    .await;
    assert_eq!(posted.status(), 403);
    assert!(posted.headers().get("set-cookie").is_none());
    assert_eq!(
        log_in(&server, "ada@example.com", PASSWORD).await.status,
        401
    );

    // The operator creates the account; its owner logs in with it.
    let anonymous = server
        .send(
            Method::POST,
            "/admin/accounts",
            None,
            &[],
            Some(ada.clone()),
        )
        .await;
    anonymous.assert_error(401, "invalid_api_key");
    let created = admin_creates_account(&server, ada.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["email"], "ada@example.com");
    assert!(created.json["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("acc_")));
    assert_eq!(created.json["apps"], json!([]));
    assert!(
        created.header("set-cookie").is_none(),
        "the operator is not signed in as ada"
    );
    let login = log_in(&server, "ada@example.com", PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.json["id"], created.json["id"]);

    // Sign-up's own rules hold for the operator too.
    admin_creates_account(
        &server,
        json!({ "email": "ADA@example.com", "password": PASSWORD }),
    )
    .await
    .assert_error(409, "conflict");
    let short = admin_creates_account(
        &server,
        json!({ "email": "bo@example.com", "password": "short" }),
    )
    .await;
    short.assert_error(400, "invalid_request");
    assert_eq!(short.json["field"], "/password");
}

#[tokio::test]
async fn with_sign_up_open_the_dashboard_offers_it_and_the_operator_may_still_create_accounts() {
    let server = TestServer::start().await;
    let login_page = page(&server, "/dashboard/login").await;
    assert!(
        login_page.contains("href=\"/dashboard/signup\""),
        "{login_page}"
    );
    assert!(page(&server, "/dashboard/signup").await.contains("<form"));
    let created = admin_creates_account(
        &server,
        json!({ "email": "grace@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        log_in(&server, "grace@example.com", PASSWORD).await.status,
        200
    );
}
