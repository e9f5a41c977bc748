//! Retries, error kinds, configuration errors and what never leaks.

use dream_core::{
    ports::BillingProvider, AccountAccess, BillingAccount, BillingErrorKind, CustomerSpec, Mode,
    PriceSpec, ProductSpec, RevealedSecret,
};
use dream_stripe::{StripeBilling, StripeConfig};
use dream_stripe_standin::{
    Failure, ObjectKind, CONNECTED_ACCOUNT, LIVE_PLATFORM_KEY, TEST_DIRECT_KEY, TEST_PLATFORM_KEY,
};

use crate::support::{config, connected, connected_to, metadata, requests_to, setup};

fn product_spec(key: &str) -> ProductSpec {
    ProductSpec {
        name: "Pro".into(),
        metadata: metadata(&[("dream_tier", "pro")]),
        idempotency_key: key.into(),
    }
}

fn customer_spec(key: &str) -> CustomerSpec {
    CustomerSpec {
        email: Some("ada@example.com".into()),
        name: None,
        metadata: Default::default(),
        idempotency_key: key.into(),
    }
}

#[tokio::test]
async fn transient_failures_are_retried_with_the_same_idempotency_key() {
    let (s, billing) = setup().await;
    let account = connected(Mode::Test);
    let product = billing
        .create_product(&account, &product_spec("prod"))
        .await
        .unwrap();
    s.fail_next(
        "/v1/prices",
        vec![Failure::RateLimited, Failure::ServerError],
    );
    let spec = PriceSpec {
        product_id: product,
        unit_amount: 500,
        currency: "usd".into(),
        recurring: None,
        lookup_key: None,
        metadata: Default::default(),
        idempotency_key: "price-retried".into(),
    };
    let id = billing.create_price(&account, &spec).await.unwrap();

    let prices = s.objects(CONNECTED_ACCOUNT, ObjectKind::Price);
    assert_eq!(prices.len(), 1);
    assert_eq!(prices[0]["id"], serde_json::json!(id));
    let requests = requests_to(&s, "/v1/prices");
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 500, 200]);
    for request in &requests {
        assert_eq!(request.idempotency_key.as_deref(), Some("price-retried"));
        assert_eq!(request.params, requests[2].params);
    }
}

