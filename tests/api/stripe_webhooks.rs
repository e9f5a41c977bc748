//! `POST /webhook/stripe`: payloads signed with Stripe's official library (PyPI
//! `stripe`), delivered to the real server, applied once and in order.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use dream_stripe_standin::{ObjectKind, AUTHORIZE_ACCOUNT};
use reqwest::Method;
use serde_json::{json, Value};

use crate::billing::{price_of, Billing};

pub(crate) const SECRET: &str = "whsec_dream_test_endpoint_secret";

/// Signs each payload with `stripe.WebhookSignature.generate_signature_header`.
pub(crate) fn stripe_sign(items: &[(&str, &str, i64)]) -> Vec<String> {
    let python = std::env::var("DREAM_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("DREAM_TEST_PYTHON is not set: run ./scripts/test, which installs Stripe's official signer")
    });
    let script = "import json, sys, stripe\n\
                  for payload, secret, ts in json.load(sys.stdin):\n    \
                  print(stripe.WebhookSignature.generate_signature_header(payload, secret, ts))";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let input = serde_json::to_vec(&items).expect("items serialize");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("signer input");
    let out = child.wait_with_output().expect("signer");
    assert!(out.status.success(), "the official signer failed");
    String::from_utf8(out.stdout)
        .expect("signer output")
        .lines()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A Stripe event envelope around `object`, as Stripe sends it to a Connect endpoint.
fn event(id: &str, kind: &str, created: i64, account: &str, object: Value) -> String {
    json!({
        "id": id,
        "object": "event",
        "account": account,
        "api_version": "2026-09-30.endive",
        "created": created,
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": kind
    })
    .to_string()
}

impl Billing {
    async fn deliver(&self, payload: &str, signature: Option<&str>) -> crate::support::Reply {
        let mut req = self
            .server
            .http
            .post(format!("{}/webhook/stripe", self.server.base))
            .header("content-type", "application/json")
            .body(payload.to_owned());
        if let Some(signature) = signature {
            req = req.header("Stripe-Signature", signature);
        }
        crate::support::TestServer::reply(req.send().await.expect("delivered")).await
    }

    /// Signs (officially) and delivers; returns the reply.
    async fn send_event(&self, payload: &str) -> crate::support::Reply {
        let signature = stripe_sign(&[(payload, SECRET, now())]).remove(0);
        self.deliver(payload, Some(&signature)).await
    }
}

async fn webhook_billing() -> Billing {
    Billing::start_with(&[("STRIPE_WEBHOOK_SECRET", SECRET)]).await
}

fn session(b: &Billing, id: &Value) -> Value {
    b.objects(AUTHORIZE_ACCOUNT, ObjectKind::CheckoutSession)
        .into_iter()
        .find(|s| &s["id"] == id)
        .expect("session on the stand-in")
}

/// A subscription object for `customer` on `price`, as Stripe's API shows it.
pub(crate) fn subscription(
    sub: &str,
    cus: &str,
    customer: &str,
    price: &str,
    amount: i64,
    status: &str,
    cancel_at_period_end: bool,
) -> Value {
    let start = now() - 60;
    json!({
        "id": sub,
        "object": "subscription",
        "customer": cus,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "currency": "usd",
        "metadata": { "dream_customer_id": customer, "dream_tier": "pro" },
        "items": {
            "object": "list",
            "data": [{
                "id": "si_test1",
                "object": "subscription_item",
                "quantity": 1,
                "current_period_start": start,
                "current_period_end": start + 30 * 86400,
                "price": {
                    "id": price,
                    "object": "price",
                    "unit_amount": amount,
                    "currency": "usd",
                    "type": "recurring",
                    "recurring": { "interval": "month", "interval_count": 1 },
                    "metadata": { "dream_tier": "pro" }
                }
            }]
        }
    })
}

pub(crate) async fn plan_of(b: &Billing, sk: &str, customer: &str) -> String {
    let reply = b
        .server
        .get(&format!("/api/customers/{customer}"), sk)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = if reply.json["customer"].is_object() {
        &reply.json["customer"]
    } else {
        &reply.json
    };
    body["plan"].as_str().expect("plan").to_owned()
}

