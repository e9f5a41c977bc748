//! Products, prices and customers: what reaches Stripe, on which account.

use dream_core::{
    ports::BillingProvider, CustomerSpec, Interval, Mode, PriceSpec, ProductSpec, ProductUpdate,
};
use dream_stripe_standin::{ObjectKind, CONNECTED_ACCOUNT, DIRECT_ACCOUNT};
use serde_json::json;

use crate::support::{connected, direct, metadata, only_request, requests_to, setup};

fn product_spec(key: &str) -> ProductSpec {
    ProductSpec {
        name: "Pro".into(),
        metadata: metadata(&[("dream_tier", "pro"), ("dream_limit", "1000")]),
        idempotency_key: key.into(),
    }
}

fn price_spec(product_id: &str, key: &str) -> PriceSpec {
    PriceSpec {
        product_id: product_id.into(),
        unit_amount: 1900,
        currency: "usd".into(),
        recurring: Some(Interval::Month),
        lookup_key: Some("plt_1_test_pro".into()),
        metadata: metadata(&[("dream_tier", "pro")]),
        idempotency_key: key.into(),
    }
}

#[tokio::test]
async fn create_and_update_product_on_the_connected_account() {
    let (s, billing) = setup().await;
    let account = connected(Mode::Test);
    let id = billing
        .create_product(&account, &product_spec("prod-create-1"))
        .await
        .unwrap();
    assert!(id.starts_with("prod_"), "{id}");

    let request = only_request(&s, "/v1/products");
    assert_eq!(request.method, "POST");
    assert_eq!(request.stripe_account.as_deref(), Some(CONNECTED_ACCOUNT));
    assert_eq!(request.idempotency_key.as_deref(), Some("prod-create-1"));
    assert!(!request.livemode);
    assert_eq!(
        request.stripe_version.as_deref(),
        Some(stripe_shared::version::VERSION.as_str())
    );
    assert_eq!(
        request.params,
        json!({"name": "Pro", "metadata": {"dream_tier": "pro", "dream_limit": "1000"}})
    );

    let update = ProductUpdate {
        name: "Pro (old)".into(),
        metadata: metadata(&[("dream_limit", "2000")]),
        active: false,
        idempotency_key: "prod-update-1".into(),
    };
    billing
        .update_product(&account, &id, &update)
        .await
        .unwrap();
    let request = requests_to(&s, "/v1/products").pop().unwrap();
    assert_eq!(request.path, format!("/v1/products/{id}"));
    assert_eq!(request.idempotency_key.as_deref(), Some("prod-update-1"));
    assert_eq!(
        request.params,
        json!({"name": "Pro (old)", "active": "false", "metadata": {"dream_limit": "2000"}})
    );

    let products = s.objects(CONNECTED_ACCOUNT, ObjectKind::Product);
    assert_eq!(products.len(), 1);
    assert_eq!(products[0]["id"], json!(id));
    assert_eq!(products[0]["name"], json!("Pro (old)"));
    assert_eq!(products[0]["active"], json!(false));
    assert_eq!(
        products[0]["metadata"],
        json!({"dream_tier": "pro", "dream_limit": "2000"})
    );
}

