//! The stand-in against async-stripe 1.0.0-rc.10 itself: requests are encoded by its request
//! builders, responses are decoded with miniserde into its response types, exactly as its client
//! does. A missing required field fails here with "error deserializing".

// Test code: unwrapping is the assertion.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::Answer;
use dream_stripe_standin::{StandIn, CONNECTED_ACCOUNT, TEST_PLATFORM_KEY};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::BillingPortalSession;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionPaymentIntentData,
    CreateCheckoutSessionSubscriptionData, RetrieveCheckoutSession,
};
use stripe_client_core::{RequestBuilder, StripeMethod, StripeRequest};
use stripe_core::customer::CreateCustomer;
use stripe_product::price::{
    CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval, ListPrice, RetrievePrice,
    UpdatePrice,
};
use stripe_product::product::{CreateProduct, RetrieveProduct, UpdateProduct};
use stripe_shared::{
    CheckoutSession, CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus,
    CheckoutSessionUiMode, Customer, Price, PriceBillingScheme, PriceType, Product, ProductType,
    RecurringInterval, RecurringUsageType,
};
use stripe_types::{Currency, Expandable, List};

/// Sends what an async-stripe builder built, with the test platform key on the connected
/// account.
async fn send(standin: &StandIn, request: &impl StripeRequest) -> Answer {
    let RequestBuilder {
        query,
        body,
        path,
        method,
    } = request.build();
    let mut path = format!("/v1{path}");
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        path = format!("{path}?{query}");
    }
    let method = match method {
        StripeMethod::Get => reqwest::Method::GET,
        StripeMethod::Post => reqwest::Method::POST,
        StripeMethod::Delete => reqwest::Method::DELETE,
    };
    common::Req::new(method, &path)
        .key(Some(TEST_PLATFORM_KEY))
        .account(Some(CONNECTED_ACCOUNT))
        .body(&body.unwrap_or_default())
        .send(standin)
        .await
}

/// Decodes a 200 answer the way async-stripe's client does.
fn decode<T: miniserde::Deserialize>(answer: &Answer) -> T {
    assert_eq!(answer.status, 200, "unexpected answer: {}", answer.text);
    miniserde::json::from_str(&answer.text)
        .unwrap_or_else(|_| panic!("async-stripe cannot decode: {}", answer.text))
}

fn metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn expandable_id<T: stripe_types::Object>(e: &Expandable<T>) -> String
where
    T::Id: ToString,
{
    e.id().to_string()
}

