//! The checks the stand-in makes the way Stripe does.

// Test code: unwrapping is the assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::{get, post, price, standin};
use dream_stripe_standin::{
    Failure, ObjectKind, AUTHORIZE_ACCOUNT, CLIENT_ID, CONNECTED_ACCOUNT, DIRECT_ACCOUNT,
    LIVE_PLATFORM_KEY, PLATFORM_ACCOUNT, TEST_DIRECT_KEY, TEST_PLATFORM_KEY,
};
use serde_json::json;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn unknown_parameters_are_rejected_by_name() {
    let s = standin().await;
    let a = post("/v1/products", "name=Pro&colour=red").send(&s).await;
    a.assert_error(400, "invalid_request_error", Some("colour"));
    assert_eq!(a.error_message(), "Received unknown parameter: colour");
    assert_eq!(a.error_code(), "parameter_unknown");

    let product = post("/v1/products", "name=Pro").send(&s).await.id();
    let a = post(
        "/v1/prices",
        &format!("product={product}&currency=usd&unit_amount=5&recurring[interval]=month&recurring[every]=2"),
    )
    .send(&s)
    .await;
    a.assert_error(400, "invalid_request_error", Some("recurring[every]"));
    assert_eq!(
        a.error_message(),
        "Received unknown parameter: recurring[every]"
    );

    let a = get("/v1/products?colour=red").send(&s).await;
    a.assert_error(400, "invalid_request_error", Some("colour"));
    assert!(s.objects(CONNECTED_ACCOUNT, ObjectKind::Price).is_empty());
}

#[tokio::test]
async fn missing_and_mistyped_parameters_are_named() {
    let s = standin().await;
    let a = post("/v1/products", "description=x").send(&s).await;
    a.assert_error(400, "invalid_request_error", Some("name"));
    assert_eq!(a.error_message(), "Missing required param: name.");

    let product = post("/v1/products", "name=Pro").send(&s).await.id();
    let cases = [
        (format!("product={product}&unit_amount=5"), "currency"),
        ("currency=usd&unit_amount=5".to_owned(), "product"),
        (format!("product={product}&currency=usd&unit_amount=abc"), "unit_amount"),
        (format!("product={product}&currency=usd&unit_amount=-1"), "unit_amount"),
        (format!("product={product}&currency=usd&unit_amount=5&active=maybe"), "active"),
        (
            format!("product={product}&currency=usd&unit_amount=5&recurring[interval]=fortnight"),
            "recurring[interval]",
        ),
        (
            format!("product={product}&currency=usd&unit_amount=5&recurring[interval_count]=2"),
            "recurring[interval]",
        ),
        (
            format!("product={product}&currency=usd&unit_amount=5&recurring[interval]=month&recurring[interval_count]=13"),
            "recurring[interval_count]",
        ),
        (format!("product={product}&currency=xyz&unit_amount=5"), "currency"),
        ("product=prod_nope&currency=usd&unit_amount=5".to_owned(), "product"),
    ];
    for (body, param) in cases {
        let a = post("/v1/prices", &body).send(&s).await;
        a.assert_error(400, "invalid_request_error", Some(param));
    }
    let a = post(
        "/v1/prices",
        &format!("product={product}&currency=usd&unit_amount=abc"),
    )
    .send(&s)
    .await;
    assert_eq!(a.error_message(), "Invalid integer: abc");
    assert!(s.objects(CONNECTED_ACCOUNT, ObjectKind::Price).is_empty());

    let a = post("/v1/customers", "email=not-an-email").send(&s).await;
    a.assert_error(400, "invalid_request_error", Some("email"));
}

#[tokio::test]
async fn bad_keys_get_401_without_echoing_the_key() {
    let s = standin().await;
    let key = "sk_test_thisisnotarealkey0000001234";
    let a = post("/v1/products", "name=Pro")
        .key(Some(key))
        .send(&s)
        .await;
    a.assert_error(401, "invalid_request_error", None);
    assert!(a
        .error_message()
        .starts_with("Invalid API Key provided: sk_test_"));
    assert!(a.error_message().ends_with("1234"));
    assert!(!a.text.contains(key));
    assert!(!a.text.contains("thisisnotarealkey"));

    let a = post("/v1/products", "name=Pro").key(None).send(&s).await;
    a.assert_error(401, "invalid_request_error", None);
    assert!(a
        .error_message()
        .starts_with("You did not provide an API key"));

    let recorded = s.requests();
    assert_eq!(recorded.len(), 2);
    assert!(recorded
        .iter()
        .all(|r| r.status == 401 && r.account.is_none()));
    assert!(s.objects(CONNECTED_ACCOUNT, ObjectKind::Product).is_empty());
}

