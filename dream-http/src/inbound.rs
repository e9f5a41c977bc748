//! Webhooks in: `POST /webhook/stripe` (one URL for every connected account),
//! `POST /webhook/stripe/{platformId}` (a direct-mode developer's own endpoint) and
//! `POST /webhook/clerk` (end users of the developers' apps). Plain poem handlers
//! rather than OpenAPI operations: the signature is over the raw bytes, so the
//! body must reach the verifier untouched, and only the providers call them.
//!
//! Every delivery runs in a `webhook` tracing span (`source`, `event_id`,
//! `result`) and counts in the per-source counters of [`crate::metrics`]
//! (received, applied, duplicates, ignored, failures; `GET /admin/metrics`).

use std::future::Future;

use dream_core::{CoreError, SignedHeaders, WebhookOutcome};
use poem::{
    handler,
    web::{Data, Json, Path},
    Body, Request,
};
use serde_json::{json, Value};
use tracing::{field::Empty, Instrument, Span};

use crate::{
    error::{webhook_error, ApiError},
    metrics::{self, Inbound},
    state::AppState,
};

/// Longest event id put in a log line: ids come from unverified headers too.
const MAX_LOGGED_ID: usize = 100;

/// Verifies, routes and applies one Stripe event; answers 200 for applied,
/// duplicate and ignored events alike, so Stripe stops retrying them.
#[handler]
pub async fn stripe(
    req: &Request,
    body: Body,
    state: Data<&AppState>,
) -> poem::Result<Json<Value>> {
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    observe("stripe", &metrics::STRIPE, None, async {
        let payload = read_body(body, state.body_limit).await?;
        state
            .dream
            .handle_stripe_webhook(&payload, signature)
            .await
            .map_err(ApiError::from)
    })
    .await
}

/// `POST /webhook/stripe/{platformId}`: the endpoint a direct-mode developer
/// registers on their own Stripe account, verified with that endpoint's secret
/// (stored sealed with the platform's connection) rather than the operator's.
/// Counted with the Connect endpoint's deliveries (both are Stripe's); the span's
/// source tells them apart. An unknown platform answers as a bad signature does.
#[handler]
pub async fn stripe_direct(
    req: &Request,
    Path(platform_id): Path<String>,
    body: Body,
    state: Data<&AppState>,
) -> poem::Result<Json<Value>> {
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    observe("stripe_direct", &metrics::STRIPE, None, async {
        let payload = read_body(body, state.body_limit).await?;
        state
            .dream
            .handle_direct_stripe_webhook(&platform_id, &payload, signature)
            .await
            .map_err(ApiError::from)
    })
    .await
}

/// Verifies, routes and applies one Clerk event (Svix headers, or the Standard
/// Webhooks ones); answers 200 for applied, duplicate and ignored events alike,
/// so Clerk stops retrying them.
#[handler]
pub async fn clerk(req: &Request, body: Body, state: Data<&AppState>) -> poem::Result<Json<Value>> {
    let (headers, family) = signed_headers(req);
    observe("clerk", &metrics::CLERK, headers.id, async {
        let payload = read_body(body, state.body_limit).await?;
        state
            .dream
            .handle_clerk_webhook(&payload, headers)
            .await
            .map_err(|err| match err {
                CoreError::Webhook(err) => webhook_error(err, &blamed_header(headers, family)),
                other => ApiError::from(other),
            })
    })
    .await
}

async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    body.into_bytes_limit(limit)
        .await
        .map(|bytes| bytes.to_vec())
        .map_err(|err| ApiError::unreadable_body(err, limit))
}

