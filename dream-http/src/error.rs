//! The one error shape of the API, and the mapping from core errors to statuses.

use chrono::{DateTime, Utc};
use dream_core::CoreError;
use dream_core::{BillingError, BillingErrorKind, WebhookError};
use poem_openapi::{payload::Json, ApiResponse, Enum, Object};

/// Stable, machine-readable error codes; programs branch on these.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed JSON, wrong type, unknown field or bad value (`field` says which).
    InvalidRequest,
    /// Missing, unknown, revoked or expired key (one answer for all).
    InvalidApiKey,
    /// A publishable key was sent to an operation that needs a secret key.
    SecretKeyRequired,
    /// The object does not exist in this tenant.
    NotFound,
    /// The request conflicts with current state.
    Conflict,
    /// A per-tenant cap of this server is reached (the message names it).
    LimitExceeded,
    /// The `Idempotency-Key` was used before with a different request.
    IdempotencyKeyMismatch,
    /// A request with this `Idempotency-Key` is still running.
    IdempotencyKeyInUse,
    /// The first response to this `Idempotency-Key` held a secret that is shown
    /// once and was not kept, so it cannot be replayed: list the keys instead.
    ReplayUnavailable,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The path exists but not with this method.
    MethodNotAllowed,
    /// The customer's plan limit for the period is used up.
    UsageLimitReached,
    /// The plan's per-minute rate limit refused the call.
    RateLimited,
    /// The store cannot be reached; retry after `Retry-After` seconds.
    StoreUnavailable,
    /// A failure on our side; `requestId` identifies it in our logs.
    InternalError,
    /// A bounded work pool (password hashing) is full; nothing was done. Retry
    /// after `Retry-After` seconds.
    Busy,
    /// Billing is not configured on this server (the message says what to set).
    BillingNotConfigured,
    /// The platform has no Stripe account connected in this mode, or it revoked access.
    StripeNotConnected,
    /// The tier or product cannot be bought (free, archived, or not synced to Stripe yet).
    NotPurchasable,
    /// Not enough units left; nothing was reserved (`product`, `available`).
    SoldOut,
    /// The Connect onboarding `state` is unknown, already used or expired.
    InvalidOauthState,
    /// Stripe refused the Connect authorization code (expired, used or foreign).
    InvalidOauthCode,
    /// The card was declined.
    CardDeclined,
    /// Stripe refused the request (`stripeRequestId` identifies it at Stripe).
    BillingRequestFailed,
    /// Stripe rejected the credentials dream used.
    BillingAuthenticationFailed,
    /// Stripe is rate limiting or unreachable; retry after `Retry-After` seconds.
    BillingUnavailable,
    /// A webhook's signature is missing, malformed, wrong or outside the tolerance.
    InvalidSignature,
    /// A correctly signed webhook whose payload cannot be read.
    InvalidWebhook,
    /// The webhook's signing secret is not configured on this server (the message
    /// names the setting); the sender should retry later.
    WebhooksNotConfigured,
    /// No valid session cookie (account API), or a wrong email or password.
    Unauthenticated,
    /// A cookie-authenticated write from an origin that is not this server's.
    Forbidden,
    /// Sign-up is closed on this server (`DREAM_SIGNUP=closed`): its operator
    /// creates accounts (`POST /admin/accounts`).
    SignupClosed,
    /// The account's plan does not include this (live mode before upgrading).
    PlanRequired,
    /// Too many failed logins for this email; retry after `Retry-After` seconds.
    TooManyAttempts,
    /// An end customer's email and password do not match.
    InvalidCredentials,
    /// A refresh token is unknown, used, revoked or expired: sign in again.
    InvalidRefreshToken,
}