#[tokio::test]
async fn stripe_account_must_be_reachable_by_the_key() {
    let s = standin().await;
    let a = post("/v1/products", "name=Pro")
        .account(Some("acct_stranger"))
        .send(&s)
        .await;
    a.assert_error(403, "invalid_request_error", None);
    assert_eq!(a.error_code(), "account_invalid");
    assert!(a
        .error_message()
        .contains("does not have access to account 'acct_stranger'"));
    assert!(!a.text.contains(TEST_PLATFORM_KEY));

    // A direct key acts on its own account, and on no other.
    let a = post("/v1/products", "name=Direct")
        .key(Some(TEST_DIRECT_KEY))
        .account(None)
        .send(&s)
        .await;
    a.ok();
    assert_eq!(s.objects(DIRECT_ACCOUNT, ObjectKind::Product).len(), 1);
    let a = post("/v1/products", "name=Direct")
        .key(Some(TEST_DIRECT_KEY))
        .account(Some(CONNECTED_ACCOUNT))
        .send(&s)
        .await;
    a.assert_error(403, "invalid_request_error", None);

    // A platform key without Stripe-Account works on the platform's own account: recorded.
    post("/v1/products", "name=Own")
        .account(None)
        .send(&s)
        .await
        .ok();
    assert_eq!(s.objects(PLATFORM_ACCOUNT, ObjectKind::Product).len(), 1);
    let last = s.requests().pop().unwrap();
    assert_eq!(last.account.as_deref(), Some(PLATFORM_ACCOUNT));
    assert_eq!(last.stripe_account, None);

    // Accounts added later are reachable.
    s.add_connected_account("acct_later");
    post("/v1/products", "name=Later")
        .account(Some("acct_later"))
        .send(&s)
        .await
        .ok();
}

#[tokio::test]
async fn objects_are_kept_per_mode_and_account() {
    let s = standin().await;
    let test_id = post("/v1/products", "name=Test").send(&s).await.id();
    let live = post("/v1/products", "name=Live")
        .key(Some(LIVE_PLATFORM_KEY))
        .send(&s)
        .await;
    assert_eq!(live.ok()["livemode"], true);
    get(&format!("/v1/products/{test_id}"))
        .key(Some(LIVE_PLATFORM_KEY))
        .send(&s)
        .await
        .assert_error(404, "invalid_request_error", Some("id"));
    get(&format!("/v1/products/{test_id}"))
        .account(None)
        .send(&s)
        .await
        .assert_error(404, "invalid_request_error", Some("id"));
    let names: Vec<_> = s
        .objects(CONNECTED_ACCOUNT, ObjectKind::Product)
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Test", "Live"]);
}

#[tokio::test]
async fn idempotent_requests_replay_and_reject_changed_parameters() {
    let s = standin().await;
    let first = post("/v1/products", "name=Pro&metadata[dream_tier]=pro")
        .idempotency_key("key-1")
        .send(&s)
        .await;
    first.ok();
    let again = post("/v1/products", "metadata[dream_tier]=pro&name=Pro")
        .idempotency_key("key-1")
        .send(&s)
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.text, first.text);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(first.header("Idempotent-Replayed"), None);
    assert_eq!(s.objects(CONNECTED_ACCOUNT, ObjectKind::Product).len(), 1);

    let changed = post("/v1/products", "name=Other")
        .idempotency_key("key-1")
        .send(&s)
        .await;
    changed.assert_error(400, "idempotency_error", None);
    let elsewhere = post("/v1/prices", "name=Pro&metadata[dream_tier]=pro")
        .idempotency_key("key-1")
        .send(&s)
        .await;
    elsewhere.assert_error(400, "idempotency_error", None);

    // The same key on another account is another request.
    post("/v1/products", "name=Pro&metadata[dream_tier]=pro")
        .idempotency_key("key-1")
        .account(None)
        .send(&s)
        .await
        .ok();
    assert_eq!(s.objects(PLATFORM_ACCOUNT, ObjectKind::Product).len(), 1);

    // A POST without a key is recorded as such.
    post("/v1/products", "name=NoKey").send(&s).await.ok();
    let recorded = s.requests();
    let keys: Vec<_> = recorded
        .iter()
        .map(|r| (r.idempotency_key.as_deref(), r.replayed, r.status))
        .collect();
    assert_eq!(
        keys,
        [
            (Some("key-1"), false, 200),
            (Some("key-1"), true, 200),
            (Some("key-1"), false, 400),
            (Some("key-1"), false, 400),
            (Some("key-1"), false, 200),
            (None, false, 200),
        ]
    );
    assert_eq!(
        recorded[0].params,
        json!({"name": "Pro", "metadata": {"dream_tier": "pro"}})
    );
}

