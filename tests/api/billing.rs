//! Stripe billing end to end: the real server and the real `dream-stripe` adapter
//! against the local Stripe stand-in, which checks requests the way Stripe does.

use dream_stripe_standin::{
    Failure, ObjectKind, StandIn, StandInConfig, AUTHORIZE_ACCOUNT, CLIENT_ID, DIRECT_ACCOUNT,
    TEST_DIRECT_KEY, TEST_PLATFORM_KEY,
};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{creds, Creds, TestServer};

const DASHBOARD: &str = "https://dashboard.example/billing";
const SUCCESS: &str = "https://app.example/success";
const CANCEL: &str = "https://app.example/cancel";

/// A stand-in and a server billing through it.
pub struct Billing {
    pub stripe: StandIn,
    pub server: TestServer,
    /// Follows no redirects, so each hop can be checked.
    pub browser: reqwest::Client,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Billing {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// With extra settings, as environment variables would give them.
    pub async fn start_with(extra: &[(&str, &str)]) -> Self {
        let stripe = StandIn::start(StandInConfig::test_default())
            .await
            .expect("stand-in starts");
        let port = free_port();
        let mut env: Vec<(String, String)> = vec![
            ("STRIPE_SECRET_KEY".into(), TEST_PLATFORM_KEY.into()),
            ("STRIPE_CLIENT_ID".into(), CLIENT_ID.into()),
            ("STRIPE_API_BASE".into(), stripe.base_url()),
            ("STRIPE_CONNECT_BASE".into(), stripe.connect_base_url()),
            (
                "DREAM_PUBLIC_URL".into(),
                format!("http://127.0.0.1:{port}"),
            ),
            ("DREAM_DASHBOARD_URL".into(), DASHBOARD.into()),
            ("DREAM_CHECKOUT_SUCCESS_URL".into(), SUCCESS.into()),
            ("DREAM_CHECKOUT_CANCEL_URL".into(), CANCEL.into()),
        ];
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            env.push(((*k).into(), (*v).into()));
        }
        let server = TestServer::start_with(|config| {
            config.addr = format!("127.0.0.1:{port}").parse().expect("addr");
            config
                .apply_env(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                .expect("billing config");
        })
        .await;
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            stripe,
            server,
            browser,
        }
    }

    pub fn admin(&self) -> String {
        self.server.admin_token.clone()
    }

    /// `POST /admin/platforms`: a platform without tiers.
    pub async fn platform(&self) -> String {
        let reply = self
            .server
            .post("/admin/platforms", &self.admin(), json!({ "name": "shop" }))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json["id"].as_str().expect("id").to_owned()
    }

    /// Connect onboarding the way a browser does it: `/authorize` → Stripe's
    /// authorize page (the stand-in approves) → `/callback` → the dashboard.
    /// Returns the callback URL (for replay tests).
    pub async fn connect(&self, platform_id: &str, mode: &str) -> String {
        let authorize = self
            .browser
            .get(format!(
                "{}/authorize?platformId={platform_id}&mode={mode}",
                self.server.base
            ))
            .bearer_auth(self.admin())
            .send()
            .await
            .expect("authorize");
        assert_eq!(authorize.status(), 302, "{:?}", authorize.text().await);
        let stripe_url = location(&authorize);
        assert!(
            stripe_url.starts_with(&format!(
                "{}/oauth/authorize?",
                self.stripe.connect_base_url()
            )),
            "{stripe_url}"
        );
        assert!(stripe_url.contains("client_id=ca_standin"), "{stripe_url}");
        assert!(stripe_url.contains("scope=read_write"), "{stripe_url}");

        let approved = self.browser.get(&stripe_url).send().await.expect("stripe");
        assert_eq!(approved.status(), 302);
        let callback = location(&approved);
        assert!(
            callback.starts_with(&format!("{}/callback?", self.server.base)),
            "{callback}"
        );
        let done = self.browser.get(&callback).send().await.expect("callback");
        assert_eq!(done.status(), 302);
        assert_eq!(
            location(&done),
            format!("{DASHBOARD}?stripe=connected&platformId={platform_id}&mode={mode}")
        );
        callback
    }

    /// `/create-products` for `platform_id` with `tiers`.
    pub async fn create_products(&self, platform_id: &str, mode: &str, tiers: Value) -> Value {
        let reply = self
            .server
            .create_products(json!({ "platformId": platform_id, "mode": mode, "tiers": tiers }))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json
    }

