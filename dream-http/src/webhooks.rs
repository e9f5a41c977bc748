//! `POST /webhook/stripe`: one URL for every connected account. A plain poem
//! handler rather than an OpenAPI operation: the signature is over the raw bytes,
//! so the body must reach the verifier untouched, and only Stripe calls it.

use dream_core::WebhookOutcome;
use poem::{handler, web::Data, Body, Request};
use serde_json::json;

use crate::{error::ApiError, state::AppState};

/// Verifies, routes and applies one Stripe event; answers 200 for applied,
/// duplicate and ignored events alike, so Stripe stops retrying them.
#[handler]
pub async fn stripe(
    req: &Request,
    body: Body,
    state: Data<&AppState>,
) -> poem::Result<poem::web::Json<serde_json::Value>> {
    let limit = state.body_limit;
    let payload = body
        .into_bytes_limit(limit)
        .await
        .map_err(|err| ApiError::unreadable_body(err, limit))?;
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let outcome = state
        .dream
        .handle_stripe_webhook(&payload, signature)
        .await
        .map_err(ApiError::from)?;
    let (result, event_id) = match &outcome {
        WebhookOutcome::Applied { event_id, .. } => ("applied", event_id),
        WebhookOutcome::Duplicate { event_id } => ("duplicate", event_id),
        WebhookOutcome::Ignored { event_id, .. } => ("ignored", event_id),
    };
    tracing::info!(event_id = %event_id, result, "stripe webhook");
    Ok(poem::web::Json(
        json!({ "received": true, "result": result }),
    ))
}