#[tokio::test]
async fn lookup_keys_are_unique_unless_transferred() {
    let s = standin().await;
    let first = price(&s, "lookup_key=pro_monthly&recurring[interval]=month").await;
    let product = post("/v1/products", "name=Pro2").send(&s).await.id();
    let body = format!(
        "product={product}&currency=usd&unit_amount=1000&recurring[interval]=month&lookup_key=pro_monthly"
    );
    let a = post("/v1/prices", &body).send(&s).await;
    a.assert_error(400, "invalid_request_error", Some("lookup_key"));
    assert!(a.error_message().contains(&first));
    assert_eq!(s.objects(CONNECTED_ACCOUNT, ObjectKind::Price).len(), 1);

    // The product belongs to the connected account: the platform's own account cannot see it.
    post("/v1/prices", &body)
        .account(None)
        .send(&s)
        .await
        .assert_error(400, "invalid_request_error", Some("product"));

    let second = post("/v1/prices", &format!("{body}&transfer_lookup_key=true"))
        .send(&s)
        .await;
    assert_eq!(second.ok()["lookup_key"], "pro_monthly");
    let old = get(&format!("/v1/prices/{first}")).send(&s).await;
    assert_eq!(old.ok()["lookup_key"], serde_json::Value::Null);

    let listed = get("/v1/prices?lookup_keys[]=pro_monthly").send(&s).await;
    let data = listed.ok()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], second.json["id"]);

    // Update: taking a key needs the transfer flag too.
    let update = post(&format!("/v1/prices/{first}"), "lookup_key=pro_monthly")
        .send(&s)
        .await;
    update.assert_error(400, "invalid_request_error", Some("lookup_key"));
    post(
        &format!("/v1/prices/{first}"),
        "lookup_key=pro_monthly&transfer_lookup_key=true&active=false",
    )
    .send(&s)
    .await
    .ok();
    let prices = s.objects(CONNECTED_ACCOUNT, ObjectKind::Price);
    assert_eq!(prices[0]["lookup_key"], "pro_monthly");
    assert_eq!(prices[0]["active"], false);
    assert_eq!(prices[1]["lookup_key"], serde_json::Value::Null);
}

#[tokio::test]
async fn product_updates_merge_metadata_and_refuse_an_empty_name() {
    let s = standin().await;
    let id = post("/v1/products", "name=Pro&metadata[a]=1&metadata[b]=2")
        .send(&s)
        .await
        .id();
    let a = post(
        &format!("/v1/products/{id}"),
        "metadata[a]=&metadata[c]=3&active=false",
    )
    .send(&s)
    .await;
    assert_eq!(a.ok()["metadata"], json!({"b": "2", "c": "3"}));
    assert_eq!(a.json["active"], false);
    post(&format!("/v1/products/{id}"), "name=")
        .send(&s)
        .await
        .assert_error(400, "invalid_request_error", Some("name"));
    post("/v1/products/prod_nope", "name=x")
        .send(&s)
        .await
        .assert_error(404, "invalid_request_error", Some("id"));
    let stored = &s.objects(CONNECTED_ACCOUNT, ObjectKind::Product)[0];
    assert_eq!(stored["metadata"], json!({"b": "2", "c": "3"}));
    assert_eq!(stored["name"], "Pro");
    let a = post("/v1/products/prod_nope/extra", "").send(&s).await;
    a.assert_error(404, "invalid_request_error", None);
    assert!(a
        .error_message()
        .starts_with("Unrecognized request URL (POST: /v1/products/prod_nope/extra)"));
}

