//! dream's billing port ([`BillingProvider`](dream_core::ports::BillingProvider)) on
//! Stripe, built on the async-stripe 1.0 split crates' typed request builders.
//!
//! - **Connect**: the operator's platform key of the mode plus `Stripe-Account: acct_…`;
//!   onboarding is Stripe's OAuth (`/oauth/authorize`, `/oauth/token`), of which only the
//!   account id and `livemode` are kept.
//! - **Direct mode**: the developer's own (restricted) key, per call.
//! - **Idempotency and retries**: every mutating call sends the spec's idempotency key;
//!   429, 5xx, network failures and `Stripe-Should-Retry: true` are retried with the same
//!   key, with exponential backoff and jitter. Declines and invalid requests are not.
//! - **Webhooks**: `Stripe-Signature` is checked over the raw body (HMAC-SHA256 with any
//!   configured `whsec_…` secret, timestamp within tolerance) before the event is read,
//!   tolerantly, into dream's [`ProviderEvent`](dream_core::ProviderEvent).
//! - **Errors** become [`BillingError`](dream_core::BillingError)s with one kind, Stripe's
//!   message (keys scrubbed), request id and code.
//!
//! ```
//! use dream_stripe::{StripeBilling, StripeConfig};
//!
//! let config = StripeConfig::from_keys(Some("sk_test_123".into()), None)?;
//! let billing = StripeBilling::new(config)?;
//! assert!(!format!("{billing:?}").contains("sk_test_123"));
//! # Ok::<(), dream_stripe::ConfigError>(())
//! ```

#![warn(missing_docs)]

mod billing;
mod clients;
mod config;
mod customers;
mod error;
mod oauth;
mod products;
mod retry;
mod sessions;
mod transport;
mod webhook;

pub use billing::StripeBilling;
pub use config::{
    secret_key_mode, ConfigError, StripeConfig, DEFAULT_API_BASE, DEFAULT_CONNECT_BASE,
    DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_BASE_DELAY,
    DEFAULT_WEBHOOK_TOLERANCE,
};
pub use webhook::signature::webhook_signature_header;

/// Entry points for the fuzz targets in `fuzz/`: the crate-private webhook parsers,
/// reachable only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use dream_core::{ProviderEvent, RevealedSecret, WebhookError};

    /// `Stripe-Signature` parsed: the timestamp and the `v1` signatures.
    pub fn parse_signature_header(header: &str) -> Result<(i64, Vec<&str>), WebhookError> {
        crate::webhook::signature::parse_header(header).map(|h| (h.timestamp, h.v1))
    }

    /// The whole inbound check: signature, then the event.
    pub fn verify(
        secrets: &[RevealedSecret],
        tolerance: Duration,
        payload: &[u8],
        signature: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ProviderEvent, WebhookError> {
        crate::webhook::verify(secrets, tolerance, payload, signature, now)
    }

    /// The event parser alone.
    pub fn parse_event(payload: &[u8]) -> Result<ProviderEvent, WebhookError> {
        crate::webhook::event::parse(payload)
    }
}
