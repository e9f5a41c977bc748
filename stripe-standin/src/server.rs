//! The HTTP server: one poem endpoint that hands every request to the API or OAuth handler and
//! records it.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use poem::http::{HeaderMap, StatusCode};
use poem::listener::TcpAcceptor;
use poem::{Request, Response};
use serde_json::Value;

use crate::state::State;
use crate::{api, oauth, RecordedRequest};

/// A request as the handlers see it.
pub(crate) struct Incoming {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Incoming {
    /// A header's value, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// What a handler answers.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// Binds `127.0.0.1:0` and serves on a tokio task.
pub(crate) fn spawn(
    state: Arc<Mutex<State>>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let acceptor = TcpAcceptor::from_std(listener)?;
    let endpoint = poem::endpoint::make(move |req: Request| {
        let state = state.clone();
        async move { handle(&state, req).await }
    });
    let task = tokio::spawn(async move {
        if let Err(err) = poem::Server::new_with_acceptor(acceptor)
            .run(endpoint)
            .await
        {
            tracing::warn!(%err, "stripe stand-in stopped");
        }
    });
    Ok((addr, task))
}

async fn handle(state: &Mutex<State>, mut req: Request) -> Response {
    let body = req.take_body().into_vec().await.unwrap_or_default();
    let incoming = Incoming {
        method: req.method().as_str().to_ascii_uppercase(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        headers: req.headers().clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let mut state = state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let request_id = state.ids.id("req_", 14);
    let mut record = RecordedRequest {
        method: incoming.method.clone(),
        path: incoming.path.clone(),
        account: None,
        stripe_account: incoming.header("stripe-account"),
        livemode: false,
        idempotency_key: incoming.header("idempotency-key"),
        stripe_version: incoming.header("stripe-version"),
        params: Value::Object(Default::default()),
        status: 0,
        replayed: false,
        request_id: request_id.clone(),
    };
    let reply = if incoming.path.starts_with("/oauth/") {
        oauth::handle(&mut state, &incoming, &mut record)
    } else {
        api::handle(&mut state, &incoming, &mut record)
    };
    record.status = reply.status;
    tracing::debug!(
        method = %record.method,
        path = %record.path,
        status = record.status,
        "stripe stand-in request"
    );
    state.requests.push(record);
    drop(state);

    let mut response = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("Request-Id", request_id);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    match reply.body {
        Some(body) => response
            .content_type("application/json")
            .body(serde_json::to_string_pretty(&body).unwrap_or_default()),
        None => response.finish(),
    }
}