#[tokio::test]
async fn checkout_sessions_are_checked_like_stripe() {
    let s = standin().await;
    let monthly = price(&s, "recurring[interval]=month").await;
    let yearly = price(&s, "recurring[interval]=year").await;
    let one_off = price(&s, "").await;
    let inactive = price(&s, "active=false").await;
    let customer = post("/v1/customers", "email=a@example.com")
        .send(&s)
        .await
        .id();
    let ok = "https://app.example.com/ok";
    let sub = |extra: &str| {
        format!("mode=subscription&success_url={ok}&line_items[0][price]={monthly}&line_items[0][quantity]=1{extra}")
    };
    let pay = |extra: &str| {
        format!("mode=payment&success_url={ok}&line_items[0][price]={one_off}&line_items[0][quantity]=3{extra}")
    };
    let cases = [
        (sub("&mode=foo"), "mode"),
        ("success_url=https://x.example/ok".to_owned(), "mode"),
        (format!("mode=payment&success_url={ok}&line_items[0][price]={monthly}&line_items[0][quantity]=1"), "line_items[0][price]"),
        (format!("mode=subscription&success_url={ok}&line_items[0][price]={one_off}&line_items[0][quantity]=1"), "line_items"),
        (format!("mode=payment&success_url={ok}&line_items[0][price]={inactive}&line_items[0][quantity]=1"), "line_items[0][price]"),
        (format!("mode=payment&success_url={ok}&line_items[0][price]=price_nope&line_items[0][quantity]=1"), "line_items[0][price]"),
        (format!("mode=payment&success_url={ok}&line_items[0][price]={one_off}"), "line_items[0][quantity]"),
        (format!("mode=payment&success_url={ok}&line_items[0][price]={one_off}&line_items[0][quantity]=x"), "line_items[0][quantity]"),
        (format!("mode=payment&success_url={ok}"), "line_items"),
        (format!("mode=subscription&success_url={ok}&line_items[0][price]={monthly}&line_items[0][quantity]=1&line_items[1][price]={yearly}&line_items[1][quantity]=1"), "line_items"),
        (sub(&format!("&customer={customer}&customer_email=a@example.com")), "customer_email"),
        (sub("&customer=cus_nope"), "customer"),
        (sub("&payment_intent_data[metadata][a]=1"), "payment_intent_data"),
        (pay("&subscription_data[metadata][a]=1"), "subscription_data"),
        (sub("&subscription_data[colour]=red"), "subscription_data[colour]"),
        (format!("mode=payment&line_items[0][price]={one_off}&line_items[0][quantity]=1"), "success_url"),
        (pay("").replace(ok, "/relative/ok"), "success_url"),
        (pay("&cancel_url=nope"), "cancel_url"),
        (pay(&format!("&expires_at={}", now() + 60)), "expires_at"),
        (pay(&format!("&expires_at={}", now() + 25 * 3600)), "expires_at"),
        (pay("&expires_at=soon"), "expires_at"),
        (pay("&ui_mode=embedded_page"), "success_url"),
        (pay("&customer_email=nope"), "customer_email"),
    ];
    for (body, param) in cases {
        let a = post("/v1/checkout/sessions", &body).send(&s).await;
        assert_eq!(a.status, 400, "{body} → {}", a.text);
        assert_eq!(a.error_param(), param, "{body} → {}", a.text);
    }
    assert!(s
        .objects(CONNECTED_ACCOUNT, ObjectKind::CheckoutSession)
        .is_empty());

    let a = post(
        "/v1/checkout/sessions",
        &pay(&format!(
            "&customer={customer}&metadata[dream]=1&client_reference_id=ref&expires_at={}",
            now() + 3600
        )),
    )
    .send(&s)
    .await;
    let session = a.ok();
    assert_eq!(session["amount_total"], 2700);
    assert_eq!(session["currency"], "usd");
    assert_eq!(session["customer"], customer.as_str());
    assert_eq!(session["status"], "open");
    assert_eq!(session["payment_status"], "unpaid");
    assert_eq!(session["metadata"], json!({"dream": "1"}));
    assert!(session["url"]
        .as_str()
        .unwrap()
        .starts_with("https://checkout.stripe.com/c/pay/cs_test_"));

    // One-off prices may ride along in subscription mode.
    let body = format!(
        "{}&line_items[1][price]={one_off}&line_items[1][quantity]=1",
        sub("")
    );
    let a = post("/v1/checkout/sessions", &body).send(&s).await;
    assert_eq!(a.ok()["amount_total"], 1800);

    // Expiring through the API.
    let id = a.id();
    let expired = post(&format!("/v1/checkout/sessions/{id}/expire"), "")
        .send(&s)
        .await;
    assert_eq!(expired.ok()["status"], "expired");
    post(&format!("/v1/checkout/sessions/{id}/expire"), "")
        .send(&s)
        .await
        .assert_error(400, "invalid_request_error", None);
    assert!(!s.expire_checkout_session(CONNECTED_ACCOUNT, &id));
    let sessions = s.objects(CONNECTED_ACCOUNT, ObjectKind::CheckoutSession);
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[1]["status"], "expired");
}