/// Runs one delivery in its span, counts it, and shapes the 200 answer.
async fn observe(
    source: &'static str,
    counters: &'static Inbound,
    claimed_id: Option<&str>,
    work: impl Future<Output = Result<WebhookOutcome, ApiError>>,
) -> poem::Result<Json<Value>> {
    let span = tracing::info_span!("webhook", source, event_id = Empty, result = Empty);
    if let Some(id) = claimed_id {
        span.record("event_id", clip(id));
    }
    async move {
        counters.received.inc();
        let outcome = work.await;
        let span = Span::current();
        match outcome {
            Ok(outcome) => {
                let (result, event_id, counter) = match &outcome {
                    WebhookOutcome::Applied { event_id, .. } => {
                        ("applied", event_id, &counters.applied)
                    }
                    WebhookOutcome::Duplicate { event_id } => {
                        ("duplicate", event_id, &counters.duplicates)
                    }
                    WebhookOutcome::Ignored { event_id, .. } => {
                        ("ignored", event_id, &counters.ignored)
                    }
                };
                counter.inc();
                span.record("event_id", clip(event_id));
                span.record("result", result);
                tracing::info!(result, "webhook");
                Ok(Json(json!({ "received": true, "result": result })))
            }
            Err(err) => {
                counters.failures.inc();
                // A 400/413 is the sender's problem (or an attacker's); anything
                // else is ours and the provider will retry.
                let result = match err {
                    ApiError::BadRequest(_) | ApiError::PayloadTooLarge(_) => "rejected",
                    _ => "failed",
                };
                span.record("result", result);
                tracing::info!(result, "webhook not accepted");
                Err(err.into())
            }
        }
    }
    .instrument(span)
    .await
}

fn clip(id: &str) -> &str {
    match id.char_indices().nth(MAX_LOGGED_ID) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}

/// The delivery's signed headers: Svix's (`svix-*`, what Clerk sends) if any of
/// them is present, else Standard Webhooks' (`webhook-*`). One family is used
/// whole, so a missing header can be named. Returns the headers and the family.
fn signed_headers(req: &Request) -> (SignedHeaders<'_>, &'static str) {
    let family = |prefix: &str| SignedHeaders {
        id: header(req, &format!("{prefix}-id")),
        timestamp: header(req, &format!("{prefix}-timestamp")),
        signature: header(req, &format!("{prefix}-signature")),
    };
    let any = |h: &SignedHeaders<'_>| h.id.or(h.timestamp).or(h.signature).is_some();
    let svix = family("svix");
    if any(&svix) {
        return (svix, "svix");
    }
    let standard = family("webhook");
    if any(&standard) {
        return (standard, "webhook");
    }
    (svix, "svix")
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The header a refusal names: the first missing one, else the signature.
fn blamed_header(headers: SignedHeaders<'_>, family: &str) -> String {
    let part = if headers.id.is_none() {
        "id"
    } else if headers.timestamp.is_none() {
        "timestamp"
    } else {
        "signature"
    };
    format!("{family}-{part}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        headers
            .iter()
            .fold(Request::builder(), |b, (k, v)| b.header(*k, *v))
            .finish()
    }

    #[test]
    fn picks_one_header_family_and_names_what_is_missing() {
        let req = request(&[("svix-id", "msg_1"), ("svix-signature", "v1,x")]);
        let (h, family) = signed_headers(&req);
        assert_eq!((h.id, family), (Some("msg_1"), "svix"));
        assert_eq!(blamed_header(h, family), "svix-timestamp");

        let req = request(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1"),
            ("webhook-signature", "v1,x"),
        ]);
        let (h, family) = signed_headers(&req);
        assert_eq!((h.timestamp, family), (Some("1"), "webhook"));
        assert_eq!(blamed_header(h, family), "webhook-signature");

        let none = request(&[]);
        let (h, family) = signed_headers(&none);
        assert_eq!(blamed_header(h, family), "svix-id");
    }

    #[test]
    fn long_ids_are_clipped_for_logs() {
        assert_eq!(clip("msg_1"), "msg_1");
        assert_eq!(clip(&"é".repeat(300)).chars().count(), MAX_LOGGED_ID);
    }
}
