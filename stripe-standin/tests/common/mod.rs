//! A tiny HTTP helper for talking to the stand-in the way a Stripe client does.

#![allow(dead_code)]

use dream_stripe_standin::{StandIn, StandInConfig, CONNECTED_ACCOUNT, TEST_PLATFORM_KEY};
use reqwest::header::HeaderMap;
use serde_json::Value;

pub async fn standin() -> StandIn {
    StandIn::start(StandInConfig::test_default()).await.unwrap()
}

/// One request: by default with the test platform key on [`CONNECTED_ACCOUNT`].
pub struct Req {
    method: reqwest::Method,
    path: String,
    key: Option<String>,
    account: Option<String>,
    idempotency_key: Option<String>,
    body: String,
}

pub fn post(path: &str, body: &str) -> Req {
    Req::new(reqwest::Method::POST, path).body(body)
}

pub fn get(path: &str) -> Req {
    Req::new(reqwest::Method::GET, path)
}

impl Req {
    pub fn new(method: reqwest::Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            key: Some(TEST_PLATFORM_KEY.to_owned()),
            account: Some(CONNECTED_ACCOUNT.to_owned()),
            idempotency_key: None,
            body: String::new(),
        }
    }

    pub fn key(mut self, key: Option<&str>) -> Self {
        self.key = key.map(str::to_owned);
        self
    }

    pub fn account(mut self, account: Option<&str>) -> Self {
        self.account = account.map(str::to_owned);
        self
    }

    pub fn idempotency_key(mut self, key: &str) -> Self {
        self.idempotency_key = Some(key.to_owned());
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }

    pub async fn send(self, standin: &StandIn) -> Answer {
        let url = format!("{}{}", standin.base_url(), self.path);
        let mut request = reqwest::Client::new().request(self.method.clone(), url);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(account) = &self.account {
            request = request.header("Stripe-Account", account);
        }
        if let Some(key) = &self.idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if self.method == reqwest::Method::POST {
            request = request
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(self.body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_type(&self) -> &str {
        self.json["error"]["type"].as_str().unwrap_or_default()
    }

    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn error_param(&self) -> &str {
        self.json["error"]["param"].as_str().unwrap_or_default()
    }

    pub fn error_message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or_default()
    }

    pub fn id(&self) -> String {
        self.json["id"].as_str().unwrap().to_owned()
    }

    /// Asserts a 200 and returns the body.
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "unexpected answer: {}", self.text);
        &self.json
    }

    /// Asserts a Stripe error with this status, type and param.
    pub fn assert_error(&self, status: u16, kind: &str, param: Option<&str>) {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        assert_eq!(self.error_type(), kind, "unexpected answer: {}", self.text);
        if let Some(param) = param {
            assert_eq!(
                self.error_param(),
                param,
                "unexpected answer: {}",
                self.text
            );
        }
        assert!(self.header("Request-Id").unwrap().starts_with("req_"));
    }
}

/// Creates a product and a price on the connected account; returns the price id.
pub async fn price(standin: &StandIn, extra: &str) -> String {
    let product = post("/v1/products", "name=Pro").send(standin).await.id();
    post(
        "/v1/prices",
        &format!("product={product}&currency=usd&unit_amount=900&{extra}"),
    )
    .send(standin)
    .await
    .id()
}
