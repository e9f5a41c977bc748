//! Stripe webhooks: the `Stripe-Signature` check ([`signature`]) and the event, read
//! tolerantly into dream's [`ProviderEvent`] ([`event`]). [`verify`] runs both, in that
//! order: nothing in the payload is parsed before its signature is known to be good.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dream_core::{ProviderEvent, RevealedSecret, WebhookError};

pub(crate) mod event;
pub(crate) mod signature;

/// Checks `signature` (the `Stripe-Signature` header) over the raw `payload` with any of
/// `secrets`, and the signed timestamp against `now` within `tolerance`; then parses the
/// event.
pub(crate) fn verify(
    secrets: &[RevealedSecret],
    tolerance: Duration,
    payload: &[u8],
    signature: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ProviderEvent, WebhookError> {
    signature::verify(secrets, tolerance, payload, signature, now)?;
    event::parse(payload)
}

/// [`verify`] with a caller's own `secrets` (a direct-mode tenant's endpoint secret):
/// an empty list fails as a wrong secret does instead of as "not configured".
pub(crate) fn verify_with(
    secrets: &[RevealedSecret],
    tolerance: Duration,
    payload: &[u8],
    signature: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ProviderEvent, WebhookError> {
    signature::verify_with(secrets, tolerance, payload, signature, now)?;
    event::parse(payload)
}
