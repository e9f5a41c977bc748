//! The billing port: what dream asks of a payment provider, in dream's words.
//!
//! `dream-stripe` implements [`BillingProvider`](crate::ports::BillingProvider) on
//! Stripe; nothing here names a Stripe type, so another provider (or a test double
//! in an embedding service) can stand in.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::{Interval, Metadata, Mode};

/// A secret in memory, for the duration of a call. `Debug` and `Display` hide it.
///
/// ```
/// use dream_core::RevealedSecret;
/// let key = RevealedSecret::new("rk_test_abc123".into());
/// assert_eq!(key.expose(), "rk_test_abc123");
/// assert!(!format!("{key:?}").contains("abc123"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RevealedSecret(String);

impl RevealedSecret {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself; call only where it is sent to the provider.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RevealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RevealedSecret(…)")
    }
}

/// How calls reach the developer's Stripe account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountAccess {
    /// Connect: the operator's platform key plus `Stripe-Account: acct_…`.
    Connected {
        /// The connected account (`acct_…`).
        account_id: String,
    },
    /// Direct mode: the developer's own (restricted) key, decrypted for this call.
    Direct {
        /// `rk_…` or `sk_…` of the developer's account.
        secret: RevealedSecret,
    },
}

/// The account, in a mode, that a provider call acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingAccount {
    /// Test or live: Stripe keeps the two apart, and so do we.
    pub mode: Mode,
    /// How to reach it.
    pub access: AccountAccess,
}

/// What Connect onboarding returns once the developer has authorized us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedAccount {
    /// The connected account (`acct_…`). The only thing we keep.
    pub account_id: String,
    /// Whether the grant is for live mode.
    pub livemode: bool,
}

/// A product to create on the developer's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSpec {
    /// Shown to buyers.
    pub name: String,
    /// Routing and limits (`dream_tier`, `dream_limit`, …).
    pub metadata: Metadata,
    /// Same key, same product: retries never create a second one.
    pub idempotency_key: String,
}

/// A change to an existing product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductUpdate {
    /// New display name.
    pub name: String,
    /// New metadata (keys are replaced one by one).
    pub metadata: Metadata,
    /// `false` archives the product; products are never deleted.
    pub active: bool,
    /// Idempotency key of this change.
    pub idempotency_key: String,
}

/// A price to create. Prices are immutable: a change is a new price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceSpec {
    /// The product (`prod_…`).
    pub product_id: String,
    /// Integer minor units.
    pub unit_amount: i64,
    /// Lower-case ISO 4217.
    pub currency: String,
    /// `Some` for a subscription price, `None` for a one-off price.
    pub recurring: Option<Interval>,
    /// A stable name for "the current price of this tier", moved to each new price.
    pub lookup_key: Option<String>,
    /// Routing metadata.
    pub metadata: Metadata,
    /// Same key, same price.
    pub idempotency_key: String,
}

/// A customer to create on the developer's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSpec {
    /// Email, when known.
    pub email: Option<String>,
    /// Full name, when known.
    pub name: Option<String>,
    /// Carries our customer id (`dream_customer_id`) for webhook routing.
    pub metadata: Metadata,
    /// Same key, same customer.
    pub idempotency_key: String,
}

/// Subscription or one-off payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutKind {
    /// A recurring plan.
    Subscription,
    /// One-off products.
    Payment,
}

/// One line of a checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutLine {
    /// The price (`price_…`).
    pub price_id: String,
    /// Units.
    pub quantity: u64,
}

/// A hosted checkout session to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSpec {
    /// Subscription or payment.
    pub kind: CheckoutKind,
    /// The provider's customer (`cus_…`), when we have one.
    pub customer: Option<String>,
    /// Prefills the email when there is no customer.
    pub customer_email: Option<String>,
    /// What is bought.
    pub lines: Vec<CheckoutLine>,
    /// Where the buyer lands after paying.
    pub success_url: String,
    /// Where the buyer lands after giving up.
    pub cancel_url: String,
    /// Our customer id, echoed back by the provider's events.
    pub client_reference_id: Option<String>,
    /// Routing metadata for the webhook (`dream_platform_id`, `dream_mode`, …); for
    /// subscriptions it is also put on the subscription.
    pub metadata: Metadata,
    /// When the session stops accepting payment (the provider's default when `None`).
    pub expires_at: Option<DateTime<Utc>>,
    /// Same key, same session.
    pub idempotency_key: String,
}

/// A created checkout session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    /// `cs_…`.
    pub id: String,
    /// Where to send the buyer.
    pub url: String,
    /// When it stops accepting payment.
    pub expires_at: DateTime<Utc>,
}

/// A billing portal session to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSpec {
    /// The provider's customer (`cus_…`).
    pub customer: String,
    /// Where the portal's "back" link goes.
    pub return_url: Option<String>,
    /// Same key, same session.
    pub idempotency_key: String,
}

/// A created portal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSession {
    /// The session id.
    pub id: String,
    /// Where to send the customer.
    pub url: String,
}

/// What kind of failure a provider call met. Each kind is one thing a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingErrorKind {
    /// The operator has not configured billing for this mode (which setting is in the message).
    NotConfigured,
    /// The provider rejected the operator's own credentials.
    Authentication,
    /// The connected account no longer grants access (disconnected, revoked).
    PermissionDenied,
    /// The buyer's card was declined.
    Declined,
    /// The provider is rate limiting us; retry later.
    RateLimited,
    /// The provider refused the request as invalid.
    InvalidRequest,
    /// The Connect authorization code was refused (expired, used, or foreign).
    InvalidGrant,
    /// Network failure or provider outage, after retries.
    Unavailable,
}

/// A failed provider call: the kind, the provider's message, and its request id for support.
///
/// ```
/// use dream_core::{BillingError, BillingErrorKind};
/// let err = BillingError::new(BillingErrorKind::RateLimited, "Too many requests")
///     .with_request_id(Some("req_123".into()));
/// assert_eq!(err.request_id.as_deref(), Some("req_123"));
/// assert_eq!(err.to_string(), "Too many requests");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BillingError {
    /// What kind of failure.
    pub kind: BillingErrorKind,
    /// The provider's (or our) explanation; never contains a secret.
    pub message: String,
    /// The provider's request id (`req_…`), when there was a response.
    pub request_id: Option<String>,
    /// The provider's machine-readable code (`card_declined`, `resource_missing`, …).
    pub provider_code: Option<String>,
}

impl BillingError {
    /// An error of `kind`.
    pub fn new(kind: BillingErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            request_id: None,
            provider_code: None,
        }
    }

    /// Billing is not configured; `message` says what to set.
    pub fn not_configured(message: impl Into<String>) -> Self {
        Self::new(BillingErrorKind::NotConfigured, message)
    }

    /// Adds the provider's request id.
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    /// Adds the provider's error code.
    pub fn with_provider_code(mut self, code: Option<String>) -> Self {
        self.provider_code = code;
        self
    }
}
