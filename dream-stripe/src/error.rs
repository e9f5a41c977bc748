//! What a failed Stripe call looked like on the wire ([`CallError`]), and how it becomes
//! dream's [`BillingError`]: one kind a caller can act on, Stripe's message with any key
//! scrubbed out, Stripe's request id and error code.

use std::fmt;

use dream_core::{BillingError, BillingErrorKind};
use serde::Deserialize;

/// A failed call to Stripe's API, before it is put in dream's words.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// Stripe answered with an error status.
    #[error("{0}")]
    Api(Box<ApiFailure>),
    /// No answer: connection refused or reset, timeout.
    #[error("could not reach Stripe: {message}")]
    Network {
        /// What went wrong (never contains a key: keys travel in headers only).
        message: String,
    },
    /// An answer we could not read.
    #[error("Stripe's response could not be read: {0}")]
    Decode(String),
    /// Refused before sending.
    #[error("{message}")]
    Local {
        /// How to report it.
        kind: BillingErrorKind,
        /// Why.
        message: String,
    },
}

impl CallError {
    /// A request refused before it was sent.
    pub fn local(kind: BillingErrorKind, message: impl Into<String>) -> Self {
        Self::Local {
            kind,
            message: message.into(),
        }
    }
}

impl stripe_client_core::StripeClientErr for CallError {
    fn deserialize_err(msg: impl fmt::Display) -> Self {
        Self::Decode(msg.to_string())
    }
}

/// An error response from Stripe.
#[derive(Debug)]
pub(crate) struct ApiFailure {
    /// The HTTP status.
    pub status: u16,
    /// The `Request-Id` header, if any.
    pub request_id: Option<String>,
    /// The `Stripe-Should-Retry` header, if any.
    pub should_retry: Option<bool>,
    /// The `error` object of the body (empty if the body was not Stripe's JSON).
    pub body: StripeErrorBody,
}

impl ApiFailure {
    /// Reads an error response; a body that is not `{"error": {…}}` leaves `body` empty.
    pub fn from_response(
        status: u16,
        request_id: Option<String>,
        should_retry: Option<bool>,
        body: &[u8],
    ) -> Self {
        let body = serde_json::from_slice::<Envelope>(body)
            .map(|e| e.error)
            .unwrap_or_default();
        Self {
            status,
            request_id,
            should_retry,
            body,
        }
    }

    /// Stripe's request id: the `Request-Id` header, or the id at the end of the error's
    /// `request_log_url` (`https://dashboard.stripe.com/test/logs/req_…?t=…`).
    pub fn request_id(&self) -> Option<String> {
        self.request_id.clone().or_else(|| {
            let url = self.body.request_log_url.as_deref()?;
            let path = url.split(['?', '#']).next()?;
            let last = path.rsplit('/').next()?;
            last.starts_with("req_").then(|| last.to_owned())
        })
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stripe answered {}", self.status)?;
        if let Some(code) = &self.body.code {
            write!(f, " ({code})")?;
        }
        if let Some(message) = &self.body.message {
            write!(f, ": {}", redact_keys(message))?;
        }
        Ok(())
    }
}

/// The fields of Stripe's `error` object that dream uses.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct StripeErrorBody {
    /// `card_error`, `invalid_request_error`, `idempotency_error`, `api_error`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Machine-readable code (`card_declined`, `resource_missing`, `account_invalid`, …).
    pub code: Option<String>,
    /// The issuer's reason for a decline.
    pub decline_code: Option<String>,
    /// Human-readable explanation.
    pub message: Option<String>,
    /// Dashboard link to the request's log, ending in the request id.
    pub request_log_url: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    error: StripeErrorBody,
}

/// Codes that mean "this account does not (or no longer) grant us access".
const PERMISSION_CODES: &[&str] = &[
    "account_invalid",
    "account_closed",
    "platform_account_required",
    "platform_api_key_expired",
];

/// The kind of an error response. The code decides first (an `account_invalid` comes with
/// 401 or 403 depending on the endpoint), then the type, then the status.
pub(crate) fn kind_of(status: u16, kind: Option<&str>, code: Option<&str>) -> BillingErrorKind {
    use BillingErrorKind as K;
    if code.is_some_and(|c| PERMISSION_CODES.contains(&c)) {
        return K::PermissionDenied;
    }
    match (status, kind) {
        (401, _) => K::Authentication,
        (403, _) => K::PermissionDenied,
        (_, Some("card_error")) | (402, _) => K::Declined,
        (429, _) => K::RateLimited,
        (_, Some("idempotency_error")) => K::InvalidRequest,
        (500..=599, _) | (_, Some("api_error")) | (409, _) => K::Unavailable,
        _ if code == Some("rate_limit") => K::RateLimited,
        _ => K::InvalidRequest,
    }
}