    /// A connected test-mode platform with the seed's tiers and a ticket with
    /// `inventory` units; its credentials and the ticket's price id.
    pub async fn shop(&self, inventory: u64) -> (Creds, String) {
        let platform_id = self.platform().await;
        self.connect(&platform_id, "test").await;
        let body = self
            .create_products(&platform_id, "test", shop_tiers(29, inventory))
            .await;
        let ticket = price_of(&body, "ticket");
        (creds(&body), ticket)
    }

    pub async fn cart(&self, sk: &str, price_id: &str, quantity: u64) -> crate::support::Reply {
        self.server
            .post(
                "/api/cart/checkout",
                sk,
                json!({
                    "email": "buyer@example.com",
                    "items": [{ "priceId": price_id, "quantity": quantity }],
                    "successUrl": "https://shop.example/thanks",
                    "cancelUrl": "https://shop.example/cart"
                }),
            )
            .await
    }

    pub fn objects(&self, account: &str, kind: ObjectKind) -> Vec<Value> {
        self.stripe.objects(account, kind)
    }
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location header")
        .to_owned()
}

/// The seed's tiers plus a one-off ticket.
pub fn shop_tiers(pro_price: u64, inventory: u64) -> Value {
    json!([
        { "name": "free", "price": 0, "limit": 2 },
        { "name": "pro", "displayName": "Pro", "price": pro_price, "limit": 10, "features": ["priority"] },
        { "name": "enterprise", "price": 99 },
        { "name": "ticket", "displayName": "Conference ticket", "type": "one_time", "price": 15, "inventory": inventory }
    ])
}

pub fn price_of(body: &Value, tier: &str) -> String {
    body["priceIds"]
        .as_array()
        .expect("priceIds")
        .iter()
        .find(|p| p["tier"] == tier)
        .and_then(|p| p["priceId"].as_str())
        .unwrap_or_else(|| panic!("no price for {tier}: {body}"))
        .to_owned()
}