#[tokio::test]
async fn portal_sessions_need_an_existing_customer() {
    let s = standin().await;
    post(
        "/v1/billing_portal/sessions",
        "return_url=https://app.example.com",
    )
    .send(&s)
    .await
    .assert_error(400, "invalid_request_error", Some("customer"));
    post("/v1/billing_portal/sessions", "customer=cus_nope")
        .send(&s)
        .await
        .assert_error(400, "invalid_request_error", Some("customer"));
    let customer = post("/v1/customers", "name=Dev").send(&s).await.id();
    let a = post(
        "/v1/billing_portal/sessions",
        &format!("customer={customer}"),
    )
    .send(&s)
    .await;
    assert_eq!(a.ok()["customer"], customer.as_str());
    let again = post(
        "/v1/billing_portal/sessions",
        &format!("customer={customer}"),
    )
    .send(&s)
    .await;
    assert_eq!(again.ok()["configuration"], a.json["configuration"]);
    assert_ne!(again.json["url"], a.json["url"]);
}

#[tokio::test]
async fn injected_failures_come_in_order_and_are_not_stored() {
    let s = standin().await;
    s.fail_next(
        "/v1/products",
        vec![
            Failure::RateLimited,
            Failure::ServerError,
            Failure::CardDeclined,
            Failure::InvalidRequest("nope".to_owned()),
        ],
    );
    // Other paths are unaffected.
    post("/v1/customers", "name=x").send(&s).await.ok();

    let send = || {
        post("/v1/products", "name=Pro")
            .idempotency_key("retry-1")
            .send(&s)
    };
    let a = send().await;
    a.assert_error(429, "invalid_request_error", None);
    assert_eq!(a.error_code(), "rate_limit");
    assert_eq!(a.header("Stripe-Should-Retry"), Some("true"));
    send().await.assert_error(500, "api_error", None);
    let a = send().await;
    a.assert_error(402, "card_error", None);
    assert_eq!(a.error_code(), "card_declined");
    let a = send().await;
    a.assert_error(400, "invalid_request_error", None);
    assert_eq!(a.error_message(), "nope");
    let ok = send().await;
    ok.ok();
    let replay = send().await;
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(replay.text, ok.text);
    assert_eq!(s.objects(CONNECTED_ACCOUNT, ObjectKind::Product).len(), 1);
    let statuses: Vec<u16> = s.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 429, 500, 402, 400, 200, 200]);
}