#[tokio::test]
async fn prices_carry_interval_lookup_key_and_metadata_and_can_be_deactivated() {
    let (s, billing) = setup().await;
    let account = connected(Mode::Live);
    let product = billing
        .create_product(&account, &product_spec("prod-live"))
        .await
        .unwrap();
    let first = billing
        .create_price(&account, &price_spec(&product, "price-1"))
        .await
        .unwrap();
    let request = only_request(&s, "/v1/prices");
    assert!(request.livemode);
    assert_eq!(request.stripe_account.as_deref(), Some(CONNECTED_ACCOUNT));
    assert_eq!(request.idempotency_key.as_deref(), Some("price-1"));
    assert_eq!(
        request.params,
        json!({
            "product": product,
            "unit_amount": "1900",
            "currency": "usd",
            "recurring": {"interval": "month"},
            "lookup_key": "plt_1_test_pro",
            "transfer_lookup_key": "true",
            "metadata": {"dream_tier": "pro"},
        })
    );

    // A new price of the tier takes the lookup key over from the previous one.
    let mut yearly = price_spec(&product, "price-2");
    yearly.recurring = Some(Interval::Year);
    yearly.unit_amount = 19000;
    let second = billing.create_price(&account, &yearly).await.unwrap();
    let prices = s.objects(CONNECTED_ACCOUNT, ObjectKind::Price);
    assert_eq!(prices.len(), 2);
    assert_eq!(prices[0]["id"], json!(first));
    assert_eq!(prices[0]["lookup_key"], json!(null));
    assert_eq!(prices[1]["id"], json!(second));
    assert_eq!(prices[1]["lookup_key"], json!("plt_1_test_pro"));
    assert_eq!(prices[1]["recurring"]["interval"], json!("year"));

    // One-off price: no `recurring`, no lookup key.
    let one_off = PriceSpec {
        recurring: None,
        lookup_key: None,
        metadata: Default::default(),
        ..price_spec(&product, "price-3")
    };
    billing.create_price(&account, &one_off).await.unwrap();
    let request = requests_to(&s, "/v1/prices").pop().unwrap();
    assert_eq!(
        request.params,
        json!({"product": product, "unit_amount": "1900", "currency": "usd"})
    );

    billing
        .deactivate_price(&account, &first, "price-1-off")
        .await
        .unwrap();
    let request = requests_to(&s, "/v1/prices").pop().unwrap();
    assert_eq!(request.path, format!("/v1/prices/{first}"));
    assert_eq!(request.idempotency_key.as_deref(), Some("price-1-off"));
    assert_eq!(request.params, json!({"active": "false"}));
    let prices = s.objects(CONNECTED_ACCOUNT, ObjectKind::Price);
    assert_eq!(prices[0]["active"], json!(false));
}

#[tokio::test]
async fn customers_carry_email_name_and_metadata() {
    let (s, billing) = setup().await;
    let spec = CustomerSpec {
        email: Some("ada@example.com".into()),
        name: Some("Ada Lovelace".into()),
        metadata: metadata(&[("dream_customer_id", "usr_1")]),
        idempotency_key: "cus-usr_1".into(),
    };
    let id = billing
        .create_customer(&connected(Mode::Test), &spec)
        .await
        .unwrap();
    assert!(id.starts_with("cus_"), "{id}");
    let request = only_request(&s, "/v1/customers");
    assert_eq!(request.idempotency_key.as_deref(), Some("cus-usr_1"));
    assert_eq!(
        request.params,
        json!({
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "metadata": {"dream_customer_id": "usr_1"},
        })
    );

    // Without email or name only the metadata is sent.
    let bare = CustomerSpec {
        email: None,
        name: None,
        ..spec.clone()
    };
    let bare = CustomerSpec {
        idempotency_key: "cus-usr_2".into(),
        ..bare
    };
    billing
        .create_customer(&connected(Mode::Test), &bare)
        .await
        .unwrap();
    let request = requests_to(&s, "/v1/customers").pop().unwrap();
    assert_eq!(
        request.params,
        json!({"metadata": {"dream_customer_id": "usr_1"}})
    );
    assert_eq!(s.objects(CONNECTED_ACCOUNT, ObjectKind::Customer).len(), 2);
}

#[tokio::test]
async fn same_idempotency_key_gives_one_object() {
    let (s, billing) = setup().await;
    let account = connected(Mode::Test);
    let first = billing
        .create_product(&account, &product_spec("prod-same"))
        .await
        .unwrap();
    let second = billing
        .create_product(&account, &product_spec("prod-same"))
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(s.objects(CONNECTED_ACCOUNT, ObjectKind::Product).len(), 1);
    let requests = requests_to(&s, "/v1/products");
    assert_eq!(requests.len(), 2);
    assert!(!requests[0].replayed);
    assert!(requests[1].replayed);
}

#[tokio::test]
async fn direct_mode_uses_the_developers_key_without_stripe_account() {
    let (s, billing) = setup().await;
    let id = billing
        .create_product(&direct(), &product_spec("prod-direct"))
        .await
        .unwrap();
    let request = only_request(&s, "/v1/products");
    assert_eq!(request.stripe_account, None);
    assert_eq!(request.account.as_deref(), Some(DIRECT_ACCOUNT));
    assert_eq!(request.idempotency_key.as_deref(), Some("prod-direct"));
    let products = s.objects(DIRECT_ACCOUNT, ObjectKind::Product);
    assert_eq!(products.len(), 1);
    assert_eq!(products[0]["id"], json!(id));
    assert!(s.objects(CONNECTED_ACCOUNT, ObjectKind::Product).is_empty());

    // The cached client for the same key is reused, and works again.
    billing
        .create_price(&direct(), &price_spec(&id, "price-direct"))
        .await
        .unwrap();
    assert_eq!(s.objects(DIRECT_ACCOUNT, ObjectKind::Price).len(), 1);
}
