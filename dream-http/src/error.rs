//! The one error shape of the API, and the mapping from core errors to statuses.

use chrono::{DateTime, Utc};
use dream_core::CoreError;
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
    /// The `Idempotency-Key` was used before with a different request.
    IdempotencyKeyMismatch,
    /// A request with this `Idempotency-Key` is still running.
    IdempotencyKeyInUse,
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
    /// Seconds to wait before retrying (`rate_limited`, `usage_limit_reached`, `store_unavailable`).
    pub retry_after: Option<u64>,
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
        }
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
        /// Seconds until a retry can succeed.
        #[oai(header = "Retry-After")]
        u64,
    ),
    /// A failure on our side.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
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
                let retry = (reached.period_end - Utc::now()).num_seconds().max(1) as u64;
                ApiError::TooManyRequests(
                    Json(ErrorBody {
                        plan: Some(reached.plan),
                        limit: Some(reached.limit),
                        used: Some(reached.used),
                        period_end: Some(reached.period_end),
                        retry_after: Some(retry),
                        ..ErrorBody::new(
                            ErrorCode::UsageLimitReached,
                            "Tier limit reached",
                            "Please upgrade",
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
            // `CoreError` is non-exhaustive for other crates; every variant that
            // exists today is mapped above, so this arm is only reached by a variant
            // added later, which then shows up as a logged internal error in tests.
            other => {
                tracing::error!(error = %other, "unmapped core error");
                ApiError::internal()
            }
        }
    }
}

/// Result of an operation.
pub type ApiResult<T> = Result<T, ApiError>;
