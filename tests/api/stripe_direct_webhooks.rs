//! `POST /webhook/stripe/{platformId}`: a direct-mode developer's own webhook
//! endpoint, verified with the `whsec_…` sent with `PUT /admin/platforms/{id}/stripe`
//! (stored sealed), signed here with Stripe's official library.

use dream_stripe_standin::{ObjectKind, DIRECT_ACCOUNT, TEST_DIRECT_KEY};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    billing::{price_of, shop_tiers, Billing},
    stripe_webhooks::{
        events_of, now, plan_of, stripe_sign, subscription, SECRET as OPERATOR_SECRET,
    },
    support::Reply,
};

/// The signing secret of the endpoint the developer registered on their own account.
const DIRECT_SECRET: &str = "whsec_DevelopersOwnEndpoint0123456789ab";
/// Another platform's endpoint secret.
const OTHER_SECRET: &str = "whsec_AnotherPlatformsEndpoint987654321";
const MASTER: &str = "5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d";

/// A Stripe event as a developer's own endpoint receives it: no `account`.
fn direct_event(id: &str, kind: &str, created: i64, livemode: bool, object: Value) -> String {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2026-09-30.endive",
        "created": created,
        "data": { "object": object },
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": kind
    })
    .to_string()
}

impl Billing {
    async fn deliver_direct(
        &self,
        platform_id: &str,
        payload: &str,
        signature: Option<&str>,
    ) -> Reply {
        let mut req = self
            .server
            .http
            .post(format!("{}/webhook/stripe/{platform_id}", self.server.base))
            .header("content-type", "application/json")
            .body(payload.to_owned());
        if let Some(signature) = signature {
            req = req.header("Stripe-Signature", signature);
        }
        crate::support::TestServer::reply(req.send().await.expect("delivered")).await
    }

    /// Signs `payload` with `secret` (officially) and posts it to the platform's URL.
    async fn send_direct(&self, platform_id: &str, payload: &str, secret: &str) -> Reply {
        let signature = stripe_sign(&[(payload, secret, now())]).remove(0);
        self.deliver_direct(platform_id, payload, Some(&signature))
            .await
    }

    async fn put_direct(&self, platform_id: &str, body: Value) -> Reply {
        self.server
            .send(
                Method::PUT,
                &format!("/admin/platforms/{platform_id}/stripe"),
                Some(&self.admin()),
                &[],
                Some(body),
            )
            .await
    }
}

/// A rejection's body without its request id, to compare two rejections.
fn without_request_id(reply: &Reply) -> Value {
    let mut body = reply.json.clone();
    body["requestId"] = Value::Null;
    body
}

