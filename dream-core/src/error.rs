//! Errors of the core layer: [`StoreError`] from backends, [`CoreError`] from services.
//!
//! Each variant means one thing a caller can act on. The HTTP layer maps every
//! [`CoreError`] variant to a status without a catch-all arm, so adding a variant
//! forces a decision there.

use chrono::{DateTime, Utc};

/// A boxed error source, kept as a chain rather than stringified.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a store backend reports. Backends classify by error code (SQLSTATE, Redis
/// error kind), never by message text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record addressed does not exist (or belongs to another tenant).
    #[error("record not found")]
    NotFound,
    /// A uniqueness rule was violated; the text names the rule, never user data.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The backend cannot be reached right now; retrying later may succeed.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// Any other backend failure.
    #[error("store backend failure")]
    Backend(#[source] BoxError),
}

/// The numbers a caller needs when a usage limit refuses a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitReached {
    /// The plan whose limit applied.
    pub plan: String,
    /// The plan's limit for the period.
    pub limit: u64,
    /// Usage already counted in the period (unchanged by the refusal).
    pub used: u64,
    /// When the period ends and the counter starts again.
    pub period_end: DateTime<Utc>,
}

/// What a service call can fail with.
///
/// Exhaustive on purpose: front doors match it without a catch-all arm, so a new
/// variant does not compile until each of them has decided how to answer it.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Input broke a rule; `field` names it as a JSON-pointer-like path (`/tiers/0/name`).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// Missing, malformed, unknown, revoked or expired key: deliberately one variant.
    #[error("invalid API key")]
    InvalidApiKey,
    /// A publishable key was presented where a secret key is required.
    #[error("a secret key is required for this operation")]
    SecretKeyRequired,
    /// The object does not exist in this tenant (or exists in another: same answer).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with existing state (for example a duplicate external id).
    #[error("{0}")]
    Conflict(String),
    /// The customer's plan limit for the period is used up; nothing was counted.
    #[error("usage limit reached")]
    UsageLimitReached(LimitReached),
    /// The plan's per-minute rate limit refused the call; nothing was counted.
    #[error("rate limit exceeded")]
    RateLimited {
        /// The plan's rate limit.
        limit_per_minute: u32,
        /// Milliseconds until the call would be admitted.
        retry_after_ms: u64,
    },
    /// A bounded work pool (password hashing) is full and the request waited its
    /// longest; nothing was done, and a retry after `retry_after_secs` may succeed.
    #[error("busy: retry after {retry_after_secs} s")]
    Busy {
        /// Seconds the caller should wait before retrying.
        retry_after_secs: u64,
    },
    /// The store could not be reached; usage fails closed.
    #[error("store unavailable")]
    StoreUnavailable(#[source] StoreError),
    /// The store failed in a way the caller cannot fix.
    #[error("store failure")]
    Store(#[source] StoreError),
    /// The tenant has no Stripe account connected (Connect or direct).
    #[error("no Stripe account is connected for this platform and mode")]
    StripeNotConnected,
    /// The tier or product cannot be bought (free, not synced to Stripe, archived).
    #[error("{reason}")]
    NotPurchasable {
        /// The tier or product.
        tier: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A per-tenant cap of the server (customers, …) is reached; nothing was stored.
    #[error("the limit of {limit} {what} is reached")]
    LimitExceeded {
        /// What is capped (`customers`).
        what: &'static str,
        /// The cap.
        limit: u64,
    },
    /// A cart asked for more units of a product than are left; nothing was reserved.
    #[error("sold out")]
    SoldOut {
        /// The product.
        product: String,
        /// Units left at the time of the decision.
        available: u64,
    },
    /// The Connect onboarding `state` is unknown, used or expired.
    #[error("invalid or expired onboarding state")]
    InvalidOAuthState,
    /// The payment provider failed or refused.
    #[error("billing: {0}")]
    Billing(#[source] crate::BillingError),
    /// No valid session: the cookie is missing, unknown, expired or ended, or the
    /// email and password do not match an account (one answer for both).
    #[error("not signed in")]
    Unauthenticated {
        /// What to tell the caller (never which of the reasons applied).
        reason: &'static str,
    },
    /// The request is authenticated but refused (a cross-site cookie write).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// Sign-up is closed on this server ([`crate::SignUp::Closed`]): its
    /// operator creates accounts.
    #[error("sign-up is closed on this server")]
    SignUpClosed,
    /// The account's plan does not include this (live mode before upgrading).
    #[error("plan required: {0}")]
    PlanRequired(&'static str),
    /// Too many failed logins for one email; retry after `retry_after_secs`.
    #[error("too many attempts: retry after {retry_after_secs} s")]
    TooManyAttempts {
        /// Seconds until the oldest failure leaves the window.
        retry_after_secs: u64,
    },
    /// An end customer's email and password do not match (one answer for an
    /// unknown email and a wrong password).
    #[error("wrong email or password")]
    InvalidCredentials,
    /// A refresh token is unknown, already used, revoked or past its absolute
    /// lifetime (one answer for all of them).
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// A webhook failed verification or could not be read.
    #[error("webhook: {0}")]
    Webhook(#[source] crate::WebhookError),
}

impl CoreError {
    /// Shorthand for [`CoreError::InvalidInput`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for CoreError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound("object"),
            StoreError::Conflict(what) => Self::Conflict(what.to_owned()),
            StoreError::Unavailable(_) => Self::StoreUnavailable(err),
            StoreError::Backend(_) => Self::Store(err),
        }
    }
}
