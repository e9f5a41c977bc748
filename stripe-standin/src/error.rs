//! Stripe's error shape: `{"error":{"type":…,"message":…,"code"?:…,"param"?:…}}`.

use serde_json::{json, Map, Value};

use crate::Failure;

/// An API error as Stripe reports it.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
    pub code: Option<&'static str>,
    pub param: Option<String>,
    pub decline_code: Option<&'static str>,
    /// Value of the `Stripe-Should-Retry` header, if any.
    pub should_retry: Option<bool>,
}

impl ApiError {
    fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            code: None,
            param: None,
            decline_code: None,
            should_retry: None,
        }
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request_error", message)
    }

    /// 400 `invalid_request_error` about `param`.
    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::invalid(message).param(param)
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn unknown_param(param: &str) -> Self {
        Self::invalid_param(param, format!("Received unknown parameter: {param}"))
            .code("parameter_unknown")
    }

    pub fn missing_param(param: &str) -> Self {
        Self::invalid_param(param, format!("Missing required param: {param}."))
            .code("parameter_missing")
    }

    /// Stripe's answer to `name=` for a parameter that cannot be unset.
    pub fn empty_param(param: &str) -> Self {
        Self::invalid_param(
            param,
            format!(
                "You passed an empty string for '{param}'. We assume empty values are an attempt \
                 to unset a parameter; however '{param}' cannot be unset. You should remove \
                 '{param}' from your request or supply a non-empty value."
            ),
        )
    }

    /// A parameter names an object that does not exist: 400 `resource_missing`.
    pub fn no_such_param(param: &str, what: &str, id: &str) -> Self {
        Self::invalid_param(param, format!("No such {what}: '{id}'")).code("resource_missing")
    }

    /// The URL names an object that does not exist: 404 `resource_missing`.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::no_such_param("id", what, id).status(404)
    }

    /// The stand-in knows the parameter but does not model it.
    pub fn unsupported(param: &str) -> Self {
        Self::invalid_param(
            param,
            format!("The Stripe stand-in does not support the parameter {param}."),
        )
    }

    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        Self::invalid(format!(
            "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or \
             we can help at https://support.stripe.com/."
        ))
        .status(404)
    }

    pub fn no_key() -> Self {
        Self::invalid(
            "You did not provide an API key. You need to provide your API key in the \
             Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
             YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or \
             we can help at https://support.stripe.com/.",
        )
        .status(401)
    }

    pub fn bad_key(key: &str) -> Self {
        Self::invalid(format!("Invalid API Key provided: {}", redact_key(key))).status(401)
    }

    pub fn no_account_access(key: &str, account: &str) -> Self {
        Self::invalid(format!(
            "The provided key '{}' does not have access to account '{account}' (or that account \
             does not exist). Application access may have been revoked.",
            redact_key(key)
        ))
        .code("account_invalid")
        .status(403)
    }

    pub fn idempotency(message: String) -> Self {
        Self::new(400, "idempotency_error", message)
    }

    pub fn from_failure(failure: &Failure) -> Self {
        match failure {
            Failure::RateLimited => {
                let mut e = Self::invalid(
                    "Request rate limit exceeded. Learn more about rate limits here \
                     https://stripe.com/docs/rate-limits.",
                )
                .code("rate_limit")
                .status(429);
                e.should_retry = Some(true);
                e
            }
            Failure::ServerError => Self::new(
                500,
                "api_error",
                "An unknown error occurred while processing your request (stand-in injected \
                 failure).",
            ),
            Failure::CardDeclined => {
                let mut e =
                    Self::new(402, "card_error", "Your card was declined.").code("card_declined");
                e.decline_code = Some("generic_decline");
                e
            }
            Failure::InvalidRequest(message) => Self::invalid(message.clone()),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut inner = Map::new();
        inner.insert("type".into(), json!(self.kind));
        inner.insert("message".into(), json!(self.message));
        if let Some(code) = self.code {
            inner.insert("code".into(), json!(code));
            inner.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        if let Some(param) = &self.param {
            inner.insert("param".into(), json!(param));
        }
        if let Some(decline_code) = self.decline_code {
            inner.insert("decline_code".into(), json!(decline_code));
        }
        json!({ "error": inner })
    }
}

/// `sk_test_…1234` → `sk_test_********1234`; never the whole key.
pub(crate) fn redact_key(key: &str) -> String {
    let prefix_len = key
        .match_indices('_')
        .nth(1)
        .map(|(i, _)| i + 1)
        .filter(|&i| i <= 8)
        .unwrap_or(0);
    let chars: Vec<char> = key.chars().collect();
    let prefix: String = chars.iter().take(prefix_len).collect();
    let rest = chars.len().saturating_sub(prefix_len);
    if rest >= 12 {
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{prefix}{}{tail}", "*".repeat(rest - 4))
    } else {
        format!("{prefix}{}", "*".repeat(rest.max(4)))
    }
}

/// An OAuth error: `{"error": "invalid_grant", "error_description": "…"}`.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    pub fn from_failure(failure: &Failure) -> Self {
        let api = ApiError::from_failure(failure);
        let error = match failure {
            Failure::RateLimited => "rate_limit",
            Failure::ServerError => "api_error",
            Failure::CardDeclined => "card_error",
            Failure::InvalidRequest(_) => "invalid_request",
        };
        Self::new(api.status, error, api.message)
    }

    pub fn body(&self) -> Value {
        json!({ "error": self.error, "error_description": self.description })
    }
}

#[cfg(test)]
mod tests {
    use super::redact_key;

    #[test]
    fn redaction_never_shows_the_whole_key() {
        assert_eq!(
            redact_key("sk_test_abcdefghijklmnop1234"),
            "sk_test_****************1234"
        );
        assert_eq!(redact_key("sk_test_abc"), "sk_test_****");
        assert_eq!(redact_key("garbage"), "*******");
        assert!(!redact_key("rk_live_0123456789abcdef").contains("0123456789"));
    }
}