#[tokio::test]
async fn oauth_codes_are_single_use_and_connect_the_account() {
    let s = standin().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = |query: String| {
        let url = format!("{}/oauth/authorize?{query}", s.connect_base_url());
        http.get(url).send()
    };

    let a = authorize(format!(
        "response_type=code&client_id={CLIENT_ID}&scope=read_write&state=st4te&redirect_uri=https://app.example.com/cb"
    ))
    .await
    .unwrap();
    assert_eq!(a.status(), 302);
    let location = a.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://app.example.com/cb?code=ac_"),
        "{location}"
    );
    assert!(
        location.ends_with("&scope=read_write&state=st4te"),
        "{location}"
    );
    let code = location
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="))
        .unwrap()
        .to_owned();

    for (query, status) in [
        ("response_type=code&client_id=ca_other&scope=read_write&redirect_uri=https://a.example/cb".to_owned(), 400),
        (format!("response_type=code&client_id={CLIENT_ID}&scope=read_write"), 400),
    ] {
        assert_eq!(authorize(query).await.unwrap().status(), status);
    }
    let bad_scope = authorize(format!(
        "response_type=code&client_id={CLIENT_ID}&scope=everything&redirect_uri=https://a.example/cb&state=s"
    ))
    .await
    .unwrap();
    assert_eq!(bad_scope.status(), 302);
    assert!(bad_scope.headers()["location"]
        .to_str()
        .unwrap()
        .contains("error=invalid_scope"));

    // The account is not connected before the exchange.
    post("/v1/products", "name=x")
        .account(Some(AUTHORIZE_ACCOUNT))
        .send(&s)
        .await
        .assert_error(403, "invalid_request_error", None);

    let token = |code: String, key: &'static str| {
        http.post(format!("{}/oauth/token", s.connect_base_url()))
            .bearer_auth(key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=authorization_code&code={code}"))
            .send()
    };
    let a = token(code.clone(), TEST_PLATFORM_KEY).await.unwrap();
    assert_eq!(a.status(), 200);
    let body: serde_json::Value = a.json().await.unwrap();
    assert_eq!(body["stripe_user_id"], AUTHORIZE_ACCOUNT);
    assert_eq!(body["livemode"], false);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "read_write");
    assert!(body["access_token"]
        .as_str()
        .unwrap()
        .starts_with("sk_test_"));
    assert!(body["refresh_token"].as_str().unwrap().starts_with("rt_"));
    assert!(body["stripe_publishable_key"]
        .as_str()
        .unwrap()
        .starts_with("pk_test_"));

    let again = token(code, TEST_PLATFORM_KEY).await.unwrap();
    assert_eq!(again.status(), 400);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let unknown = token("ac_nope".to_owned(), TEST_PLATFORM_KEY)
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let live_code = s.issue_oauth_code("acct_live1", true);
    let wrong_mode = token(live_code.clone(), TEST_PLATFORM_KEY).await.unwrap();
    assert_eq!(wrong_mode.status(), 400);
    let bad_key = token(live_code.clone(), "sk_live_nope_000000000000000000")
        .await
        .unwrap();
    assert_eq!(bad_key.status(), 401);
    assert_eq!(
        token(live_code, LIVE_PLATFORM_KEY).await.unwrap().status(),
        200
    );

    // The exchange connected the account.
    post("/v1/products", "name=x")
        .account(Some(AUTHORIZE_ACCOUNT))
        .send(&s)
        .await
        .ok();
    let oauth: Vec<_> = s
        .requests()
        .into_iter()
        .filter(|r| r.path == "/oauth/token")
        .map(|r| r.status)
        .collect();
    assert_eq!(oauth, [200, 400, 400, 400, 401, 200]);

    // client_secret works instead of the header.
    let code = s.issue_oauth_code("acct_other", false);
    let a = http
        .post(format!("{}/oauth/token", s.connect_base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&code={code}&client_secret={TEST_PLATFORM_KEY}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
}

#[tokio::test]
async fn denied_authorization_redirects_with_an_error() {
    let s = standin().await;
    s.deny_next_authorize();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let a = http
        .get(format!(
            "{}/oauth/authorize?response_type=code&client_id={CLIENT_ID}&scope=read_write&state=s1&redirect_uri=https://app.example.com/cb",
            s.connect_base_url()
        ))
        .send()
        .await
        .unwrap();
    let location = a.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=access_denied"), "{location}");
    assert!(location.ends_with("state=s1"), "{location}");
}

#[test]
fn a_detached_standin_answers_while_the_caller_blocks() {
    use std::io::{Read, Write};

    let s = dream_stripe_standin::StandIn::start_detached(
        dream_stripe_standin::StandInConfig::test_default(),
    )
    .unwrap();
    let addr = s.base_url().trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let body = "name=Blocking";
    write!(
        stream,
        "POST /v1/products HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TEST_PLATFORM_KEY}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("request-id: req_"),
        "{answer}"
    );
    assert_eq!(s.objects(PLATFORM_ACCOUNT, ObjectKind::Product).len(), 1);
    drop(s);
    // Stopped: new connections are refused (give the runtime a moment to shut the listener).
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(std::net::TcpStream::connect(&addr).is_err());
}
