//! The HTTP transport under async-stripe's request builders: one [`Transport`] per secret
//! key, implementing `stripe_client_core::StripeClient` on a shared `reqwest` client.
//!
//! async-stripe's own `Client` hides the response headers, so it can report neither
//! Stripe's `Request-Id` nor `Stripe-Should-Retry`, and it opens a new connection for every
//! request. This transport sends exactly what it would (`Authorization: Bearer`,
//! `Stripe-Version`, `Stripe-Account`, `Idempotency-Key`, the form body), keeps connections
//! pooled, reads those headers, and runs the retry loop with the caller's idempotency key.

use std::{fmt, sync::Arc};

use bytes::Bytes;
use dream_core::BillingErrorKind;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use stripe_client_core::{CustomizedStripeRequest, StripeClient, StripeMethod};

use crate::{
    error::{ApiFailure, CallError},
    retry::{self, RetryPolicy},
};

/// Sends Stripe API requests with one secret key.
#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    /// The API base without a trailing slash; paths are appended as `/v1{path}`.
    base: Arc<str>,
    /// `Bearer <key>`, marked sensitive so no `Debug` of a header map shows it.
    authorization: HeaderValue,
    retry: RetryPolicy,
}

impl Transport {
    /// A transport for `secret`; `None` if the key cannot be sent in a header.
    pub fn new(
        http: reqwest::Client,
        base: Arc<str>,
        secret: &str,
        retry: RetryPolicy,
    ) -> Option<Self> {
        let mut authorization = HeaderValue::try_from(format!("Bearer {secret}")).ok()?;
        authorization.set_sensitive(true);
        Some(Self {
            http,
            base,
            authorization,
            retry,
        })
    }

    /// The `Authorization` header value, for the Connect OAuth calls.
    pub fn authorization(&self) -> &HeaderValue {
        &self.authorization
    }

    /// The shared HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    async fn attempt(&self, request: &Prepared, number: u32) -> Result<Bytes, CallError> {
        let mut builder = self
            .http
            .request(request.method.clone(), &request.url)
            .header(AUTHORIZATION, self.authorization.clone())
            .header("Stripe-Version", stripe_shared::version::VERSION.as_str());
        if let Some(account) = &request.account {
            builder = builder.header("Stripe-Account", account.clone());
        }
        if let Some(key) = &request.idempotency_key {
            builder = builder.header("Idempotency-Key", key.clone());
        }
        if let Some(body) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone());
        }
        let response = builder.send().await.map_err(network)?;
        let status = response.status();
        let request_id = header_str(response.headers(), "request-id").map(str::to_owned);
        let should_retry =
            header_str(response.headers(), "stripe-should-retry").and_then(|v| v.parse().ok());
        let bytes = response.bytes().await.map_err(network)?;
        tracing::debug!(
            method = %request.method,
            path = %request.path,
            account = request.account.as_ref().and_then(|a| a.to_str().ok()),
            attempt = number + 1,
            status = status.as_u16(),
            request_id = request_id.as_deref(),
            "Stripe request"
        );
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(CallError::Api(Box::new(ApiFailure::from_response(
                status.as_u16(),
                request_id,
                should_retry,
                &bytes,
            ))))
        }
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl StripeClient for Transport {
    type Err = CallError;

    async fn execute(&self, request: CustomizedStripeRequest) -> Result<Bytes, CallError> {
        let prepared = Prepared::new(&self.base, request)?;
        // Without an idempotency key a POST could take effect twice: send it once.
        let retry_safe =
            prepared.idempotency_key.is_some() || prepared.method == reqwest::Method::GET;
        retry::run(self.retry, retry_safe, |number| {
            self.attempt(&prepared, number)
        })
        .await
    }
}

/// A request ready to be sent (and sent again, identically).
struct Prepared {
    method: reqwest::Method,
    path: String,
    url: String,
    body: Option<String>,
    account: Option<HeaderValue>,
    idempotency_key: Option<HeaderValue>,
}

impl Prepared {
    fn new(base: &str, request: CustomizedStripeRequest) -> Result<Self, CallError> {
        let (request, config) = request.into_pieces();
        let method = match request.method {
            StripeMethod::Get => reqwest::Method::GET,
            StripeMethod::Post => reqwest::Method::POST,
            StripeMethod::Delete => reqwest::Method::DELETE,
        };
        let mut url = format!("{base}/v1{}", request.path);
        if let Some(query) = request.query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(&query);
        }
        let account = config
            .account_id
            .map(|id| {
                HeaderValue::try_from(id.as_str()).map_err(|_| {
                    CallError::local(
                        BillingErrorKind::InvalidRequest,
                        "the connected account id cannot be sent in a header",
                    )
                })
            })
            .transpose()?;
        let idempotency_key = config
            .request_strategy
            .and_then(|s| s.get_key())
            .map(|key| {
                HeaderValue::try_from(key.as_str()).map_err(|_| {
                    CallError::local(
                        BillingErrorKind::InvalidRequest,
                        "the idempotency key must be visible ASCII",
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            method,
            path: request.path,
            url,
            body: request.body.map(|b| canonical_form(&b)),
            account,
            idempotency_key,
        })
    }
}

/// Sorts the pairs of a form body by key. async-stripe serializes metadata from a
/// `HashMap`, whose order changes from one process (or map) to the next; with the pairs
/// sorted, the same request always has the same bytes, so an idempotent replay after a
/// restart matches the original byte for byte. Stripe's bracket keys carry explicit
/// indices (`line_items[0][price]`), so the order of pairs carries no meaning.
pub(crate) fn canonical_form(body: &str) -> String {
    let mut pairs: Vec<&str> = body.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_by(|a, b| form_key(a).cmp(form_key(b)));
    pairs.join("&")
}

fn form_key(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(key, _)| key)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn network(error: reqwest::Error) -> CallError {
    // `without_url` keeps paths and ids out of the message; keys are never in URLs anyway.
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    CallError::Network { message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_by_key_and_keeps_values() {
        assert_eq!(
            canonical_form("name=a&metadata[z]=1&metadata[a]=2&active=true"),
            "active=true&metadata[a]=2&metadata[z]=1&name=a"
        );
        assert_eq!(canonical_form(""), "");
        let a = canonical_form("metadata%5Bb%5D=1&metadata%5Ba%5D=2");
        let b = canonical_form("metadata%5Ba%5D=2&metadata%5Bb%5D=1");
        assert_eq!(a, b);
    }
}
