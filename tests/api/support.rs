//! A real server on 127.0.0.1:0 per test, and a small client.

use std::sync::atomic::{AtomicU64, Ordering};

use dream_bin::{Application, Config};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub struct TestServer {
    pub base: String,
    pub admin_token: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A response: status, headers, and the body as JSON (Null when not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an error body of our shape with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.json["code"], code, "body: {}", self.text);
        assert!(self.json["error"].is_string(), "body: {}", self.text);
        assert!(self.json["message"].is_string(), "body: {}", self.text);
        assert!(
            self.json["requestId"]
                .as_str()
                .is_some_and(|r| r.starts_with("req_")),
            "body: {}",
            self.text
        );
        self
    }
}

/// A tenant's credentials.
#[derive(Clone, Debug)]
pub struct Creds {
    pub platform_id: String,
    pub publishable_key: String,
    pub secret_key: String,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let admin_token = format!("admin-token-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut config = Config {
            addr: "127.0.0.1:0".parse().expect("addr"),
            store: Some(dream_bin::StoreKind::Memory),
            ..Config::default()
        };
        config
            .apply_env(|name| (name == "DREAM_ADMIN_TOKEN").then(|| admin_token.clone()))
            .expect("config");
        adjust(&mut config);
        let app = Application::build(&config).await.expect("server builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            admin_token,
            http: reqwest::Client::new(),
            stop: Some(stop),
        }
    }

    /// A server on a fresh database of the shared test PostgreSQL
    /// (`DREAM_TEST_DATABASE_URL`, started by `scripts/test`).
    pub async fn start_postgres() -> Self {
        let database = fresh_database();
        Self::start_with(move |config| {
            config.store = Some(dream_bin::StoreKind::Postgres);
            config
                .apply_env(|name| (name == "DATABASE_URL").then(|| database.clone()))
                .expect("config");
        })
        .await
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::reply(req.send().await.expect("request sent")).await
    }

    pub async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.send(Method::GET, path, Some(key), &[], None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(key), &[], Some(body))
            .await
    }

    /// `POST /api/data` for a customer.
    pub async fn track(&self, key: &str, user: &str) -> Reply {
        self.send(
            Method::POST,
            "/api/data",
            Some(key),
            &[("X-User-Id", user)],
            None,
        )
        .await
    }

    /// `GET /api/usage` for a customer.
    pub async fn usage(&self, key: &str, user: &str) -> Reply {
        self.send(
            Method::GET,
            "/api/usage",
            Some(key),
            &[("X-User-Id", user)],
            None,
        )
        .await
    }

    /// `POST /create-products` with the admin token.
    pub async fn create_products(&self, body: Value) -> Reply {
        self.post("/create-products", &self.admin_token.clone(), body)
            .await
    }

    /// A new platform in `mode` with free (limit `free_limit`), pro (limit 10, $29)
    /// and enterprise (unlimited, $99).
    pub async fn tenant(&self, mode: &str, free_limit: u64) -> Creds {
        let reply = self
            .create_products(json!({ "mode": mode, "tiers": standard_tiers(free_limit) }))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        creds(&reply.json)
    }

    /// Creates a customer and returns its id.
    pub async fn customer(&self, key: &str, body: Value) -> String {
        let reply = self.post("/api/customers", key, body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json["customer"]["id"]
            .as_str()
            .expect("customer id")
            .to_owned()
    }
}

/// A fresh database on the shared test server, as a URL.
pub fn fresh_database() -> String {
    let url = std::env::var("DREAM_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("DREAM_TEST_DATABASE_URL is not set: run ./scripts/test, which starts it")
    });
    let name = format!(
        "dream_api_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let status = std::process::Command::new("psql")
        .args([&url, "-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql runs");
    assert!(status.success(), "CREATE DATABASE failed");
    let (server, _) = url.rsplit_once('/').expect("url has a database");
    format!("{server}/{name}")
}

pub fn standard_tiers(free_limit: u64) -> Value {
    json!([
        { "name": "free", "price": 0, "limit": free_limit },
        { "name": "pro", "price": 29, "limit": 10 },
        { "name": "enterprise", "price": 99 }
    ])
}

pub fn creds(body: &Value) -> Creds {
    Creds {
        platform_id: body["platformId"].as_str().expect("platformId").to_owned(),
        publishable_key: body["publishableKey"]
            .as_str()
            .expect("publishableKey")
            .to_owned(),
        secret_key: body["secretKey"].as_str().expect("secretKey").to_owned(),
    }
}