/// Every error response has this shape.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ErrorBody {
    /// A short human title ("Tier limit reached", "Invalid API key").
    pub error: String,
    /// What happened and what to do.
    pub message: String,
    // Stable code to branch on. Described on `ErrorCode` itself: a doc comment here
    // would wrap the `$ref` in an `allOf` that client generators choke on.
    #[allow(missing_docs)]
    pub code: ErrorCode,
    /// JSON pointer (or parameter name) of the bad input.
    pub field: Option<String>,
    /// Our id for this request, for support and logs.
    pub request_id: Option<String>,
    /// The plan whose limit applied (`usage_limit_reached`).
    pub plan: Option<String>,
    /// The plan's limit (`usage_limit_reached`) or per-minute rate (`rate_limited`).
    pub limit: Option<u64>,
    /// Usage counted in the period (`usage_limit_reached`).
    pub used: Option<u64>,
    /// When the period ends (`usage_limit_reached`).
    pub period_end: Option<DateTime<Utc>>,
    /// Seconds to wait before retrying (`rate_limited`, `usage_limit_reached`, `store_unavailable`, `busy`).
    pub retry_after: Option<u64>,
    /// The product that ran out (`sold_out`).
    pub product: Option<String>,
    /// Units left of it (`sold_out`).
    pub available: Option<u64>,
    /// Stripe's request id (`req_…`), when Stripe answered.
    pub stripe_request_id: Option<String>,
    /// Each readiness check by name and its state: `ok`, `unavailable` or
    /// `timeout` (`GET /ready`).
    pub checks: Option<std::collections::BTreeMap<String, String>>,
}

impl ErrorBody {
    /// A body with just the three required parts.
    pub fn new(code: ErrorCode, error: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            message: message.into(),
            code,
            field: None,
            request_id: None,
            plan: None,
            limit: None,
            used: None,
            period_end: None,
            retry_after: None,
            product: None,
            available: None,
            stripe_request_id: None,
            checks: None,
        }
    }

    /// Names the product concerned.
    pub fn with_product(mut self, product: impl Into<String>) -> Self {
        self.product = Some(product.into());
        self
    }

    /// Names the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// Error responses, one variant per status.
#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The request is malformed or a value is not allowed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The key is missing, unknown, revoked or expired, or of the wrong kind.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The object does not exist in this tenant.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request conflicts with current state, or its idempotency key is in use.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is too large.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not JSON.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The idempotency key was used with a different request.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Usage limit reached or rate limited; nothing was counted.
    #[oai(status = 429)]
    TooManyRequests(
        Json<ErrorBody>,
        /// Seconds until a retry can succeed (absent when waiting cannot help: a
        /// meter that never resets).
        #[oai(header = "Retry-After")]
        Option<u64>,
    ),
    /// The card was declined, or the account's plan does not include this.
    #[oai(status = 402)]
    PaymentRequired(Json<ErrorBody>),
    /// A cookie-authenticated write from a foreign origin.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// A failure on our side.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Stripe refused or failed a request dream made.
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// The store is unavailable; usage fails closed.
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

