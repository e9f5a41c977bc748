//! `Debug` for bodies that carry a credential (a password, a Stripe key, a webhook
//! signing secret, a dream secret key): the value is printed as `[redacted]`, so a
//! `{:?}` in a log line, a panic message or a tracing field cannot leak it.

/// What a redacted value prints as.
pub(crate) const REDACTED: &str = "[redacted]";

/// `Some("[redacted]")` for a present secret, `None` for an absent one (whether a
/// secret was sent is worth seeing; its value is not).
pub(crate) fn redacted<T>(secret: &Option<T>) -> Option<&'static str> {
    secret.as_ref().map(|_| REDACTED)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::super::*;

    fn assert_hidden(debug: String, secret: &str) {
        assert!(!debug.contains(secret), "leaked {secret:?} in {debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }

    #[test]
    fn create_customer_request_hides_the_password() {
        let body = CreateCustomerRequest {
            email: Some("a@example.com".into()),
            password: Some("correct horse battery".into()),
            ..CreateCustomerRequest::default()
        };
        let debug = format!("{body:?}");
        assert_hidden(debug.clone(), "correct horse battery");
        assert!(debug.contains("a@example.com"), "{debug}");
    }

    #[test]
    fn direct_connect_request_hides_the_key_and_the_webhook_secret() {
        let body = DirectConnectRequest {
            mode: ModeDto::Test,
            secret_key: "sk_test_0123456789abcdefSECRET".into(),
            webhook_secret: Some("whsec_0123456789abcdefSECRET".into()),
        };
        let debug = format!("{body:?}");
        assert_hidden(debug.clone(), "sk_test_0123456789abcdefSECRET");
        assert!(!debug.contains("whsec_0123456789abcdefSECRET"), "{debug}");
    }

    #[test]
    fn issued_key_hides_the_secret_key() {
        let issued = IssuedKeyDto {
            key: KeyDto {
                id: "key_1".into(),
                mode: ModeDto::Test,
                label: None,
                publishable_key: "pk_test_abc".into(),
                secret_key_hint: "sk_test_…a1b2".into(),
                created_at: Utc::now(),
                expires_at: None,
                revoked_at: None,
            },
            secret_key: "sk_test_0123456789SECRETa1b2".into(),
        };
        let debug = format!("{issued:?}");
        assert_hidden(debug.clone(), "sk_test_0123456789SECRETa1b2");
        assert!(debug.contains("pk_test_abc"), "{debug}");
    }

    #[test]
    fn create_products_response_hides_the_secret_key() {
        let response = CreateProductsResponse {
            platform_id: "plt_1".into(),
            mode: ModeDto::Test,
            publishable_key: "pk_test_abc".into(),
            secret_key: Some("sk_test_0123456789SECRET".into()),
            tiers: Vec::new(),
            price_ids: Vec::new(),
        };
        assert_hidden(format!("{response:?}"), "sk_test_0123456789SECRET");
    }

    fn endpoint(secret: Option<String>) -> WebhookEndpointDto {
        WebhookEndpointDto {
            id: "we_1".into(),
            url: "https://hooks.example.com/".into(),
            description: None,
            event_types: vec!["*".into()],
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            secret,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn webhook_endpoint_hides_its_signing_secret() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let dto = endpoint(Some(secret.into()));
        let debug = format!("{dto:?}");
        assert_hidden(debug.clone(), secret);
        assert!(debug.contains("hooks.example.com"), "{debug}");
        let list = WebhookEndpointList { data: vec![dto] };
        assert_hidden(format!("{list:?}"), secret);
    }

    #[test]
    fn webhook_secret_hides_the_secret() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let dto = WebhookSecretDto {
            secret: secret.into(),
        };
        assert_hidden(format!("{dto:?}"), secret);
    }
}