#[tokio::test]
async fn retries_stop_after_max_retries() {
    let (s, billing) = setup().await;
    s.fail_next("/v1/products", vec![Failure::ServerError; 5]);
    let err = billing
        .create_product(&connected(Mode::Test), &product_spec("prod-down"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::Unavailable);
    assert!(err.request_id.is_some());
    // One attempt plus the default three retries.
    assert_eq!(requests_to(&s, "/v1/products").len(), 4);
    assert!(s.objects(CONNECTED_ACCOUNT, ObjectKind::Product).is_empty());

    let mut no_retries = config(&s);
    no_retries.max_retries = 0;
    let billing = StripeBilling::new(no_retries).unwrap();
    s.fail_next("/v1/customers", vec![Failure::RateLimited]);
    let err = billing
        .create_customer(&connected(Mode::Test), &customer_spec("cus-limited"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::RateLimited);
    assert_eq!(err.provider_code.as_deref(), Some("rate_limit"));
    assert_eq!(requests_to(&s, "/v1/customers").len(), 1);
}

#[tokio::test]
async fn declines_are_not_retried() {
    let (s, billing) = setup().await;
    s.fail_next("/v1/customers", vec![Failure::CardDeclined]);
    let err = billing
        .create_customer(&connected(Mode::Test), &customer_spec("cus-declined"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::Declined);
    assert_eq!(err.provider_code.as_deref(), Some("card_declined"));
    assert_eq!(err.message, "Your card was declined.");
    let requests = requests_to(&s, "/v1/customers");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        err.request_id.as_deref(),
        Some(requests[0].request_id.as_str())
    );
}

#[tokio::test]
async fn invalid_requests_carry_message_code_and_request_id() {
    let (s, billing) = setup().await;
    s.fail_next(
        "/v1/products",
        vec![Failure::InvalidRequest("Nope: bad name".into())],
    );
    let err = billing
        .create_product(&connected(Mode::Test), &product_spec("prod-bad"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::InvalidRequest);
    assert_eq!(err.message, "Nope: bad name");
    let requests = requests_to(&s, "/v1/products");
    assert_eq!(requests.len(), 1, "an invalid request is not retried");
    assert!(requests[0].request_id.starts_with("req_"));
    assert_eq!(
        err.request_id.as_deref(),
        Some(requests[0].request_id.as_str())
    );

    // A real refusal: a price for a product that does not exist.
    let spec = PriceSpec {
        product_id: "prod_missing".into(),
        unit_amount: 500,
        currency: "usd".into(),
        recurring: None,
        lookup_key: None,
        metadata: Default::default(),
        idempotency_key: "price-missing".into(),
    };
    let err = billing
        .create_price(&connected(Mode::Test), &spec)
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::InvalidRequest);
    assert_eq!(err.provider_code.as_deref(), Some("resource_missing"));
    assert!(err.message.contains("prod_missing"), "{}", err.message);
    assert!(err.request_id.is_some());
}

#[tokio::test]
async fn unknown_account_is_permission_denied_without_the_key() {
    let (s, billing) = setup().await;
    let err = billing
        .create_product(
            &connected_to(Mode::Test, "acct_unknown"),
            &product_spec("prod-x"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::PermissionDenied);
    assert_eq!(err.provider_code.as_deref(), Some("account_invalid"));
    assert!(err.message.contains("acct_unknown"), "{}", err.message);
    let tail = &TEST_PLATFORM_KEY[TEST_PLATFORM_KEY.len() - 4..];
    assert!(
        !err.message.contains(&format!("{tail}'")),
        "{}",
        err.message
    );
    assert!(!err.message.contains(TEST_PLATFORM_KEY));
    assert_eq!(requests_to(&s, "/v1/products").len(), 1);

    // Access removed later (a deauthorization) reads the same.
    s.remove_connected_account(CONNECTED_ACCOUNT);
    let err = billing
        .create_product(&connected(Mode::Test), &product_spec("prod-y"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::PermissionDenied);
}

#[tokio::test]
async fn a_refused_platform_key_is_an_authentication_error() {
    let (s, _) = setup().await;
    let mut wrong = config(&s);
    wrong.test_secret_key = Some(RevealedSecret::new("sk_test_notthekey1234567890".into()));
    let billing = StripeBilling::new(wrong).unwrap();
    let err = billing
        .create_product(&connected(Mode::Test), &product_spec("prod-auth"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::Authentication);
    assert!(!err.message.contains("notthekey"), "{}", err.message);
    assert!(!err.message.contains("7890"), "{}", err.message);
    assert_eq!(requests_to(&s, "/v1/products").len(), 1);
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut config = StripeConfig::from_keys(Some(TEST_PLATFORM_KEY.into()), None).unwrap();
    config.api_base = format!("http://{addr}");
    config.retry_base_delay = std::time::Duration::from_millis(1);
    let billing = StripeBilling::new(config).unwrap();
    let err = billing
        .create_product(&connected(Mode::Test), &product_spec("prod-net"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::Unavailable);
    assert_eq!(err.request_id, None);
    assert!(!err.message.contains(TEST_PLATFORM_KEY));
}

#[tokio::test]
async fn missing_settings_are_not_configured_errors() {
    let (s, _) = setup().await;
    let mut test_only = StripeConfig::from_keys(Some(TEST_PLATFORM_KEY.into()), None).unwrap();
    test_only.api_base = s.base_url();
    test_only.connect_base = s.connect_base_url();
    let billing = StripeBilling::new(test_only).unwrap();

    assert!(billing.check_configured(Mode::Test).is_ok());
    let err = billing.check_configured(Mode::Live).unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::NotConfigured);
    assert_eq!(
        err.message,
        "Set STRIPE_SECRET_KEY to a sk_live_… key to bill in live mode"
    );
    let err = billing
        .create_product(&connected(Mode::Live), &product_spec("prod-live"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::NotConfigured);
    let err = billing
        .exchange_connect_code(Mode::Live, "ac_123")
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::NotConfigured);
    let err = billing
        .connect_authorize_url(Mode::Test, "state")
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::NotConfigured);
    assert!(err.message.contains("STRIPE_CLIENT_ID"), "{}", err.message);
    assert!(s.requests().is_empty(), "nothing was sent");

    let live_only =
        StripeBilling::new(StripeConfig::from_keys(Some(LIVE_PLATFORM_KEY.into()), None).unwrap())
            .unwrap();
    let err = live_only.check_configured(Mode::Test).unwrap_err();
    assert_eq!(
        err.message,
        "Set STRIPE_SECRET_KEY (or STRIPE_TEST_SECRET_KEY) to a sk_test_… key to bill in test mode"
    );
}

#[tokio::test]
async fn a_direct_key_of_the_other_mode_is_refused_before_sending() {
    let (s, billing) = setup().await;
    let live_account_with_test_key = BillingAccount {
        mode: Mode::Live,
        access: AccountAccess::Direct {
            secret: RevealedSecret::new(TEST_DIRECT_KEY.into()),
        },
    };
    let err = billing
        .create_product(&live_account_with_test_key, &product_spec("prod-mixed"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::InvalidRequest);
    assert!(!err.message.contains(TEST_DIRECT_KEY));
    assert!(s.requests().is_empty());
}

#[tokio::test]
async fn debug_output_never_shows_a_key() {
    let (s, billing) = setup().await;
    let config = config(&s);
    // Use the direct-mode cache so it holds an entry too.
    billing
        .create_product(&crate::support::direct(), &product_spec("prod-debug"))
        .await
        .unwrap();
    for shown in [
        format!("{config:?}"),
        format!("{billing:?}"),
        format!("{config:#?}"),
    ] {
        for key in [TEST_PLATFORM_KEY, LIVE_PLATFORM_KEY, TEST_DIRECT_KEY] {
            assert!(!shown.contains(key), "{shown}");
            assert!(!shown.contains(&key[8..]), "{shown}");
        }
    }
}