/// Puts a failed call in dream's words.
pub(crate) fn to_billing(error: CallError) -> BillingError {
    match error {
        CallError::Api(api) => {
            let kind = kind_of(
                api.status,
                api.body.kind.as_deref(),
                api.body.code.as_deref(),
            );
            let message = match &api.body.message {
                Some(m) if !m.trim().is_empty() => redact_keys(m),
                _ => default_message(kind, api.status),
            };
            let code = api
                .body
                .code
                .clone()
                .or_else(|| api.body.decline_code.clone());
            BillingError::new(kind, message)
                .with_request_id(api.request_id())
                .with_provider_code(code)
        }
        CallError::Network { message } => BillingError::new(
            BillingErrorKind::Unavailable,
            format!("Stripe could not be reached: {}", redact_keys(&message)),
        ),
        CallError::Decode(message) => BillingError::new(
            BillingErrorKind::Unavailable,
            format!("Stripe's response could not be read: {message}"),
        ),
        CallError::Local { kind, message } => BillingError::new(kind, message),
    }
}

fn default_message(kind: BillingErrorKind, status: u16) -> String {
    use BillingErrorKind as K;
    let what = match kind {
        K::Authentication => "Stripe refused the platform's API key",
        K::PermissionDenied => "the Stripe account does not grant access to this request",
        K::Declined => "the card was declined",
        K::RateLimited => "Stripe is rate limiting requests; try again later",
        K::Unavailable => "Stripe is unavailable; try again later",
        K::InvalidGrant => "Stripe refused the authorization code",
        K::NotConfigured | K::InvalidRequest => "Stripe refused the request",
    };
    format!("{what} (HTTP {status})")
}

/// Key prefixes that must never appear with their secret part in a message.
const SECRET_PREFIXES: &[&str] = &[
    "sk_test_", "sk_live_", "rk_test_", "rk_live_", "whsec_", "rt_", "ac_",
];

/// Replaces anything that looks like a Stripe secret (`sk_live_…`, `rk_test_…`, refresh
/// tokens, webhook secrets) with its prefix and an ellipsis, including Stripe's own masked
/// form `sk_test_****1234`.
pub(crate) fn redact_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        let at_word_start = out
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        if at_word_start {
            for prefix in SECRET_PREFIXES {
                if let Some(tail) = rest.strip_prefix(prefix) {
                    let secret_len = tail
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '*' || c == '_'))
                        .unwrap_or(tail.len());
                    if secret_len > 0 {
                        out.push_str(prefix);
                        out.push('…');
                        rest = &tail[secret_len..];
                        continue 'outer;
                    }
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use BillingErrorKind as K;

    #[test]
    fn kinds() {
        assert_eq!(
            kind_of(401, Some("invalid_request_error"), None),
            K::Authentication
        );
        assert_eq!(
            kind_of(403, Some("invalid_request_error"), None),
            K::PermissionDenied
        );
        assert_eq!(
            kind_of(401, Some("invalid_request_error"), Some("account_invalid")),
            K::PermissionDenied
        );
        assert_eq!(
            kind_of(400, None, Some("account_invalid")),
            K::PermissionDenied
        );
        assert_eq!(
            kind_of(402, Some("card_error"), Some("card_declined")),
            K::Declined
        );
        assert_eq!(
            kind_of(429, Some("invalid_request_error"), Some("rate_limit")),
            K::RateLimited
        );
        assert_eq!(
            kind_of(
                400,
                Some("invalid_request_error"),
                Some("parameter_unknown")
            ),
            K::InvalidRequest
        );
        assert_eq!(
            kind_of(400, Some("idempotency_error"), None),
            K::InvalidRequest
        );
        assert_eq!(
            kind_of(409, Some("idempotency_error"), None),
            K::InvalidRequest
        );
        assert_eq!(
            kind_of(404, Some("invalid_request_error"), Some("resource_missing")),
            K::InvalidRequest
        );
        assert_eq!(kind_of(500, Some("api_error"), None), K::Unavailable);
        assert_eq!(kind_of(502, None, None), K::Unavailable);
        assert_eq!(kind_of(409, None, Some("lock_timeout")), K::Unavailable);
    }

    #[test]
    fn request_id_from_header_or_log_url() {
        let body = br#"{"error":{"type":"invalid_request_error","message":"No such price","request_log_url":"https://dashboard.stripe.com/test/logs/req_abc123?t=1"}}"#;
        let f = ApiFailure::from_response(400, None, None, body);
        assert_eq!(f.request_id().as_deref(), Some("req_abc123"));
        let f = ApiFailure::from_response(400, Some("req_hdr".into()), None, body);
        assert_eq!(f.request_id().as_deref(), Some("req_hdr"));
        let f = ApiFailure::from_response(502, None, None, b"<html>bad gateway</html>");
        assert_eq!(f.request_id(), None);
        let err = to_billing(CallError::Api(Box::new(f)));
        assert_eq!(err.kind, K::Unavailable);
        assert!(err.message.contains("502"));
    }

    #[test]
    fn messages_never_carry_keys() {
        let text = "The provided key 'sk_test_********************1234' does not have access; also rk_live_abcDEF123, whsec_x and sk_test_… and task_test_ok";
        let out = redact_keys(text);
        assert!(!out.contains("1234") && !out.contains("abcDEF"), "{out}");
        assert!(out.contains("'sk_test_…'"), "{out}");
        assert!(out.contains("task_test_ok"), "{out}");
        assert!(out.contains("sk_test_… and"), "{out}");
        let body = br#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_live_abcdef"}}"#;
        let err = to_billing(CallError::Api(Box::new(ApiFailure::from_response(
            401, None, None, body,
        ))));
        assert_eq!(err.kind, K::Authentication);
        assert!(!err.message.contains("abcdef"), "{}", err.message);
    }
}