#[tokio::test]
async fn every_response_decodes_into_async_stripe_types() {
    let standin = common::standin().await;

    // Product, created and updated (metadata merges; an empty value deletes a key).
    let create = CreateProduct::new("Pro")
        .description("The pro tier")
        .metadata(metadata(&[("dream_tier", "pro"), ("old", "x")]));
    let product: Product = decode(&send(&standin, &create).await);
    assert_eq!(product.name, "Pro");
    assert!(product.active && !product.livemode);
    assert_eq!(product.type_, ProductType::Service);
    assert!(product.id.as_str().starts_with("prod_"));
    let update = UpdateProduct::new(product.id.clone())
        .name("Pro plan")
        .metadata(metadata(&[("old", ""), ("new", "y")]));
    let updated: Product = decode(&send(&standin, &update).await);
    assert_eq!(updated.name, "Pro plan");
    assert_eq!(
        updated.metadata,
        metadata(&[("dream_tier", "pro"), ("new", "y")])
    );
    let fetched: Product = decode(&send(&standin, &RetrieveProduct::new(product.id.clone())).await);
    assert_eq!(fetched.name, "Pro plan");

    // Recurring price with a lookup key, and a one-off price.
    let create = CreatePrice::new(Currency::USD)
        .product(product.id.as_str())
        .unit_amount(900)
        .lookup_key("pro_monthly")
        .nickname("Pro monthly")
        .metadata(metadata(&[("dream_tier", "pro")]))
        .recurring(CreatePriceRecurring::new(
            CreatePriceRecurringInterval::Month,
        ));
    let monthly: Price = decode(&send(&standin, &create).await);
    assert_eq!(monthly.type_, PriceType::Recurring);
    assert_eq!(monthly.billing_scheme, PriceBillingScheme::PerUnit);
    assert_eq!(monthly.unit_amount, Some(900));
    assert_eq!(monthly.currency, Currency::USD);
    assert_eq!(monthly.lookup_key.as_deref(), Some("pro_monthly"));
    assert_eq!(expandable_id(&monthly.product), product.id.to_string());
    let recurring = monthly.recurring.as_ref().unwrap();
    assert_eq!(recurring.interval, RecurringInterval::Month);
    assert_eq!(recurring.interval_count, 1);
    assert_eq!(recurring.usage_type, RecurringUsageType::Licensed);

    let create = CreatePrice::new(Currency::USD)
        .product(product.id.as_str())
        .unit_amount(4900);
    let one_off: Price = decode(&send(&standin, &create).await);
    assert_eq!(one_off.type_, PriceType::OneTime);
    assert!(one_off.recurring.is_none());

    // Moving the lookup key with the update endpoint, then listing by it.
    let create = CreatePrice::new(Currency::USD)
        .product(product.id.as_str())
        .unit_amount(1200)
        .recurring(CreatePriceRecurring::new(
            CreatePriceRecurringInterval::Month,
        ));
    let newer: Price = decode(&send(&standin, &create).await);
    let update = UpdatePrice::new(newer.id.clone())
        .lookup_key("pro_monthly")
        .transfer_lookup_key(true);
    let moved: Price = decode(&send(&standin, &update).await);
    assert_eq!(moved.lookup_key.as_deref(), Some("pro_monthly"));
    let old: Price = decode(&send(&standin, &RetrievePrice::new(monthly.id.clone())).await);
    assert_eq!(old.lookup_key, None);
    let list = ListPrice::new().lookup_keys(vec!["pro_monthly".to_owned()]);
    let listed: List<Price> = decode(&send(&standin, &list).await);
    assert_eq!(listed.data.len(), 1);
    assert_eq!(listed.data[0].id, newer.id);
    assert!(!listed.has_more);

    // Customer.
    let create = CreateCustomer::new()
        .email("dev@example.com")
        .name("Dev")
        .metadata(metadata(&[("dream_customer", "c1")]));
    let customer: Customer = decode(&send(&standin, &create).await);
    assert_eq!(customer.email.as_deref(), Some("dev@example.com"));
    assert!(customer.id.as_str().starts_with("cus_"));

    // Checkout Session, subscription mode.
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some(newer.id.to_string());
    item.quantity = Some(2);
    let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
    subscription_data.metadata = Some(metadata(&[("dream_tier", "pro")]));
    let create = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .line_items(vec![item])
        .customer(customer.id.as_str())
        .client_reference_id("dream_customer_c1")
        .metadata(metadata(&[("dream_customer", "c1")]))
        .subscription_data(subscription_data)
        .success_url("https://app.example.com/ok?session={CHECKOUT_SESSION_ID}")
        .cancel_url("https://app.example.com/cancel");
    let session: CheckoutSession = decode(&send(&standin, &create).await);
    assert!(session.id.as_str().starts_with("cs_test_"));
    assert_eq!(session.mode, CheckoutSessionMode::Subscription);
    assert_eq!(session.status, Some(CheckoutSessionStatus::Open));
    assert_eq!(session.payment_status, CheckoutSessionPaymentStatus::Unpaid);
    assert_eq!(session.ui_mode, Some(CheckoutSessionUiMode::HostedPage));
    assert_eq!(session.amount_total, Some(2400));
    assert_eq!(session.currency, Some(Currency::USD));
    assert_eq!(
        session.customer.as_ref().map(expandable_id),
        Some(customer.id.to_string())
    );
    assert_eq!(
        session.client_reference_id.as_deref(),
        Some("dream_customer_c1")
    );
    assert!(session
        .url
        .as_deref()
        .unwrap()
        .starts_with(&format!("https://checkout.stripe.com/c/pay/{}", session.id)));

    // Checkout Session, payment mode, then expired by the test hook.
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some(one_off.id.to_string());
    item.quantity = Some(1);
    let mut payment_intent_data = CreateCheckoutSessionPaymentIntentData::new();
    payment_intent_data.metadata = Some(metadata(&[("dream_pack", "credits")]));
    let expires_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 3600;
    let create = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .line_items(vec![item])
        .customer_email("buyer@example.com")
        .payment_intent_data(payment_intent_data)
        .expires_at(expires_at)
        .success_url("https://app.example.com/ok");
    let payment: CheckoutSession = decode(&send(&standin, &create).await);
    assert_eq!(payment.mode, CheckoutSessionMode::Payment);
    assert_eq!(payment.amount_total, Some(4900));
    assert_eq!(payment.expires_at, expires_at);
    assert_eq!(payment.customer_email.as_deref(), Some("buyer@example.com"));
    assert!(standin.expire_checkout_session(CONNECTED_ACCOUNT, payment.id.as_str()));
    let retrieve = RetrieveCheckoutSession::new(payment.id.clone());
    let expired: CheckoutSession = decode(&send(&standin, &retrieve).await);
    assert_eq!(expired.status, Some(CheckoutSessionStatus::Expired));
    assert_eq!(expired.url, None);

    // Billing portal session.
    let create = CreateBillingPortalSession::new()
        .customer(customer.id.as_str())
        .return_url("https://app.example.com/account");
    let portal: BillingPortalSession = decode(&send(&standin, &create).await);
    assert_eq!(portal.customer, customer.id.as_str());
    assert!(portal
        .url
        .starts_with("https://billing.stripe.com/p/session/test_"));
    assert!(expandable_id(&portal.configuration).starts_with("bpc_"));
    assert!(portal.id.as_str().starts_with("bps_"));
    assert_eq!(
        portal.return_url.as_deref(),
        Some("https://app.example.com/account")
    );
}

#[tokio::test]
async fn errors_decode_into_async_stripe_errors() {
    let standin = common::standin().await;
    let cases = [
        common::post("/v1/products", "name=Pro&colour=red"),
        common::post("/v1/products", "").key(Some("sk_test_wrong_key_000000000000")),
        common::post("/v1/products", "name=Pro").account(Some("acct_nobody")),
        common::get("/v1/products/prod_missing"),
    ];
    for case in cases {
        let answer = case.send(&standin).await;
        assert!(answer.status >= 400);
        let error: stripe_shared::Error = miniserde::json::from_str(&answer.text)
            .unwrap_or_else(|_| panic!("async-stripe cannot decode the error: {}", answer.text));
        assert_eq!(
            error.error.type_,
            stripe_shared::ApiErrorsType::InvalidRequestError
        );
        assert!(!matches!(
            error.error.code,
            Some(stripe_shared::ApiErrorsCode::Unknown(_))
        ));
    }
}

/// The decoding above is strict: a response missing a required field does not decode.
#[tokio::test]
async fn decoding_is_strict_about_required_fields() {
    let standin = common::standin().await;
    let answer = send(&standin, &CreateProduct::new("Pro")).await;
    let mut product = answer.json.clone();
    assert!(miniserde::json::from_str::<Product>(&product.to_string()).is_ok());
    product
        .as_object_mut()
        .unwrap()
        .remove("marketing_features");
    assert!(miniserde::json::from_str::<Product>(&product.to_string()).is_err());
}