impl ApiError {
    /// 400 `invalid_request` naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest(Json(
            ErrorBody::new(ErrorCode::InvalidRequest, "Invalid request", message).with_field(field),
        ))
    }

    /// 404 `not_found`, the same body whether missing or another tenant's.
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(Json(ErrorBody::new(
            ErrorCode::NotFound,
            "Not found",
            format!("No such {what}."),
        )))
    }

    /// 401 `invalid_api_key`, one body for every reason.
    pub fn invalid_api_key() -> Self {
        Self::Unauthorized(Json(ErrorBody::new(
            ErrorCode::InvalidApiKey,
            "Invalid API key",
            "API key missing, not found, revoked or expired. Send `Authorization: Bearer sk_…`.",
        )))
    }

    /// 401 `unauthenticated`: no valid session cookie.
    pub fn unauthenticated() -> Self {
        Self::Unauthorized(Json(ErrorBody::new(
            ErrorCode::Unauthenticated,
            "Not signed in",
            "No valid session: log in with POST /account/login.",
        )))
    }

    /// 403 `forbidden` for a cookie-authenticated write from another origin.
    pub fn foreign_origin() -> Self {
        Self::Forbidden(Json(ErrorBody::new(
            ErrorCode::Forbidden,
            "Forbidden",
            "Cookie-authenticated writes must come from this server's origin or a trusted one \
             (DREAM_TRUSTED_ORIGINS): send an `Origin` header naming it.",
        )))
    }

    /// 503 `store_unavailable`.
    pub fn store_unavailable() -> Self {
        Self::Unavailable(
            Json(ErrorBody {
                retry_after: Some(1),
                ..ErrorBody::new(
                    ErrorCode::StoreUnavailable,
                    "Service unavailable",
                    "The data store cannot be reached; nothing was counted. Retry shortly.",
                )
            }),
            1,
        )
    }

    /// A body that could not be read: 413 `payload_too_large` when it exceeds
    /// `limit`, else 400 naming the body. The one mapping for every body reader.
    pub fn unreadable_body(err: poem::error::ReadBodyError, limit: usize) -> Self {
        match err {
            poem::error::ReadBodyError::PayloadTooLarge => {
                Self::PayloadTooLarge(Json(ErrorBody::new(
                    ErrorCode::PayloadTooLarge,
                    "Payload too large",
                    format!("The body must be at most {limit} bytes."),
                )))
            }
            _ => Self::invalid("body", "The request body could not be read."),
        }
    }

    /// 500 with a safe message; the cause goes to the log, not the client.
    pub fn internal() -> Self {
        Self::Internal(Json(ErrorBody::new(
            ErrorCode::InternalError,
            "Internal error",
            "Something failed on our side. Quote the requestId if you contact support.",
        )))
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        // No catch-all arm: a new domain error must get an HTTP decision here.
        match err {
            CoreError::InvalidInput { field, reason } => {
                let message = format!("{field}: {reason}");
                ApiError::invalid(field, message)
            }
            CoreError::InvalidApiKey => ApiError::invalid_api_key(),
            CoreError::SecretKeyRequired => ApiError::Unauthorized(Json(ErrorBody::new(
                ErrorCode::SecretKeyRequired,
                "Secret key required",
                "This operation needs a secret key (sk_…); publishable keys (pk_…) are for read-only public endpoints.",
            ))),
            CoreError::NotFound(what) => ApiError::not_found(what),
            CoreError::Conflict(message) => {
                ApiError::Conflict(Json(ErrorBody::new(ErrorCode::Conflict, "Conflict", message)))
            }
            CoreError::UsageLimitReached(reached) => {
                // A lifetime meter (seats) never resets: no period end to wait for.
                let resets = reached.period_end != dream_core::Period::lifetime().end;
                let retry = resets
                    .then(|| (reached.period_end - Utc::now()).num_seconds().max(1) as u64);
                let message = if resets {
                    "Please upgrade"
                } else {
                    "Please upgrade, or free some units: this meter never resets"
                };
                ApiError::TooManyRequests(
                    Json(ErrorBody {
                        plan: Some(reached.plan),
                        limit: Some(reached.limit),
                        used: Some(reached.used),
                        period_end: resets.then_some(reached.period_end),
                        retry_after: retry,
                        ..ErrorBody::new(
                            ErrorCode::UsageLimitReached,
                            "Tier limit reached",
                            message,
                        )
                    }),
                    retry,
                )
            }
            CoreError::RateLimited {
                limit_per_minute,
                retry_after_ms,
            } => {
                let retry = retry_after_ms.div_ceil(1000).max(1);
                ApiError::TooManyRequests(
                    Json(ErrorBody {
                        limit: Some(u64::from(limit_per_minute)),
                        retry_after: Some(retry),
                        ..ErrorBody::new(
                            ErrorCode::RateLimited,
                            "Rate limit exceeded",
                            format!("This plan allows {limit_per_minute} calls per minute; retry after {retry} s."),
                        )
                    }),
                    Some(retry),
                )
            }
            CoreError::Busy { retry_after_secs } => {
                let retry = retry_after_secs.max(1);
                ApiError::Unavailable(
                    Json(ErrorBody {
                        retry_after: Some(retry),
                        ..ErrorBody::new(
                            ErrorCode::Busy,
                            "Busy",
                            format!("The server is at capacity for this operation; nothing was done. Retry after {retry} s."),
                        )
                    }),
                    retry,
                )
            }
            CoreError::StoreUnavailable(source) => {
                tracing::error!(error = %source, cause = ?std::error::Error::source(&source), "store unavailable");
                ApiError::store_unavailable()
            }
            CoreError::Store(source) => {
                tracing::error!(error = %source, cause = ?std::error::Error::source(&source), "store failure");
                ApiError::internal()
            }
            CoreError::LimitExceeded { what, limit } => ApiError::Conflict(Json(ErrorBody {
                limit: Some(limit),
                ..ErrorBody::new(
                    ErrorCode::LimitExceeded,
                    "Limit exceeded",
                    format!("This app has reached this server's limit of {limit} {what} in this mode; nothing was created. Delete some, or ask the operator to raise the limit."),
                )
            })),
            CoreError::StripeNotConnected => ApiError::Conflict(Json(ErrorBody::new(
                ErrorCode::StripeNotConnected,
                "Stripe not connected",
                "Connect the platform's Stripe account for this mode first (GET /authorize, or direct mode with PUT /admin/platforms/{platformId}/stripe).",
            ))),
            CoreError::NotPurchasable { reason, .. } => ApiError::Conflict(Json(ErrorBody::new(
                ErrorCode::NotPurchasable,
                "Not purchasable",
                reason,
            ))),
            CoreError::SoldOut { product, available } => ApiError::Conflict(Json(ErrorBody {
                available: Some(available),
                ..ErrorBody::new(
                    ErrorCode::SoldOut,
                    "Sold out",
                    format!("Only {available} unit(s) of \"{product}\" left; nothing was reserved."),
                )
                .with_product(product)
            })),
            CoreError::InvalidOAuthState => ApiError::BadRequest(Json(
                ErrorBody::new(
                    ErrorCode::InvalidOauthState,
                    "Invalid onboarding state",
                    "This Stripe onboarding link is unknown, already used or expired: start again from /authorize.",
                )
                .with_field("state"),
            )),
            CoreError::Unauthenticated { reason } => ApiError::Unauthorized(Json(ErrorBody::new(
                ErrorCode::Unauthenticated,
                "Not signed in",
                format!("{}: log in with POST /account/login.", capitalized(reason)),
            ))),
            CoreError::Forbidden(_) => ApiError::foreign_origin(),
            CoreError::SignUpClosed => ApiError::Forbidden(Json(ErrorBody::new(
                ErrorCode::SignupClosed,
                "Sign-up closed",
                "Sign-up is closed on this server: ask its operator for an account.",
            ))),
            CoreError::PlanRequired(what) => ApiError::PaymentRequired(Json(ErrorBody::new(
                ErrorCode::PlanRequired,
                "Plan required",
                format!("{}.", capitalized(what)),
            ))),
            CoreError::TooManyAttempts { retry_after_secs } => {
                let retry = retry_after_secs.max(1);
                ApiError::TooManyRequests(
                    Json(ErrorBody {
                        retry_after: Some(retry),
                        ..ErrorBody::new(
                            ErrorCode::TooManyAttempts,
                            "Too many attempts",
                            format!("Too many failed logins for this email; retry after {retry} s."),
                        )
                    }),
                    Some(retry),
                )
            }
            CoreError::InvalidCredentials => ApiError::Unauthorized(Json(ErrorBody::new(
                ErrorCode::InvalidCredentials,
                "Wrong email or password",
                "The email and password do not match a customer of this app.",
            ))),
            CoreError::InvalidRefreshToken => ApiError::Unauthorized(Json(ErrorBody::new(
                ErrorCode::InvalidRefreshToken,
                "Invalid refresh token",
                "The refresh token is unknown, already used, revoked or expired: sign in again with POST /api/auth/login.",
            ))),
            CoreError::Billing(err) => billing_error(err),
            CoreError::Webhook(err) => webhook_error(err, "Stripe-Signature"),
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Maps a billing provider failure; Stripe's request id goes into the body so a
/// developer can look the call up in their Stripe dashboard.
fn billing_error(err: BillingError) -> ApiError {
    let request_id = err.request_id.clone();
    let body = |code, title: &str, message: String| {
        Json(ErrorBody {
            stripe_request_id: request_id.clone(),
            ..ErrorBody::new(code, title, message)
        })
    };
    let retry = |code, title: &str, message: String| {
        let mut body = body(code, title, message);
        body.retry_after = Some(BILLING_RETRY_AFTER_SECS);
        ApiError::Unavailable(body, BILLING_RETRY_AFTER_SECS)
    };
    match err.kind {
        BillingErrorKind::NotConfigured => ApiError::Unavailable(
            body(
                ErrorCode::BillingNotConfigured,
                "Billing not configured",
                err.message,
            ),
            BILLING_RETRY_AFTER_SECS,
        ),
        BillingErrorKind::PermissionDenied => ApiError::Conflict(body(
            ErrorCode::StripeNotConnected,
            "Stripe access revoked",
            format!(
                "Stripe refused access to the connected account ({}): connect it again.",
                err.message
            ),
        )),
        BillingErrorKind::Authentication => {
            tracing::error!(error = %err, stripe_request_id = ?err.request_id, "Stripe rejected dream's credentials");
            ApiError::BadGateway(body(
                ErrorCode::BillingAuthenticationFailed,
                "Stripe authentication failed",
                "Stripe rejected the key dream used: check STRIPE_SECRET_KEY, or reconnect the direct-mode key.".into(),
            ))
        }
        BillingErrorKind::Declined => {
            ApiError::PaymentRequired(body(ErrorCode::CardDeclined, "Card declined", err.message))
        }
        BillingErrorKind::InvalidRequest => {
            tracing::warn!(error = %err, stripe_request_id = ?err.request_id, code = ?err.provider_code, "Stripe refused a request");
            ApiError::BadGateway(body(
                ErrorCode::BillingRequestFailed,
                "Stripe refused the request",
                err.message,
            ))
        }
        BillingErrorKind::InvalidGrant => ApiError::BadRequest(Json(
            ErrorBody {
                stripe_request_id: request_id.clone(),
                ..ErrorBody::new(
                    ErrorCode::InvalidOauthCode,
                    "Stripe authorization failed",
                    err.message,
                )
            }
            .with_field("code"),
        )),
        BillingErrorKind::RateLimited => retry(
            ErrorCode::BillingUnavailable,
            "Stripe rate limit",
            format!(
                "Stripe is rate limiting requests ({}); retry shortly.",
                err.message
            ),
        ),
        BillingErrorKind::Unavailable => {
            tracing::warn!(error = %err, "Stripe unavailable");
            retry(
                ErrorCode::BillingUnavailable,
                "Stripe unavailable",
                format!(
                    "Stripe could not be reached ({}); retry shortly.",
                    err.message
                ),
            )
        }
    }
}

/// A refused webhook: 400 naming `header`, so the sender's dashboard shows why.
/// Each source passes its own: `Stripe-Signature`, `svix-signature`, or for a
/// missing header the one that is missing (`svix-id`, …).
pub(crate) fn webhook_error(err: WebhookError, header: &str) -> ApiError {
    let message = match err {
        WebhookError::MissingSignature => format!("the {header} header is missing"),
        ref other => other.to_string(),
    };
    match err {
        WebhookError::NotConfigured(what) => ApiError::Unavailable(
            Json(ErrorBody::new(
                ErrorCode::WebhooksNotConfigured,
                "Webhooks not configured",
                what,
            )),
            BILLING_RETRY_AFTER_SECS,
        ),
        WebhookError::InvalidPayload(_) => ApiError::BadRequest(Json(
            ErrorBody::new(ErrorCode::InvalidWebhook, "Invalid webhook", message)
                .with_field("body"),
        )),
        WebhookError::MissingSignature
        | WebhookError::MalformedSignature
        | WebhookError::SignatureMismatch
        | WebhookError::TimestampOutsideTolerance => ApiError::BadRequest(Json(
            ErrorBody::new(ErrorCode::InvalidSignature, "Invalid signature", message)
                .with_field(header),
        )),
    }
}

/// What `Retry-After` says when Stripe is busy or billing is being configured.
const BILLING_RETRY_AFTER_SECS: u64 = 5;

/// Result of an operation.
pub type ApiResult<T> = Result<T, ApiError>;
