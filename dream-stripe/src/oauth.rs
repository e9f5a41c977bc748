//! Connect OAuth, which async-stripe does not cover: the onboarding link, and the exchange
//! of the callback's code for the connected account id. Only `stripe_user_id` and
//! `livemode` are read from Stripe's answer; the access and refresh tokens are never
//! deserialized, kept or logged (calls use the platform key plus `Stripe-Account`).

use dream_core::{BillingError, BillingErrorKind, ConnectedAccount};
use serde::Deserialize;

use crate::{
    error::{to_billing, ApiFailure, CallError, StripeErrorBody},
    retry,
    transport::Transport,
};

/// `{connect_base}/oauth/authorize?response_type=code&client_id=…&scope=read_write&state=…`,
/// plus `redirect_uri` when given, percent-encoded.
pub(crate) fn authorize_url(
    connect_base: &str,
    client_id: &str,
    state: &str,
    redirect_uri: Option<&str>,
) -> Result<String, BillingError> {
    let base = connect_base.trim_end_matches('/');
    let mut url = reqwest::Url::parse(&format!("{base}/oauth/authorize")).map_err(|e| {
        BillingError::not_configured(format!("the Stripe Connect base URL is invalid: {e}"))
    })?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("scope", "read_write")
            .append_pair("state", state);
        if let Some(uri) = redirect_uri {
            query.append_pair("redirect_uri", uri);
        }
    }
    Ok(url.into())
}

/// The only fields of the token response we read.
#[derive(Deserialize)]
struct Grant {
    stripe_user_id: String,
    livemode: bool,
}

/// An OAuth error body: `{"error":"invalid_grant","error_description":"…"}`.
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

/// `POST {connect_base}/oauth/token` with the platform key of the mode.
///
/// A code is single-use, so only failures that cannot have consumed it are retried: a
/// connection that was never made, and 429.
pub(crate) async fn exchange_code(
    platform: &Transport,
    connect_base: &str,
    code: &str,
) -> Result<ConnectedAccount, BillingError> {
    if code.is_empty() {
        return Err(BillingError::new(
            BillingErrorKind::InvalidGrant,
            "the authorization code is empty",
        ));
    }
    let url = format!("{}/oauth/token", connect_base.trim_end_matches('/'));
    let form = [("grant_type", "authorization_code"), ("code", code)];
    let bytes = retry::run(platform.retry_policy(), true, |_| async {
        let response = platform
            .http()
            .post(&url)
            .header(
                reqwest::header::AUTHORIZATION,
                platform.authorization().clone(),
            )
            .form(&form)
            .send()
            .await
            .map_err(unsent)?;
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(|e| {
            CallError::local(
                BillingErrorKind::Unavailable,
                format!("Stripe's OAuth answer was cut off: {}", e.without_url()),
            )
        })?;
        tracing::debug!(
            status,
            request_id = request_id.as_deref(),
            "Stripe OAuth token exchange"
        );
        if (200..300).contains(&status) {
            Ok(bytes)
        } else {
            Err(CallError::Api(Box::new(failure(
                status, request_id, &bytes,
            ))))
        }
    })
    .await
    .map_err(oauth_billing_error)?;
    let grant: Grant = serde_json::from_slice(&bytes).map_err(|_| {
        BillingError::new(
            BillingErrorKind::Unavailable,
            "Stripe's OAuth answer had no stripe_user_id and livemode",
        )
    })?;
    Ok(ConnectedAccount {
        account_id: grant.stripe_user_id,
        livemode: grant.livemode,
    })
}

/// A failed request: retryable only if no connection was made (the code is unspent).
fn unsent(error: reqwest::Error) -> CallError {
    let error = error.without_url();
    if error.is_connect() {
        CallError::Network {
            message: error.to_string(),
        }
    } else {
        CallError::local(
            BillingErrorKind::Unavailable,
            format!("Stripe's OAuth endpoint did not answer: {error}"),
        )
    }
}

/// Reads either OAuth's `{"error":"…"}` or the API's `{"error":{…}}`; only 429 retries.
fn failure(status: u16, request_id: Option<String>, body: &[u8]) -> ApiFailure {
    let mut failure = match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) => ApiFailure {
            status,
            request_id,
            should_retry: None,
            body: StripeErrorBody {
                kind: Some("oauth_error".into()),
                code: Some(e.error),
                message: e.error_description,
                ..StripeErrorBody::default()
            },
        },
        Err(_) => ApiFailure::from_response(status, request_id, None, body),
    };
    failure.should_retry = Some(status == 429);
    failure
}

fn oauth_billing_error(error: CallError) -> BillingError {
    let mut billing = to_billing(error);
    match billing.provider_code.as_deref() {
        Some("invalid_grant") => billing.kind = BillingErrorKind::InvalidGrant,
        Some("invalid_client" | "unauthorized_client") => {
            billing.kind = BillingErrorKind::Authentication
        }
        _ => {}
    }
    billing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_is_encoded() {
        let url = authorize_url(
            "https://connect.stripe.com/",
            "ca_123",
            "st a&te=1",
            Some("https://dream.example/callback?x=1"),
        )
        .unwrap();
        assert_eq!(
            url,
            "https://connect.stripe.com/oauth/authorize?response_type=code&client_id=ca_123\
             &scope=read_write&state=st+a%26te%3D1\
             &redirect_uri=https%3A%2F%2Fdream.example%2Fcallback%3Fx%3D1"
        );
    }

    #[test]
    fn oauth_errors_map_to_kinds() {
        let body = br#"{"error":"invalid_grant","error_description":"Authorization code does not exist: ac_secret123"}"#;
        let err = oauth_billing_error(CallError::Api(Box::new(failure(400, None, body))));
        assert_eq!(err.kind, BillingErrorKind::InvalidGrant);
        assert_eq!(err.provider_code.as_deref(), Some("invalid_grant"));
        assert!(!err.message.contains("secret123"), "{}", err.message);
        let body = br#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****abcd"}}"#;
        let err = oauth_billing_error(CallError::Api(Box::new(failure(401, None, body))));
        assert_eq!(err.kind, BillingErrorKind::Authentication);
        assert!(failure(429, None, b"{}").should_retry == Some(true));
        assert!(failure(500, None, b"{}").should_retry == Some(false));
    }
}
