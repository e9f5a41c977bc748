//! A Clerk endpoint bound to a platform changes only that platform's users: the
//! publishable key in a user's metadata is public, so it must not be enough to
//! write into another developer's platform.

use std::sync::Arc;

use dream_core::{
    ClerkEndpoint, Dream, Interval, Mode, Money, SignedHeaders, SigningSecret, Tenant, Tier,
    TierKind, UsageLimit, WebhookOutcome,
};
use dream_store::MemoryStore;
use serde_json::json;

fn user_event(kind: &str, user: &str, pk: &str) -> String {
    json!({
        "data": {
            "id": user,
            "object": "user",
            "email_addresses": [{ "email_address": "u@example.com", "id": "idn_1" }],
            "primary_email_address_id": "idn_1",
            "public_metadata": { "publishableKey": pk },
        },
        "object": "event",
        "timestamp": chrono::Utc::now().timestamp_millis(),
        "type": kind,
    })
    .to_string()
}

fn deleted_event(user: &str) -> String {
    json!({
        "data": { "deleted": true, "id": user, "object": "user" },
        "object": "event",
        "timestamp": chrono::Utc::now().timestamp_millis(),
        "type": "user.deleted",
    })
    .to_string()
}

async fn deliver(
    dream: &Dream,
    secret: &SigningSecret,
    msg_id: &str,
    body: &str,
) -> WebhookOutcome {
    let ts = chrono::Utc::now().timestamp();
    let signature = secret.sign(msg_id, ts, body.as_bytes());
    let ts = ts.to_string();
    let headers = SignedHeaders {
        id: Some(msg_id),
        timestamp: Some(&ts),
        signature: Some(&signature),
    };
    dream
        .handle_clerk_webhook(body.as_bytes(), headers)
        .await
        .expect("delivery handled")
}

/// A platform with a free tier and a test key pair; its tenant and publishable key.
async fn platform(dream: &Dream) -> (Tenant, String) {
    let platform = dream.create_platform(None).await.expect("platform");
    let tenant = Tenant::new(platform.id, Mode::Test);
    dream
        .configure_tiers(
            &tenant,
            vec![Tier {
                name: "free".into(),
                display_name: "Free".into(),
                price: Money::from_major(0.0, "usd").expect("money"),
                kind: TierKind::Recurring {
                    interval: Interval::Month,
                },
                limit: UsageLimit::Limited(10),
                rate_limit_per_minute: None,
                features: vec![],
                flags: vec![],
                alerts: dream_core::DEFAULT_ALERTS.to_vec(),
                meters: Default::default(),
                grants: None,
                archived: false,
            }],
        )
        .await
        .expect("tiers");
    let issued = dream.issue_key(&tenant, None, None).await.expect("key");
    (tenant, issued.record.publishable_key)
}

async fn has_customer(dream: &Dream, tenant: &Tenant, user: &str) -> bool {
    dream.customer(tenant, user).await.is_ok()
}

#[tokio::test]
async fn a_bound_secret_writes_only_to_its_platform() {
    let (bound, unbound) = (SigningSecret::generate(), SigningSecret::generate());
    let dream = Dream::new(Arc::new(MemoryStore::new()));
    let (a, pk_a) = platform(&dream).await;
    let (b, pk_b) = platform(&dream).await;
    let dream = dream.with_clerk_endpoints(vec![
        ClerkEndpoint {
            secret: bound.clone(),
            platform: Some(a.platform.clone()),
        },
        ClerkEndpoint {
            secret: unbound.clone(),
            platform: None,
        },
    ]);

    // Platform A's Clerk instance names platform B's (public) key: ignored.
    let outcome = deliver(
        &dream,
        &bound,
        "msg_1",
        &user_event("user.created", "user_x", &pk_b),
    )
    .await;
    assert!(
        matches!(outcome, WebhookOutcome::Ignored { reason, .. } if reason.contains("not bound")),
        "{outcome:?}"
    );
    assert!(!has_customer(&dream, &b, "user_x").await);

    // Its own platform's key applies.
    let outcome = deliver(
        &dream,
        &bound,
        "msg_2",
        &user_event("user.created", "user_y", &pk_a),
    )
    .await;
    assert!(
        matches!(outcome, WebhookOutcome::Applied { .. }),
        "{outcome:?}"
    );
    assert!(has_customer(&dream, &a, "user_y").await);

    // An unbound secret routes by the key, as before.
    let outcome = deliver(
        &dream,
        &unbound,
        "msg_3",
        &user_event("user.created", "user_z", &pk_b),
    )
    .await;
    assert!(
        matches!(outcome, WebhookOutcome::Applied { .. }),
        "{outcome:?}"
    );
    assert!(has_customer(&dream, &b, "user_z").await);

    // Deletes route by the user's link: the bound secret cannot delete B's user.
    let outcome = deliver(&dream, &bound, "msg_4", &deleted_event("user_z")).await;
    assert!(
        matches!(outcome, WebhookOutcome::Ignored { .. }),
        "{outcome:?}"
    );
    assert!(has_customer(&dream, &b, "user_z").await);
    let outcome = deliver(&dream, &unbound, "msg_5", &deleted_event("user_z")).await;
    assert!(
        matches!(outcome, WebhookOutcome::Applied { .. }),
        "{outcome:?}"
    );
    assert!(!has_customer(&dream, &b, "user_z").await);
}