pub(crate) async fn events_of(b: &Billing, sk: &str, kind: &str) -> usize {
    let reply = b.server.get("/api/events?limit=100", sk).await;
    reply.json["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == kind || e["kind"] == kind)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_completed_upgrades_and_deletion_downgrades_in_order() {
    let b = webhook_billing().await;
    let (creds, _) = b.shop(1).await;
    let sk = creds.secret_key.clone();
    let customer = b
        .server
        .customer(&sk, json!({ "email": "sub@example.com", "plan": "free" }))
        .await;
    for _ in 0..2 {
        assert_eq!(b.server.track(&sk, &customer).await.status, 200);
    }
    b.server
        .track(&sk, &customer)
        .await
        .assert_error(429, "usage_limit_reached");

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
    let mut completed = session(&b, &checkout.json["sessionId"]);
    completed["status"] = "complete".into();
    completed["payment_status"] = "paid".into();
    completed["subscription"] = "sub_test1".into();
    let cus = completed["customer"].as_str().unwrap().to_owned();
    let t0 = now() - 100;
    let delivered = b
        .send_event(&event(
            "evt_done1",
            "checkout.session.completed",
            t0,
            AUTHORIZE_ACCOUNT,
            completed,
        ))
        .await;
    assert_eq!(delivered.status, 200, "{}", delivered.text);
    assert_eq!(delivered.json["result"], "applied");
    assert_eq!(plan_of(&b, &sk, &customer).await, "pro");
    // Pro's limit applies at once: the calls refused on free now go through.
    for _ in 0..3 {
        assert_eq!(b.server.track(&sk, &customer).await.status, 200);
    }

    // The same subscription.updated twice, then an older one: newest state wins,
    // one event recorded.
    let pro_price = price_of(
        &b.create_products(
            &creds.platform_id,
            "test",
            crate::billing::shop_tiers(29, 1),
        )
        .await,
        "pro",
    );
    let newer = event(
        "evt_upd_new",
        "customer.subscription.updated",
        t0 + 50,
        AUTHORIZE_ACCOUNT,
        subscription(
            "sub_test1",
            &cus,
            &customer,
            &pro_price,
            2900,
            "active",
            true,
        ),
    );
    let older = event(
        "evt_upd_old",
        "customer.subscription.updated",
        t0 + 10,
        AUTHORIZE_ACCOUNT,
        subscription(
            "sub_test1",
            &cus,
            &customer,
            &pro_price,
            2900,
            "canceled",
            false,
        ),
    );
    let updates_before = events_of(&b, &sk, "subscription.updated").await;
    assert_eq!(b.send_event(&newer).await.json["result"], "applied");
    assert_eq!(b.send_event(&newer).await.json["result"], "duplicate");
    assert_eq!(b.send_event(&older).await.json["result"], "applied");
    assert_eq!(
        plan_of(&b, &sk, &customer).await,
        "pro",
        "an older event never wins"
    );
    assert_eq!(
        events_of(&b, &sk, "subscription.updated").await,
        updates_before + 1,
        "one state change recorded"
    );

    // Deleted: back to the free tier, whose limit applies again.
    let deleted = event(
        "evt_del",
        "customer.subscription.deleted",
        t0 + 90,
        AUTHORIZE_ACCOUNT,
        subscription(
            "sub_test1",
            &cus,
            &customer,
            &pro_price,
            2900,
            "canceled",
            false,
        ),
    );
    assert_eq!(b.send_event(&deleted).await.json["result"], "applied");
    assert_eq!(plan_of(&b, &sk, &customer).await, "free");
    b.server
        .track(&sk, &customer)
        .await
        .assert_error(429, "usage_limit_reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_carts_commit_inventory_and_expired_ones_release_it() {
    let b = webhook_billing().await;
    let (creds, ticket) = b.shop(2).await;
    let sk = creds.secret_key.clone();
    let first = b.cart(&sk, &ticket, 1).await;
    let second = b.cart(&sk, &ticket, 1).await;
    assert_eq!((first.status.as_u16(), second.status.as_u16()), (200, 200));
    let products = b.server.get("/api/products", &sk).await;
    assert_eq!(products.json["products"][0]["soldOut"], true);

    // The first buyer pays: one unit sold for good.
    let mut paid = session(&b, &first.json["sessionId"]);
    paid["status"] = "complete".into();
    paid["payment_status"] = "paid".into();
    let reply = b
        .send_event(&event(
            "evt_paid",
            "checkout.session.completed",
            now(),
            AUTHORIZE_ACCOUNT,
            paid,
        ))
        .await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);
    // The second lets the session expire: its unit goes back on sale.
    let mut expired = session(&b, &second.json["sessionId"]);
    expired["status"] = "expired".into();
    let reply = b
        .send_event(&event(
            "evt_exp",
            "checkout.session.expired",
            now(),
            AUTHORIZE_ACCOUNT,
            expired,
        ))
        .await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);
    let product = &b.server.get("/api/products", &sk).await.json["products"][0];
    assert_eq!(
        (
            product["sold"].clone(),
            product["reserved"].clone(),
            product["available"].clone()
        ),
        (json!(1), json!(0), json!(1))
    );
    assert_eq!(product["soldOut"], false);

    // The last unit sells: soldOut, and an inventory.sold_out event.
    let last = b.cart(&sk, &ticket, 1).await;
    let mut paid = session(&b, &last.json["sessionId"]);
    paid["payment_status"] = "paid".into();
    b.send_event(&event(
        "evt_paid2",
        "checkout.session.completed",
        now(),
        AUTHORIZE_ACCOUNT,
        paid,
    ))
    .await;
    let product = &b.server.get("/api/products", &sk).await.json["products"][0];
    assert_eq!(
        (product["sold"].clone(), product["soldOut"].clone()),
        (json!(2), json!(true))
    );
    assert_eq!(events_of(&b, &sk, "inventory.sold_out").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_checked_like_stripe_specifies() {
    let b = Billing::start_with(&[(
        "STRIPE_WEBHOOK_SECRET",
        "whsec_old_rotating_secret, whsec_dream_test_endpoint_secret",
    )])
    .await;
    let payload = event(
        "evt_sig",
        "product.created",
        now(),
        AUTHORIZE_ACCOUNT,
        json!({ "id": "prod_1", "object": "product" }),
    );
    let t = now();
    let signed = stripe_sign(&[
        (payload.as_str(), SECRET, t),
        (payload.as_str(), "whsec_not_ours", t),
        (payload.as_str(), SECRET, t - 400),
        (payload.as_str(), "whsec_old_rotating_secret", t),
    ]);
    // Valid (under the second configured secret: rotation), acknowledged.
    let ok = b.deliver(&payload, Some(&signed[0])).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let old = b.deliver(&payload, Some(&signed[3])).await;
    assert_eq!(
        old.status, 200,
        "the secret being rotated out still verifies"
    );

    let tampered = payload.replace("prod_1", "prod_2");
    for (name, body, signature) in [
        ("tampered body", tampered.as_str(), Some(signed[0].as_str())),
        ("wrong secret", payload.as_str(), Some(signed[1].as_str())),
        (
            "stale timestamp",
            payload.as_str(),
            Some(signed[2].as_str()),
        ),
        ("missing header", payload.as_str(), None),
        ("malformed header", payload.as_str(), Some("v1=abc")),
    ] {
        let reply = b.deliver(body, signature).await;
        reply.assert_error(400, "invalid_signature");
        assert_eq!(reply.json["field"], "Stripe-Signature", "{name}");
    }
    // Every v1 candidate is tried.
    let both = format!(
        "{},v1={}",
        signed[1],
        signed[0].split("v1=").nth(1).unwrap()
    );
    assert_eq!(b.deliver(&payload, Some(&both)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_accounts_and_foreign_modes_are_acknowledged_not_applied() {
    let b = webhook_billing().await;
    let (creds, ticket) = b.shop(1).await;
    let cart = b.cart(&creds.secret_key, &ticket, 1).await;
    let mut paid = session(&b, &cart.json["sessionId"]);
    paid["payment_status"] = "paid".into();

    let stranger = event(
        "evt_x1",
        "checkout.session.completed",
        now(),
        "acct_unknown",
        paid.clone(),
    );
    let reply = b.send_event(&stranger).await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["result"].clone()),
        (200, json!("ignored"))
    );

    let mut live: Value = serde_json::from_str(&event(
        "evt_x2",
        "checkout.session.completed",
        now(),
        AUTHORIZE_ACCOUNT,
        paid,
    ))
    .unwrap();
    live["livemode"] = true.into();
    let reply = b.send_event(&live.to_string()).await;
    assert_eq!(
        reply.json["result"], "ignored",
        "a live event never touches test data"
    );
    let product = &b.server.get("/api/products", &creds.secret_key).await.json["products"][0];
    assert_eq!(product["sold"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_payments_commit_or_release_the_cart_when_they_settle() {
    let b = webhook_billing().await;
    let (creds, ticket) = b.shop(2).await;
    let sk = creds.secret_key.clone();
    let first = b.cart(&sk, &ticket, 1).await;
    let second = b.cart(&sk, &ticket, 1).await;
    assert_eq!((first.status.as_u16(), second.status.as_u16()), (200, 200));

    // Both buyers pay by a delayed method (a bank debit): the sessions complete
    // unpaid, and the units stay held while the payments are pending.
    for (n, cart) in [&first, &second].into_iter().enumerate() {
        let mut pending = session(&b, &cart.json["sessionId"]);
        pending["status"] = "complete".into();
        pending["payment_status"] = "unpaid".into();
        let reply = b
            .send_event(&event(
                &format!("evt_pending_{n}"),
                "checkout.session.completed",
                now(),
                AUTHORIZE_ACCOUNT,
                pending,
            ))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let product = &b.server.get("/api/products", &sk).await.json["products"][0];
    assert_eq!(
        (product["sold"].clone(), product["reserved"].clone()),
        (json!(0), json!(2))
    );

    // The first payment succeeds: its unit is sold for good.
    let mut paid = session(&b, &first.json["sessionId"]);
    paid["status"] = "complete".into();
    paid["payment_status"] = "paid".into();
    let reply = b
        .send_event(&event(
            "evt_async_paid",
            "checkout.session.async_payment_succeeded",
            now(),
            AUTHORIZE_ACCOUNT,
            paid,
        ))
        .await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);
    // The second fails: its unit goes back on sale at once.
    let mut failed = session(&b, &second.json["sessionId"]);
    failed["status"] = "complete".into();
    failed["payment_status"] = "unpaid".into();
    let reply = b
        .send_event(&event(
            "evt_async_failed",
            "checkout.session.async_payment_failed",
            now(),
            AUTHORIZE_ACCOUNT,
            failed,
        ))
        .await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);

    let product = &b.server.get("/api/products", &sk).await.json["products"][0];
    assert_eq!(
        (
            product["sold"].clone(),
            product["reserved"].clone(),
            product["available"].clone()
        ),
        (json!(1), json!(0), json!(1))
    );
    assert_eq!(events_of(&b, &sk, "payment.succeeded").await, 1);
    assert_eq!(events_of(&b, &sk, "payment.failed").await, 1);
}

/// A payment that arrives for a cart whose hold was released (or had expired)
/// after its unit was sold to someone else: the sale is recorded (the money was
/// taken), `inventory.oversold` says so, and the dashboard lists the product.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_payment_is_recorded_and_reported_as_oversold() {
    let b = webhook_billing().await;
    let (creds, ticket) = b.shop(1).await;
    let sk = creds.secret_key.clone();
    let late = b.cart(&sk, &ticket, 1).await;
    assert_eq!(late.status.as_u16(), 200, "{}", late.text);

    // The first session expires: its unit goes back on sale and sells to another buyer.
    let mut expired = session(&b, &late.json["sessionId"]);
    expired["status"] = "expired".into();
    let reply = b
        .send_event(&event(
            "evt_late_exp",
            "checkout.session.expired",
            now(),
            AUTHORIZE_ACCOUNT,
            expired,
        ))
        .await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);
    let other = b.cart(&sk, &ticket, 1).await;
    assert_eq!(other.status.as_u16(), 200, "{}", other.text);
    let mut paid = session(&b, &other.json["sessionId"]);
    paid["status"] = "complete".into();
    paid["payment_status"] = "paid".into();
    let reply = b
        .send_event(&event(
            "evt_other_paid",
            "checkout.session.completed",
            now(),
            AUTHORIZE_ACCOUNT,
            paid,
        ))
        .await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);
    assert_eq!(events_of(&b, &sk, "inventory.oversold").await, 0);

    // Then the first buyer's money arrives after all.
    let mut paid_late = session(&b, &late.json["sessionId"]);
    paid_late["status"] = "complete".into();
    paid_late["payment_status"] = "paid".into();
    let reply = b
        .send_event(&event(
            "evt_late_paid",
            "checkout.session.async_payment_succeeded",
            now(),
            AUTHORIZE_ACCOUNT,
            paid_late,
        ))
        .await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);

    let product = &b.server.get("/api/products", &sk).await.json["products"][0];
    assert_eq!(
        (product["sold"].clone(), product["available"].clone()),
        (json!(2), json!(0)),
        "the late payment is recorded as a sale: {product}"
    );
    let events = b.server.get("/api/events?limit=100", &sk).await;
    let oversold: Vec<&Value> = events.json["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "inventory.oversold")
        .collect();
    assert_eq!(oversold.len(), 1, "{}", events.text);
    let data = &oversold[0]["data"];
    assert_eq!(
        (
            data["tier"].clone(),
            data["price"].clone(),
            data["quantity"].clone(),
            data["stock"].clone(),
            data["sold"].clone()
        ),
        (json!("ticket"), json!(ticket), json!(1), json!(1), json!(2)),
        "{data}"
    );
    let dashboard = b.server.get("/api/dashboard", &sk).await;
    assert_eq!(
        dashboard.json["oversold"],
        json!([{ "tier": "ticket", "stock": 1, "sold": 2, "oversold": 1 }]),
        "{}",
        dashboard.text
    );

    // A redelivery under a new event id sells nothing more and reports nothing new.
    let mut again = session(&b, &late.json["sessionId"]);
    again["payment_status"] = "paid".into();
    b.send_event(&event(
        "evt_late_paid_again",
        "checkout.session.completed",
        now(),
        AUTHORIZE_ACCOUNT,
        again,
    ))
    .await;
    assert_eq!(events_of(&b, &sk, "inventory.oversold").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_cart_grants_the_credits_its_products_carry_once() {
    let b = webhook_billing().await;
    let platform_id = b.platform().await;
    b.connect(&platform_id, "test").await;
    let body = b
        .create_products(
            &platform_id,
            "test",
            json!([
                { "name": "free", "price": 0, "limit": 2,
                  "meters": { "exports": { "limit": 1, "reset": "day" } } },
                { "name": "export_pack", "type": "one_time", "price": 5,
                  "grants": { "meter": "exports", "amount": 100 } }
            ]),
        )
        .await;
    let sk = crate::support::creds(&body).secret_key;
    let pack = price_of(&body, "export_pack");
    b.server
        .customer(&sk, json!({ "externalId": "buyer-1" }))
        .await;
    let tiers = b.server.get("/api/tiers", &sk).await;
    assert_eq!(
        tiers.json["tiers"][1]["grants"],
        json!({ "meter": "exports", "amount": 100 }),
        "{}",
        tiers.text
    );
    let cart = b
        .server
        .send(
            reqwest::Method::POST,
            "/api/cart/checkout",
            Some(&sk),
            &[("X-User-Id", "buyer-1")],
            Some(json!({
                "items": [{ "priceId": pack, "quantity": 2 }],
                "successUrl": "https://shop.example/thanks",
                "cancelUrl": "https://shop.example/cart"
            })),
        )
        .await;
    assert_eq!(cart.status, 200, "{}", cart.text);
    let mut paid = session(&b, &cart.json["sessionId"]);
    paid["status"] = "complete".into();
    paid["payment_status"] = "paid".into();
    // Stripe may deliver the same fact twice, under two event ids.
    for id in ["evt_pack_1", "evt_pack_2"] {
        let reply = b
            .send_event(&event(
                id,
                "checkout.session.completed",
                now(),
                AUTHORIZE_ACCOUNT,
                paid.clone(),
            ))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let e = b
        .server
        .send(
            reqwest::Method::GET,
            "/api/entitlements",
            Some(&sk),
            &[("X-User-Id", "buyer-1")],
            None,
        )
        .await;
    assert_eq!(
        e.json["meters"]["exports"]["credits"], 200,
        "2 packs of 100, granted once: {}",
        e.text
    );
    assert_eq!(events_of(&b, &sk, "credits.granted").await, 1);

    let refused = b
        .server
        .create_products(
            json!({ "platformId": platform_id, "mode": "test", "tiers": [
                { "name": "free", "price": 0, "grants": { "meter": "requests", "amount": 1 } }
            ]}),
        )
        .await;
    refused.assert_error(400, "invalid_request");
    assert_eq!(refused.json["field"], "/tiers/0/grants", "{}", refused.text);
}
