//! Checkout and billing-portal sessions.

use chrono::{DateTime, Duration, Utc};
use dream_core::{
    ports::BillingProvider, CheckoutKind, CheckoutLine, CheckoutSpec, CustomerSpec, Interval, Mode,
    PortalSpec, PriceSpec, ProductSpec,
};
use dream_stripe_standin::{ObjectKind, CONNECTED_ACCOUNT};
use serde_json::json;

use crate::support::{connected, metadata, only_request, setup};

/// A product with one monthly and one one-off price, and a customer; returns their ids.
async fn products_and_prices(billing: &dream_stripe::StripeBilling) -> (String, String, String) {
    let account = connected(Mode::Test);
    let product = billing
        .create_product(
            &account,
            &ProductSpec {
                name: "Pro".into(),
                metadata: Default::default(),
                idempotency_key: "prod".into(),
            },
        )
        .await
        .expect("set up the products and prices");
    let price = |recurring, key: &str| PriceSpec {
        product_id: product.clone(),
        unit_amount: 900,
        currency: "usd".into(),
        recurring,
        lookup_key: None,
        metadata: Default::default(),
        idempotency_key: key.into(),
    };
    let monthly = billing
        .create_price(&account, &price(Some(Interval::Month), "monthly"))
        .await
        .expect("set up the products and prices");
    let one_off = billing
        .create_price(&account, &price(None, "one-off"))
        .await
        .expect("set up the products and prices");
    let customer = billing
        .create_customer(
            &account,
            &CustomerSpec {
                email: Some("ada@example.com".into()),
                name: None,
                metadata: Default::default(),
                idempotency_key: "cus".into(),
            },
        )
        .await
        .expect("set up the products and prices");
    (monthly, one_off, customer)
}

fn in_an_hour() -> DateTime<Utc> {
    let at = Utc::now() + Duration::hours(1);
    DateTime::from_timestamp(at.timestamp(), 0).expect("a valid time")
}

#[tokio::test]
async fn subscription_checkout_puts_metadata_on_the_subscription() {
    let (s, billing) = setup().await;
    let (monthly, _, customer) = products_and_prices(&billing).await;
    let expires_at = in_an_hour();
    let routing = metadata(&[("dream_platform_id", "plt_1"), ("dream_mode", "test")]);
    let spec = CheckoutSpec {
        kind: CheckoutKind::Subscription,
        customer: Some(customer.clone()),
        customer_email: Some("ignored@example.com".into()),
        lines: vec![CheckoutLine {
            price_id: monthly.clone(),
            quantity: 1,
        }],
        success_url: "https://app.example/ok".into(),
        cancel_url: "https://app.example/cancel".into(),
        client_reference_id: Some("usr_1".into()),
        metadata: routing,
        expires_at: Some(expires_at),
        idempotency_key: "cs-1".into(),
    };
    let session = billing
        .create_checkout_session(&connected(Mode::Test), &spec)
        .await
        .unwrap();
    assert!(session.id.starts_with("cs_test_"), "{}", session.id);
    assert!(session.url.starts_with("https://"), "{}", session.url);
    assert_eq!(session.expires_at, expires_at);

    let request = only_request(&s, "/v1/checkout/sessions");
    assert_eq!(request.stripe_account.as_deref(), Some(CONNECTED_ACCOUNT));
    assert_eq!(request.idempotency_key.as_deref(), Some("cs-1"));
    let meta = json!({"dream_platform_id": "plt_1", "dream_mode": "test"});
    assert_eq!(
        request.params,
        json!({
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"price": monthly, "quantity": "1"}],
            "success_url": "https://app.example/ok",
            "cancel_url": "https://app.example/cancel",
            "client_reference_id": "usr_1",
            "metadata": meta,
            "subscription_data": {"metadata": meta},
            "expires_at": expires_at.timestamp().to_string(),
        })
    );
    let stored = s.objects(CONNECTED_ACCOUNT, ObjectKind::CheckoutSession);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["id"], json!(session.id));
    assert_eq!(stored[0]["metadata"], meta);
}

#[tokio::test]
async fn payment_checkout_puts_metadata_on_the_payment_intent() {
    let (s, billing) = setup().await;
    let (_, one_off, _) = products_and_prices(&billing).await;
    let spec = CheckoutSpec {
        kind: CheckoutKind::Payment,
        customer: None,
        customer_email: Some("bob@example.com".into()),
        lines: vec![CheckoutLine {
            price_id: one_off.clone(),
            quantity: 3,
        }],
        success_url: "https://app.example/ok".into(),
        cancel_url: "https://app.example/cancel".into(),
        client_reference_id: None,
        metadata: metadata(&[("dream_reservation_id", "res_1")]),
        expires_at: None,
        idempotency_key: "cs-pay".into(),
    };
    let session = billing
        .create_checkout_session(&connected(Mode::Test), &spec)
        .await
        .unwrap();
    assert!(session.expires_at > Utc::now());
    let request = only_request(&s, "/v1/checkout/sessions");
    assert_eq!(
        request.params,
        json!({
            "mode": "payment",
            "customer_email": "bob@example.com",
            "line_items": [{"price": one_off, "quantity": "3"}],
            "success_url": "https://app.example/ok",
            "cancel_url": "https://app.example/cancel",
            "metadata": {"dream_reservation_id": "res_1"},
            "payment_intent_data": {"metadata": {"dream_reservation_id": "res_1"}},
        })
    );
}

#[tokio::test]
async fn portal_session() {
    let (s, billing) = setup().await;
    let (_, _, customer) = products_and_prices(&billing).await;
    let spec = PortalSpec {
        customer: customer.clone(),
        return_url: Some("https://app.example/account".into()),
        idempotency_key: "bps-1".into(),
    };
    let session = billing
        .create_portal_session(&connected(Mode::Test), &spec)
        .await
        .unwrap();
    assert!(session.url.starts_with("https://"), "{}", session.url);
    let request = only_request(&s, "/v1/billing_portal/sessions");
    assert_eq!(request.stripe_account.as_deref(), Some(CONNECTED_ACCOUNT));
    assert_eq!(request.idempotency_key.as_deref(), Some("bps-1"));
    assert_eq!(
        request.params,
        json!({"customer": customer, "return_url": "https://app.example/account"})
    );
    let stored = s.objects(CONNECTED_ACCOUNT, ObjectKind::PortalSession);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["id"], json!(session.id));
}