fn active(objects: &[Value]) -> Vec<&Value> {
    objects.iter().filter(|o| o["active"] == true).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flow_connect_sync_checkout_portal_products_cart() {
    let b = Billing::start().await;
    let platform_id = b.platform().await;

    // Connect: the account the browser logged into is recorded, and the state is spent.
    let callback = b.connect(&platform_id, "test").await;
    let replay = b.browser.get(&callback).send().await.expect("replay");
    assert_eq!(replay.status(), 400, "a state must work once");
    let connection = b
        .server
        .get(
            &format!("/admin/platforms/{platform_id}/stripe?mode=test"),
            &b.admin(),
        )
        .await;
    assert_eq!(connection.json["connected"], true, "{}", connection.text);
    assert_eq!(connection.json["type"], "connect");
    assert_eq!(connection.json["accountId"], AUTHORIZE_ACCOUNT);
    let live = b
        .server
        .get(
            &format!("/admin/platforms/{platform_id}/stripe?mode=live"),
            &b.admin(),
        )
        .await;
    assert_eq!(live.json["connected"], false, "test and live are separate");

    // Tier sync: products and prices on the connected account, free tier without.
    let first = b
        .create_products(&platform_id, "test", shop_tiers(29, 1))
        .await;
    let sk = first["secretKey"].as_str().expect("first keys").to_owned();
    let pk = first["publishableKey"].as_str().expect("pk").to_owned();
    let free = first["priceIds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["tier"] == "free")
        .cloned()
        .expect("free listed");
    assert_eq!(free["priceId"], Value::Null, "free tiers need no price");
    let pro_price = price_of(&first, "pro");
    let ticket_price = price_of(&first, "ticket");
    assert!(pro_price.starts_with("price_"));
    let products = b.objects(AUTHORIZE_ACCOUNT, ObjectKind::Product);
    let prices = b.objects(AUTHORIZE_ACCOUNT, ObjectKind::Price);
    assert_eq!(products.len(), 3, "pro, enterprise, ticket: {products:?}");
    assert_eq!(prices.len(), 3);
    let pro_product = products
        .iter()
        .find(|p| p["metadata"]["dream_tier"] == "pro")
        .expect("pro product");
    assert_eq!(pro_product["name"], "Pro");
    assert_eq!(pro_product["metadata"]["dream_limit"], "10");
    assert_eq!(
        pro_product["metadata"]["dream_platform_id"],
        platform_id.as_str()
    );
    let pro = prices
        .iter()
        .find(|p| p["id"] == pro_price.as_str())
        .unwrap();
    assert_eq!(pro["unit_amount"], 2900);
    assert_eq!(pro["recurring"]["interval"], "month");
    let ticket = prices
        .iter()
        .find(|p| p["id"] == ticket_price.as_str())
        .unwrap();
    assert_eq!(ticket["type"], "one_time");
    assert_eq!(ticket["unit_amount"], 1500);
    assert!(
        b.stripe
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.starts_with("/v1/"))
            .all(|r| r.idempotency_key.is_some()
                && r.stripe_account.as_deref() == Some(AUTHORIZE_ACCOUNT)),
        "every mutating call carries an idempotency key and Stripe-Account"
    );

    // Running it again creates nothing and reports the same ids.
    let again = b
        .create_products(&platform_id, "test", shop_tiers(29, 1))
        .await;
    assert_eq!(again["priceIds"], first["priceIds"]);
    assert!(again.get("secretKey").is_none(), "a secret is shown once");
    assert_eq!(b.objects(AUTHORIZE_ACCOUNT, ObjectKind::Product).len(), 3);
    assert_eq!(b.objects(AUTHORIZE_ACCOUNT, ObjectKind::Price).len(), 3);

    // Customer → subscription checkout → portal, one Stripe customer.
    let customer = b
        .server
        .customer(
            &sk,
            json!({ "email": "sharon@example.com", "firstName": "Sharon", "plan": "free" }),
        )
        .await;
    let checkout = b
        .server
        .send(
            Method::POST,
            "/api/create-checkout",
            Some(&sk),
            &[("X-User-Id", &customer)],
            Some(json!({ "tier": "pro" })),
        )
        .await;
    assert_eq!(checkout.status, 200, "{}", checkout.text);
    assert!(checkout.json["url"]
        .as_str()
        .unwrap()
        .starts_with("https://checkout.stripe.com/"));
    let sessions = b.objects(AUTHORIZE_ACCOUNT, ObjectKind::CheckoutSession);
    let session = sessions
        .iter()
        .find(|s| s["id"] == checkout.json["sessionId"])
        .expect("session on the connected account");
    assert_eq!(session["mode"], "subscription");
    assert_eq!(session["success_url"], SUCCESS, "server default applies");
    assert_eq!(session["metadata"]["dream_customer_id"], customer.as_str());
    assert_eq!(session["metadata"]["dream_tier"], "pro");
    assert_eq!(session["client_reference_id"], customer.as_str());
    let stripe_customers = b.objects(AUTHORIZE_ACCOUNT, ObjectKind::Customer);
    assert_eq!(stripe_customers.len(), 1);
    assert_eq!(session["customer"], stripe_customers[0]["id"]);
    assert_eq!(stripe_customers[0]["email"], "sharon@example.com");

    let portal = b
        .server
        .send(
            Method::POST,
            "/api/customer-portal",
            Some(&sk),
            &[("X-User-Id", &customer)],
            None,
        )
        .await;
    assert_eq!(portal.status, 200, "{}", portal.text);
    assert!(portal.json["url"]
        .as_str()
        .unwrap()
        .starts_with("https://billing.stripe.com/"));
    assert_eq!(
        b.objects(AUTHORIZE_ACCOUNT, ObjectKind::Customer).len(),
        1,
        "the Stripe customer is reused"
    );

    // Products with stock, a cart for the last unit, then sold out.
    let listed = b.server.get("/api/products", &pk).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let product = &listed.json["products"][0];
    assert_eq!(product["name"], "ticket");
    assert_eq!(product["priceId"], ticket_price.as_str());
    assert_eq!(product["available"], 1);
    assert_eq!(product["soldOut"], false);

    let cart = b.cart(&sk, &ticket_price, 1).await;
    assert_eq!(cart.status, 200, "{}", cart.text);
    assert!(cart.json["reservationId"]
        .as_str()
        .unwrap()
        .starts_with("res_"));
    let sessions = b.objects(AUTHORIZE_ACCOUNT, ObjectKind::CheckoutSession);
    let cart_session = sessions
        .iter()
        .find(|s| s["id"] == cart.json["sessionId"])
        .unwrap();
    assert_eq!(cart_session["mode"], "payment");
    assert_eq!(cart_session["customer_email"], "buyer@example.com");
    assert_eq!(
        cart_session["metadata"]["dream_reservation_id"],
        cart.json["reservationId"]
    );
    let listed = b.server.get("/api/products", &pk).await;
    assert_eq!(listed.json["products"][0]["soldOut"], true);
    assert_eq!(listed.json["products"][0]["reserved"], 1);
    b.cart(&sk, &ticket_price, 1)
        .await
        .assert_error(409, "sold_out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_changes_make_new_prices_and_removed_tiers_are_archived() {
    let b = Billing::start().await;
    let (creds, _) = b.shop(5).await;
    let platform_id = creds.platform_id.clone();
    let before = b.objects(AUTHORIZE_ACCOUNT, ObjectKind::Price);
    let old_pro = before.iter().find(|p| p["unit_amount"] == 2900).unwrap()["id"].clone();

    let body = b
        .create_products(&platform_id, "test", shop_tiers(39, 5))
        .await;
    let new_pro = price_of(&body, "pro");
    assert_ne!(
        Value::from(new_pro.clone()),
        old_pro,
        "prices are immutable"
    );
    let prices = b.objects(AUTHORIZE_ACCOUNT, ObjectKind::Price);
    assert_eq!(prices.len(), 4, "one new price, nothing else");
    let old = prices.iter().find(|p| p["id"] == old_pro).unwrap();
    assert_eq!(old["active"], false, "the old price is deactivated");
    let new = prices.iter().find(|p| p["id"] == new_pro.as_str()).unwrap();
    assert_eq!(
        (new["active"].clone(), new["unit_amount"].clone()),
        (json!(true), json!(3900))
    );
    assert_eq!(
        new["lookup_key"],
        format!("dream_{platform_id}_pro").as_str(),
        "the lookup key moves to the current price"
    );

    // Enterprise dropped: archived on Stripe, never deleted.
    let tiers = json!([
        { "name": "free", "price": 0, "limit": 2 },
        { "name": "pro", "displayName": "Pro", "price": 39, "limit": 10, "features": ["priority"] },
        { "name": "ticket", "displayName": "Conference ticket", "type": "one_time", "price": 15, "inventory": 5 }
    ]);
    b.create_products(&platform_id, "test", tiers).await;
    let products = b.objects(AUTHORIZE_ACCOUNT, ObjectKind::Product);
    assert_eq!(products.len(), 3, "nothing deleted");
    let enterprise = products
        .iter()
        .find(|p| p["metadata"]["dream_tier"] == "enterprise")
        .unwrap();
    assert_eq!(enterprise["active"], false);
    assert_eq!(
        active(&b.objects(AUTHORIZE_ACCOUNT, ObjectKind::Price)).len(),
        2,
        "pro and ticket prices only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_carts_for_the_last_unit_one_wins() {
    let b = Billing::start().await;
    let (creds, ticket) = b.shop(1).await;
    for round in 0..3 {
        // Each round restocks one unit (a new shop) so the race repeats.
        let (creds, ticket) = if round == 0 {
            (creds.clone(), ticket.clone())
        } else {
            b.shop(1).await
        };
        let replies = join_all((0..2).map(|_| b.cart(&creds.secret_key, &ticket, 1))).await;
        let won: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
        let lost: Vec<_> = replies.iter().filter(|r| r.status == 409).collect();
        assert_eq!((won.len(), lost.len()), (1, 1), "round {round}");
        lost[0].assert_error(409, "sold_out");
        assert_eq!(lost[0].json["available"], 0);
        assert_eq!(lost[0].json["product"], "ticket");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carts_are_validated_before_anything_is_held() {
    let b = Billing::start().await;
    let (creds, ticket) = b.shop(3).await;
    let sk = &creds.secret_key;
    b.cart(sk, &ticket, 4).await.assert_error(409, "sold_out");
    let zero = b.cart(sk, &ticket, 0).await;
    zero.assert_error(400, "invalid_request");
    assert_eq!(zero.json["field"], "/items/0/quantity");
    let unknown = b.cart(sk, "price_doesnotexist", 1).await;
    unknown.assert_error(400, "invalid_request");
    assert_eq!(unknown.json["field"], "/items/0/priceId");

    // Another platform's price is as unknown as a made-up one.
    let (other, other_ticket) = b.shop(3).await;
    let foreign = b.cart(sk, &other_ticket, 1).await;
    assert_eq!(foreign.json, {
        let mut j = unknown.json.clone();
        j["requestId"] = foreign.json["requestId"].clone();
        j
    });
    // A subscription price does not go in a cart.
    let listed = b
        .server
        .create_products(
            json!({ "platformId": other.platform_id, "mode": "test", "tiers": shop_tiers(29, 3) }),
        )
        .await;
    let pro = price_of(&listed.json, "pro");
    let other_cart = b.cart(&other.secret_key, &pro, 1).await;
    other_cart.assert_error(400, "invalid_request");
    assert!(other_cart.json["message"]
        .as_str()
        .unwrap()
        .contains("create-checkout"));

    // Nothing above held a unit.
    let products = b.server.get("/api/products", sk).await;
    assert_eq!(
        products.json["products"][0]["available"], 3,
        "{}",
        products.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_failures_map_to_clear_errors_and_release_the_hold() {
    let b = Billing::start().await;
    let (creds, ticket) = b.shop(1).await;
    let sk = &creds.secret_key;

    b.stripe.fail_next(
        "/v1/checkout/sessions",
        vec![Failure::InvalidRequest("Not a valid URL".into())],
    );
    let refused = b.cart(sk, &ticket, 1).await;
    refused.assert_error(502, "billing_request_failed");
    assert!(
        refused.json["stripeRequestId"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{}",
        refused.text
    );
    let products = b.server.get("/api/products", sk).await;
    assert_eq!(
        products.json["products"][0]["available"], 1,
        "a failed checkout releases its hold"
    );

    // Transient failures are retried with the same idempotency key.
    b.stripe.clear_requests();
    b.stripe.fail_next(
        "/v1/checkout/sessions",
        vec![Failure::RateLimited, Failure::ServerError],
    );
    let ok = b.cart(sk, &ticket, 1).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let attempts: Vec<_> = b
        .stripe
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/checkout/sessions")
        .collect();
    assert_eq!(attempts.len(), 3);
    assert!(attempts
        .iter()
        .all(|r| r.idempotency_key == attempts[0].idempotency_key));

    // Stripe down for longer than the retries: 503 with Retry-After.
    let (creds, ticket) = b.shop(1).await;
    b.stripe
        .fail_next("/v1/checkout/sessions", vec![Failure::ServerError; 10]);
    let down = b.cart(&creds.secret_key, &ticket, 1).await;
    down.assert_error(503, "billing_unavailable");
    assert!(down.header("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_refuses_cleanly_without_configuration_or_connection() {
    // No Stripe settings at all: the server runs, billing says what to configure.
    let plain = TestServer::start().await;
    let tenant = plain.tenant("test", 5).await;
    let user = plain
        .customer(&tenant.secret_key, json!({ "email": "a@example.com" }))
        .await;
    let reply = plain
        .send(
            Method::POST,
            "/api/create-checkout",
            Some(&tenant.secret_key),
            &[("X-User-Id", &user)],
            Some(json!({ "tier": "pro", "successUrl": SUCCESS, "cancelUrl": CANCEL })),
        )
        .await;
    reply.assert_error(503, "billing_not_configured");
    assert!(reply.json["message"]
        .as_str()
        .unwrap()
        .contains("STRIPE_SECRET_KEY"));
    let authorize = plain
        .get(
            &format!("/authorize?platformId={}&mode=test", tenant.platform_id),
            &plain.admin_token,
        )
        .await;
    authorize.assert_error(503, "billing_not_configured");

    // Configured but not connected: 409 stripe_not_connected; free tier: not purchasable.
    let b = Billing::start().await;
    let tenant = b.server.tenant("test", 5).await;
    let user = b
        .server
        .customer(&tenant.secret_key, json!({ "email": "a@example.com" }))
        .await;
    let checkout = |tier: &'static str| {
        let sk = tenant.secret_key.clone();
        let user = user.clone();
        let server = &b.server;
        async move {
            server
                .send(
                    Method::POST,
                    "/api/create-checkout",
                    Some(&sk),
                    &[("X-User-Id", &user)],
                    Some(json!({ "tier": tier })),
                )
                .await
        }
    };
    checkout("pro")
        .await
        .assert_error(409, "stripe_not_connected");
    b.server
        .send(
            Method::POST,
            "/api/customer-portal",
            Some(&tenant.secret_key),
            &[("X-User-Id", &user)],
            None,
        )
        .await
        .assert_error(409, "stripe_not_connected");
    b.connect(&tenant.platform_id, "test").await;
    checkout("free").await.assert_error(409, "conflict");
    let nope = checkout("nope").await;
    nope.assert_error(400, "invalid_request");
    assert_eq!(nope.json["field"], "/tier");
    // Connected after the tiers were configured: no price until a sync.
    checkout("pro").await.assert_error(409, "not_purchasable");
    let synced = b
        .server
        .post(
            &format!("/admin/platforms/{}/sync?mode=test", tenant.platform_id),
            &b.admin(),
            json!({}),
        )
        .await;
    assert_eq!(synced.status, 200, "{}", synced.text);
    assert_eq!(checkout("pro").await.status, 200);
    // No default URLs configured and none sent: the field is named.
    let bare = Billing::start_with(&[("DREAM_CHECKOUT_SUCCESS_URL", "")]).await;
    let (creds, ticket) = bare.shop(2).await;
    let reply = bare
        .server
        .post(
            "/api/cart/checkout",
            &creds.secret_key,
            json!({ "items": [{ "priceId": ticket, "quantity": 1 }] }),
        )
        .await;
    reply.assert_error(400, "invalid_request");
    assert_eq!(reply.json["field"], "/successUrl");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_state_is_bound_single_use_and_declines_are_handled() {
    let b = Billing::start().await;
    let platform_id = b.platform().await;
    // A forged state is refused.
    let forged = b
        .server
        .send(
            Method::GET,
            "/callback?code=ac_x&state=forged",
            None,
            &[],
            None,
        )
        .await;
    forged.assert_error(400, "invalid_oauth_state");
    // /authorize needs the operator's token.
    let anonymous = b
        .server
        .send(
            Method::GET,
            &format!("/authorize?platformId={platform_id}&mode=test"),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401);
    // An unknown platform is a 404, not a Stripe round trip.
    b.server
        .get("/authorize?platformId=plt_unknown&mode=test", &b.admin())
        .await
        .assert_error(404, "not_found");

    // The developer declines on Stripe: back to the dashboard, state spent.
    b.stripe.deny_next_authorize();
    let authorize = b
        .browser
        .get(format!(
            "{}/authorize?platformId={platform_id}&mode=test",
            b.server.base
        ))
        .bearer_auth(b.admin())
        .send()
        .await
        .unwrap();
    let stripe_url = location(&authorize);
    let denied = b.browser.get(&stripe_url).send().await.unwrap();
    let callback = location(&denied);
    assert!(callback.contains("error=access_denied"), "{callback}");
    let back = b.browser.get(&callback).send().await.unwrap();
    assert_eq!(back.status(), 302);
    assert!(location(&back).starts_with(&format!("{DASHBOARD}?stripe=denied")));
    let connection = b
        .server
        .get(
            &format!("/admin/platforms/{platform_id}/stripe?mode=test"),
            &b.admin(),
        )
        .await;
    assert_eq!(connection.json["connected"], false);

    // A code Stripe refuses (already used) maps to a clear error.
    let state_url = {
        let authorize = b
            .browser
            .get(format!(
                "{}/authorize?platformId={platform_id}&mode=test",
                b.server.base
            ))
            .bearer_auth(b.admin())
            .send()
            .await
            .unwrap();
        location(&authorize)
    };
    let state = state_url
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("state="))
        .expect("state")
        .to_owned();
    let code = b.stripe.issue_oauth_code(AUTHORIZE_ACCOUNT, false);
    let used = b.stripe.issue_oauth_code(AUTHORIZE_ACCOUNT, false);
    // Spend `used` once through the stand-in directly.
    let spent = b
        .browser
        .post(format!("{}/oauth/token", b.stripe.connect_base_url()))
        .bearer_auth(TEST_PLATFORM_KEY)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", used.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(spent.status(), 200);
    let refused = b
        .server
        .send(
            Method::GET,
            &format!("/callback?code={used}&state={state}"),
            None,
            &[],
            None,
        )
        .await;
    refused.assert_error(400, "invalid_oauth_code");
    // The state went with that attempt: a good code cannot reuse it.
    b.server
        .send(
            Method::GET,
            &format!("/callback?code={code}&state={state}"),
            None,
            &[],
            None,
        )
        .await
        .assert_error(400, "invalid_oauth_state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_bills_with_the_developers_own_key_sealed_at_rest() {
    let master = "7f".repeat(32);
    let b = Billing::start_with(&[("DREAM_MASTER_KEY", master.as_str())]).await;
    let platform_id = b.platform().await;
    let path = format!("/admin/platforms/{platform_id}/stripe");
    let wrong_mode = b
        .server
        .send(
            Method::PUT,
            &path,
            Some(&b.admin()),
            &[],
            Some(json!({ "mode": "live", "secretKey": TEST_DIRECT_KEY })),
        )
        .await;
    wrong_mode.assert_error(400, "invalid_request");
    assert!(
        !wrong_mode.text.contains(TEST_DIRECT_KEY),
        "the key is never echoed"
    );

    let connected = b
        .server
        .send(
            Method::PUT,
            &path,
            Some(&b.admin()),
            &[],
            Some(json!({ "mode": "test", "secretKey": TEST_DIRECT_KEY })),
        )
        .await;
    assert_eq!(connected.status, 200, "{}", connected.text);
    assert_eq!(connected.json["type"], "direct");
    assert!(!connected.text.contains("rk_test"), "{}", connected.text);

    let body = b
        .create_products(&platform_id, "test", shop_tiers(29, 2))
        .await;
    price_of(&body, "pro");
    assert_eq!(
        b.objects(DIRECT_ACCOUNT, ObjectKind::Product).len(),
        3,
        "objects live on the developer's own account"
    );
    assert!(b
        .stripe
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/v1/"))
        .all(|r| r.account.as_deref() == Some(DIRECT_ACCOUNT) && r.stripe_account.is_none()));

    // Without a master key, direct mode refuses and says what to set.
    let unsealed = Billing::start().await;
    let platform_id = unsealed.platform().await;
    let reply = unsealed
        .server
        .send(
            Method::PUT,
            &format!("/admin/platforms/{platform_id}/stripe"),
            Some(&unsealed.admin()),
            &[],
            Some(json!({ "mode": "test", "secretKey": TEST_DIRECT_KEY })),
        )
        .await;
    reply.assert_error(503, "billing_not_configured");
    assert!(reply.json["message"]
        .as_str()
        .unwrap()
        .contains("DREAM_MASTER_KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_copies_test_tiers_to_live_with_live_prices() {
    let b = Billing::start_with(&[
        (
            "STRIPE_TEST_SECRET_KEY",
            dream_stripe_standin::TEST_PLATFORM_KEY,
        ),
        ("STRIPE_SECRET_KEY", dream_stripe_standin::LIVE_PLATFORM_KEY),
    ])
    .await;
    let (creds, test_ticket) = b.shop(4).await;
    let platform_id = creds.platform_id;
    // Live is connected through its own onboarding, with a live-mode code.
    let to_stripe = b
        .browser
        .get(format!(
            "{}/authorize?platformId={platform_id}&mode=live",
            b.server.base
        ))
        .bearer_auth(b.admin())
        .send()
        .await
        .unwrap();
    let state = location(&to_stripe)
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("state="))
        .expect("state")
        .to_owned();
    let code = b.stripe.issue_oauth_code(AUTHORIZE_ACCOUNT, true);
    let done = b
        .browser
        .get(format!(
            "{}/callback?code={code}&state={state}",
            b.server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302);
    assert!(location(&done).ends_with("mode=live"));
    let promoted = b
        .server
        .post(
            &format!("/admin/platforms/{platform_id}/promote"),
            &b.admin(),
            json!({}),
        )
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    assert_eq!(promoted.json["mode"], "live");
    let live_ticket = price_of(&promoted.json, "ticket");
    assert_ne!(live_ticket, test_ticket, "Stripe ids are per mode");
    let live_prices: Vec<_> = b
        .objects(AUTHORIZE_ACCOUNT, ObjectKind::Price)
        .into_iter()
        .filter(|p| p["livemode"] == true)
        .collect();
    assert_eq!(live_prices.len(), 3);
}

/// The `Idempotency-Key`s sent for `POST /v1/checkout/sessions`, oldest first.
fn checkout_keys(b: &Billing) -> Vec<String> {
    b.stripe
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/checkout/sessions")
        .map(|r| r.idempotency_key.expect("every checkout carries a key"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_idempotency_keys_follow_the_request() {
    let b = Billing::start().await;
    let (creds, ticket) = b.shop(10).await;
    let sk = &creds.secret_key;
    let customer = b
        .server
        .customer(sk, json!({ "email": "ida@example.com", "plan": "free" }))
        .await;
    let other = b
        .server
        .customer(sk, json!({ "email": "otto@example.com", "plan": "free" }))
        .await;
    let checkout = |who: String, body: Value| {
        let b = &b;
        async move {
            let reply = b
                .server
                .send(
                    Method::POST,
                    "/api/create-checkout",
                    Some(sk),
                    &[("X-User-Id", &who)],
                    Some(body),
                )
                .await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            reply.json["sessionId"]
                .as_str()
                .expect("session")
                .to_owned()
        }
    };

    b.stripe.clear_requests();
    let first = checkout(customer.clone(), json!({ "tier": "pro" })).await;
    let again = checkout(customer.clone(), json!({ "tier": "pro" })).await;
    let keys = checkout_keys(&b);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], keys[1], "a retry reuses the key");
    assert_eq!(first, again, "and so Stripe's session");

    // Anything different is a different request: another tier, other URLs,
    // another customer.
    checkout(customer.clone(), json!({ "tier": "enterprise" })).await;
    checkout(
        customer.clone(),
        json!({ "tier": "pro", "successUrl": "https://app.example/other" }),
    )
    .await;
    checkout(other.clone(), json!({ "tier": "pro" })).await;
    let keys = checkout_keys(&b);
    assert_eq!(keys.len(), 5, "{keys:?}");
    let distinct: std::collections::BTreeSet<_> = keys[1..].iter().collect();
    assert_eq!(distinct.len(), 4, "{keys:?}");
    assert!(keys.iter().all(|k| k.len() <= 255), "{keys:?}");

    // Carts hold their own stock, so each cart is its own request.
    b.stripe.clear_requests();
    assert_eq!(b.cart(sk, &ticket, 1).await.status, 200);
    assert_eq!(b.cart(sk, &ticket, 1).await.status, 200);
    let keys = checkout_keys(&b);
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1], "{keys:?}");
}

/// A cart body with these `(price, quantity)` lines.
fn cart_of(lines: &[(&str, u64)]) -> Value {
    json!({
        "email": "buyer@example.com",
        "items": lines
            .iter()
            .map(|(price, quantity)| json!({ "priceId": price, "quantity": quantity }))
            .collect::<Vec<_>>(),
        "successUrl": "https://shop.example/thanks",
        "cancelUrl": "https://shop.example/cart"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cart_quantities_are_capped_after_lines_for_one_price_are_merged() {
    let b = Billing::start().await;
    let (creds, ticket) = b.shop(50_000).await;
    let sk = &creds.secret_key;
    let split = b
        .server
        .post(
            "/api/cart/checkout",
            sk,
            cart_of(&[(&ticket, 10_000), (&ticket, 10_000)]),
        )
        .await;
    split.assert_error(400, "invalid_request");
    assert_eq!(split.json["field"], "/items/1/quantity", "{}", split.text);
    let products = b.server.get("/api/products", sk).await;
    assert_eq!(products.json["products"][0]["reserved"], 0, "nothing held");
    // Up to the cap in total is fine, however it is split.
    let ok = b
        .server
        .post(
            "/api/cart/checkout",
            sk,
            cart_of(&[(&ticket, 6_000), (&ticket, 4_000)]),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carts_refuse_a_price_left_stale_by_a_failed_sync() {
    let b = Billing::start().await;
    let (creds, ticket) = b.shop(5).await;
    let sk = &creds.secret_key;
    // The ticket's price goes up, but Stripe is down: the new price is not made,
    // so the stored Stripe price still charges the old amount.
    b.stripe
        .fail_next("/v1/prices", vec![Failure::ServerError; 10]);
    let tiers = json!([
        { "name": "free", "price": 0, "limit": 2 },
        { "name": "pro", "displayName": "Pro", "price": 29, "limit": 10, "features": ["priority"] },
        { "name": "enterprise", "price": 99 },
        { "name": "ticket", "displayName": "Conference ticket", "type": "one_time", "price": 25, "inventory": 5 }
    ]);
    let failed = b
        .server
        .create_products(json!({ "platformId": creds.platform_id, "mode": "test", "tiers": tiers }))
        .await;
    assert_ne!(failed.status, 200, "{}", failed.text);
    let stale = b.cart(sk, &ticket, 1).await;
    stale.assert_error(409, "not_purchasable");
    assert!(
        stale.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("create-products")),
        "{}",
        stale.text
    );
    let products = b.server.get("/api/products", sk).await;
    assert_eq!(products.json["products"][0]["reserved"], 0, "nothing held");
}