fn has_status_update(events: &Value, status: &str) -> bool {
    events["data"]
        .as_array()
        .expect("events")
        .iter()
        .any(|e| e["type"] == "subscription.updated" && e["data"]["status"] == status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_tenants_get_their_webhooks_through_their_own_secret() {
    // The operator's Connect secret is set too: it must not verify direct deliveries.
    let b = Billing::start_with(&[
        ("DREAM_MASTER_KEY", MASTER),
        ("STRIPE_WEBHOOK_SECRET", OPERATOR_SECRET),
    ])
    .await;
    let platform_id = b.platform().await;

    // The secret's shape is checked, and a refusal never echoes it.
    let bad = b
        .put_direct(
            &platform_id,
            json!({ "mode": "test", "secretKey": TEST_DIRECT_KEY, "webhookSecret": "sk_test_not_a_webhook_secret" }),
        )
        .await;
    bad.assert_error(400, "invalid_request");
    assert_eq!(bad.json["field"], "/webhookSecret", "{}", bad.text);
    assert!(!bad.text.contains("sk_test_not_a_webhook_secret"));

    let connected = b
        .put_direct(
            &platform_id,
            json!({ "mode": "test", "secretKey": TEST_DIRECT_KEY, "webhookSecret": DIRECT_SECRET }),
        )
        .await;
    assert_eq!(connected.status, 200, "{}", connected.text);
    assert_eq!(
        connected.json["webhookSecretSet"], true,
        "{}",
        connected.text
    );
    let shown = b
        .server
        .get(
            &format!("/admin/platforms/{platform_id}/stripe?mode=test"),
            &b.admin(),
        )
        .await;
    assert_eq!(
        (
            shown.json["type"].clone(),
            shown.json["webhookSecretSet"].clone()
        ),
        (json!("direct"), json!(true)),
        "{}",
        shown.text
    );
    for reply in [&connected, &shown] {
        assert!(!reply.text.contains(DIRECT_SECRET), "{}", reply.text);
        assert!(!reply.text.contains("whsec_"), "{}", reply.text);
    }

    let products = b
        .create_products(&platform_id, "test", shop_tiers(29, 1))
        .await;
    let pro_price = price_of(&products, "pro");
    let sk = crate::support::creds(&products).secret_key;
    let customer = b
        .server
        .customer(
            &sk,
            json!({ "email": "direct@example.com", "plan": "free" }),
        )
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
    let mut completed = b
        .objects(DIRECT_ACCOUNT, ObjectKind::CheckoutSession)
        .into_iter()
        .find(|s| s["id"] == checkout.json["sessionId"])
        .expect("the session lives on the developer's own account");
    completed["status"] = "complete".into();
    completed["payment_status"] = "paid".into();
    completed["subscription"] = "sub_direct1".into();
    let cus = completed["customer"].as_str().expect("cus_").to_owned();
    let t0 = now() - 100;
    let payload = direct_event(
        "evt_direct_done",
        "checkout.session.completed",
        t0,
        false,
        completed,
    );

    // Refusals first, so none of them can have applied anything.
    let other_platform = b.platform().await;
    let other = b
        .put_direct(
            &other_platform,
            json!({ "mode": "test", "secretKey": TEST_DIRECT_KEY, "webhookSecret": OTHER_SECRET }),
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.text);
    let t = now();
    let signed = stripe_sign(&[
        (payload.as_str(), DIRECT_SECRET, t),
        (payload.as_str(), "whsec_SomebodyElsesSecret00000000", t),
        (payload.as_str(), OPERATOR_SECRET, t),
        (payload.as_str(), OTHER_SECRET, t),
    ]);
    let tampered = payload.replace("sub_direct1", "sub_direct2");
    let wrong = b
        .deliver_direct(&platform_id, &payload, Some(&signed[1]))
        .await;
    wrong.assert_error(400, "invalid_signature");
    assert_eq!(wrong.json["field"], "Stripe-Signature");
    for (name, platform, body, signature) in [
        (
            "operator's secret",
            platform_id.as_str(),
            payload.as_str(),
            &signed[2],
        ),
        (
            "another platform's secret",
            platform_id.as_str(),
            payload.as_str(),
            &signed[3],
        ),
        (
            "tampered body",
            platform_id.as_str(),
            tampered.as_str(),
            &signed[0],
        ),
        (
            "another platform's URL",
            other_platform.as_str(),
            payload.as_str(),
            &signed[0],
        ),
        (
            "unknown platform",
            "plt_doesnotexist000000000",
            payload.as_str(),
            &signed[0],
        ),
        (
            "not a platform id",
            "anything",
            payload.as_str(),
            &signed[0],
        ),
    ] {
        let reply = b.deliver_direct(platform, body, Some(signature)).await;
        reply.assert_error(400, "invalid_signature");
        assert_eq!(
            without_request_id(&reply),
            without_request_id(&wrong),
            "{name}: the same answer as a wrong secret"
        );
    }
    let missing = b
        .deliver_direct("plt_doesnotexist000000000", &payload, None)
        .await;
    missing.assert_error(400, "invalid_signature");
    let missing_known = b.deliver_direct(&platform_id, &payload, None).await;
    assert_eq!(
        without_request_id(&missing),
        without_request_id(&missing_known),
        "a missing header reads the same for known and unknown platforms"
    );
    assert_eq!(plan_of(&b, &sk, &customer).await, "free");

    // Signed with the developer's endpoint secret: applied once, the plan moves.
    let applied = b
        .deliver_direct(&platform_id, &payload, Some(&signed[0]))
        .await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert_eq!(applied.json["result"], "applied", "{}", applied.text);
    assert_eq!(plan_of(&b, &sk, &customer).await, "pro");
    assert_eq!(b.server.track(&sk, &customer).await.status, 200);
    let again = b.send_direct(&platform_id, &payload, DIRECT_SECRET).await;
    assert_eq!(again.json["result"], "duplicate", "{}", again.text);

    // A live event under the test endpoint's secret never touches test data.
    let live = direct_event(
        "evt_direct_live",
        "customer.subscription.deleted",
        t0 + 5,
        true,
        subscription(
            "sub_direct1",
            &cus,
            &customer,
            &pro_price,
            2900,
            "canceled",
            false,
        ),
    );
    let ignored = b.send_direct(&platform_id, &live, DIRECT_SECRET).await;
    assert_eq!(
        (ignored.status.as_u16(), ignored.json["result"].clone()),
        (200, json!("ignored")),
        "{}",
        ignored.text
    );
    assert_eq!(plan_of(&b, &sk, &customer).await, "pro");

    // invoice.payment_failed carries no dream metadata: the customer is found
    // through the cus_ link the checkout recorded; the subscription goes past due.
    let failed_before = events_of(&b, &sk, "payment.failed").await;
    let invoice = direct_event(
        "evt_direct_inv",
        "invoice.payment_failed",
        t0 + 10,
        false,
        json!({
            "id": "in_direct1",
            "object": "invoice",
            "customer": cus,
            "subscription": "sub_direct1",
            "amount_due": 2900,
            "amount_paid": 0,
            "currency": "usd",
            "status": "open"
        }),
    );
    let reply = b.send_direct(&platform_id, &invoice, DIRECT_SECRET).await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);
    assert_eq!(
        events_of(&b, &sk, "payment.failed").await,
        failed_before + 1
    );
    let events = b.server.get("/api/events?limit=100", &sk).await;
    assert!(
        has_status_update(&events.json, "past_due"),
        "{}",
        events.text
    );

    // Deleted: back to the free tier.
    let deleted = direct_event(
        "evt_direct_del",
        "customer.subscription.deleted",
        t0 + 20,
        false,
        subscription(
            "sub_direct1",
            &cus,
            &customer,
            &pro_price,
            2900,
            "canceled",
            false,
        ),
    );
    let reply = b.send_direct(&platform_id, &deleted, DIRECT_SECRET).await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);
    assert_eq!(plan_of(&b, &sk, &customer).await, "free");

    // The Connect endpoint keeps routing a direct tenant's event (no `account`) by
    // dream's metadata, verified with the operator's secret as before.
    let mut active = subscription(
        "sub_direct1",
        &cus,
        &customer,
        &pro_price,
        2900,
        "active",
        false,
    );
    active["metadata"]["dream_platform_id"] = platform_id.clone().into();
    active["metadata"]["dream_mode"] = "test".into();
    let via_connect = direct_event(
        "evt_direct_via_connect",
        "customer.subscription.updated",
        t0 + 30,
        false,
        active,
    );
    let signature = stripe_sign(&[(via_connect.as_str(), OPERATOR_SECRET, now())]).remove(0);
    let reply = crate::support::TestServer::reply(
        b.server
            .http
            .post(format!("{}/webhook/stripe", b.server.base))
            .header("content-type", "application/json")
            .header("Stripe-Signature", signature)
            .body(via_connect)
            .send()
            .await
            .expect("delivered"),
    )
    .await;
    assert_eq!(reply.json["result"], "applied", "{}", reply.text);
    assert_eq!(plan_of(&b, &sk, &customer).await, "pro");

    // A PUT replaces the whole connection: without webhookSecret there is none,
    // and the endpoint's deliveries are refused from then on.
    let replaced = b
        .put_direct(
            &platform_id,
            json!({ "mode": "test", "secretKey": TEST_DIRECT_KEY }),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(
        replaced.json["webhookSecretSet"], false,
        "{}",
        replaced.text
    );
    let later = direct_event(
        "evt_direct_later",
        "customer.subscription.deleted",
        t0 + 40,
        false,
        subscription(
            "sub_direct1",
            &cus,
            &customer,
            &pro_price,
            2900,
            "canceled",
            false,
        ),
    );
    b.send_direct(&platform_id, &later, DIRECT_SECRET)
        .await
        .assert_error(400, "invalid_signature");
    assert_eq!(plan_of(&b, &sk, &customer).await, "pro");
}
