//! Webhooks end to end through [`BillingProvider::verify_webhook`]: fixtures modelled on
//! Stripe's published example events, signed here with an HMAC helper independent of the
//! adapter's, and read field by field.

use std::{path::PathBuf, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use dream_core::{
    ports::BillingProvider, BillingChange, CheckoutKind, Metadata, ProviderEvent,
    SubscriptionState, SubscriptionStatus, WebhookError,
};
use dream_stripe::{webhook_signature_header, StripeBilling, StripeConfig};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "whsec_9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const OLD_SECRET: &str = "whsec_0a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Stripe's scheme, written out independently: hex(HMAC-SHA256(secret, "{t}." + body)).
fn sign(payload: &[u8], secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(payload);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

fn at(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(t, 0).unwrap()
}

fn billing(secrets: &str) -> StripeBilling {
    let config = StripeConfig::default()
        .with_webhook_secrets(Some(secrets.into()))
        .expect("valid webhook secrets");
    StripeBilling::new(config).expect("a valid configuration")
}

/// The fixture, signed now with [`SECRET`], verified and read.
fn receive(name: &str) -> ProviderEvent {
    let payload = fixture(name);
    let now = 1_770_000_000;
    billing(SECRET)
        .verify_webhook(&payload, Some(&sign(&payload, SECRET, now)), at(now))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn metadata(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_adapter_and_the_independent_signer_agree_on_the_golden_vector() {
    let payload = br#"{"id":"evt_test"}"#;
    let expected =
        "t=1492774577,v1=22f7d74836ddad3284a2b80853dd2fe731655c1bfddcff3c3666a500cf3abd80";
    assert_eq!(sign(payload, "whsec_test_secret", 1_492_774_577), expected);
    assert_eq!(
        webhook_signature_header(payload, "whsec_test_secret", 1_492_774_577),
        expected
    );
}

#[test]
fn checkout_completed_in_subscription_mode() {
    let event = receive("checkout_session_completed.json");
    assert_eq!(event.id, "evt_1QpCk2Lz8aBcDeFgHiJkLmNo");
    assert_eq!(event.kind, "checkout.session.completed");
    assert_eq!(event.account.as_deref(), Some("acct_1Nv0FGQ9RKHgCVdK"));
    assert!(event.livemode);
    assert_eq!(event.created, at(1_761_300_000));
    assert_eq!(
        event.change,
        Some(BillingChange::CheckoutCompleted {
            session_id: "cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ".into(),
            kind: CheckoutKind::Subscription,
            metadata: metadata(&[
                ("dream_platform_id", "plt_01JPLATFORM"),
                ("dream_mode", "live"),
                ("dream_customer_id", "usr_01JABCDEF"),
                ("dream_tier", "pro"),
            ]),
            provider_customer_id: Some("cus_RsTuVwXyZ01234".into()),
            subscription_id: Some("sub_1QpCk0Lz8aBcDeFgSUB".into()),
            payment_status: "paid".into(),
        })
    );
}

#[test]
fn checkout_completed_in_payment_mode_keeps_string_metadata_only() {
    let event = receive("checkout_session_completed_payment.json");
    assert!(!event.livemode);
    assert_eq!(event.account.as_deref(), Some("acct_1Nv0FGQ9RKHgCVdK"));
    assert_eq!(
        event.change,
        Some(BillingChange::CheckoutCompleted {
            session_id: "cs_test_b1PaymentSession".into(),
            kind: CheckoutKind::Payment,
            metadata: metadata(&[
                ("dream_platform_id", "plt_01JPLATFORM"),
                ("dream_reservation_id", "res_01JRESERVE"),
            ]),
            provider_customer_id: None,
            subscription_id: None,
            payment_status: "paid".into(),
        })
    );
}

#[test]
fn checkout_expired() {
    let event = receive("checkout_session_expired.json");
    assert_eq!(event.kind, "checkout.session.expired");
    assert_eq!(event.created, at(1_761_390_000));
    assert_eq!(
        event.change,
        Some(BillingChange::CheckoutExpired {
            session_id: "cs_test_c1ExpiredSession".into(),
            metadata: metadata(&[
                ("dream_platform_id", "plt_01JPLATFORM"),
                ("dream_reservation_id", "res_01JRESERVE"),
            ]),
        })
    );
}

#[test]
fn subscription_created_with_periods_on_items_and_tier_from_the_price() {
    let event = receive("customer_subscription_created.json");
    assert_eq!(event.account.as_deref(), Some("acct_1Nv0FGQ9RKHgCVdK"));
    assert!(event.livemode);
    assert_eq!(
        event.change,
        Some(BillingChange::Subscription {
            state: SubscriptionState {
                subscription_id: "sub_1QpCk0Lz8aBcDeFgSUB".into(),
                provider_customer_id: Some("cus_RsTuVwXyZ01234".into()),
                status: SubscriptionStatus::Active,
                // The price's `dream_tier` wins over the subscription's.
                tier: Some("pro".into()),
                current_period_start: Some(at(1_761_299_990)),
                current_period_end: Some(at(1_763_978_390)),
                cancel_at_period_end: false,
                mrr_minor: 5800,
                currency: Some("usd".into()),
                // The event's time, not the subscription's.
                as_of: at(1_761_300_001),
            },
            metadata: metadata(&[
                ("dream_platform_id", "plt_01JPLATFORM"),
                ("dream_mode", "live"),
                ("dream_customer_id", "usr_01JABCDEF"),
                ("dream_tier", "starter"),
            ]),
            price_id: Some("price_1PmPROmonthly".into()),
            deleted: false,
        })
    );
}

#[test]
fn subscription_updated_on_an_older_api_version_with_yearly_prices() {
    let event = receive("customer_subscription_updated.json");
    assert!(!event.livemode);
    let Some(BillingChange::Subscription {
        state,
        metadata: meta,
        price_id,
        deleted,
    }) = event.change
    else {
        panic!("not a subscription change: {:?}", event.change);
    };
    assert_eq!(state.subscription_id, "sub_1QpZZZLz8aBcDeFgYEAR");
    assert_eq!(
        state.provider_customer_id.as_deref(),
        Some("cus_YearlyCustomer9")
    );
    assert_eq!(state.status, SubscriptionStatus::Active);
    // No `dream_tier` on the price: the subscription's metadata.
    assert_eq!(state.tier.as_deref(), Some("team"));
    // Periods at the top level (API versions before 2025-03-31).
    assert_eq!(state.current_period_start, Some(at(1_758_000_000)));
    assert_eq!(state.current_period_end, Some(at(1_789_536_000)));
    assert!(state.cancel_at_period_end);
    // (29900 × 1) / 12 + (1200 × 5) / 12 = 2491 + 500.
    assert_eq!(state.mrr_minor, 2491 + 500);
    assert_eq!(state.currency.as_deref(), Some("eur"));
    assert_eq!(state.as_of, at(1_761_400_000));
    assert_eq!(
        meta.get("dream_customer_id").map(String::as_str),
        Some("usr_01JYEARLY")
    );
    assert_eq!(price_id.as_deref(), Some("price_1PmTEAMyearly"));
    assert!(!deleted);
}

#[test]
fn subscription_deleted_has_no_revenue() {
    let event = receive("customer_subscription_deleted.json");
    let Some(BillingChange::Subscription {
        state,
        price_id,
        deleted,
        ..
    }) = event.change
    else {
        panic!("not a subscription change: {:?}", event.change);
    };
    assert!(deleted);
    assert_eq!(state.status, SubscriptionStatus::Canceled);
    assert_eq!(state.mrr_minor, 0);
    assert_eq!(state.tier.as_deref(), Some("pro"));
    assert_eq!(state.current_period_end, Some(at(1_763_978_390)));
    assert_eq!(state.as_of, at(1_763_978_400));
    assert_eq!(price_id.as_deref(), Some("price_1PmPROmonthly"));
}

#[test]
fn a_deleted_event_has_no_revenue_whatever_its_status() {
    let mut value: serde_json::Value =
        serde_json::from_slice(&fixture("customer_subscription_deleted.json")).unwrap();
    value["data"]["object"]["status"] = "active".into();
    let payload = value.to_string().into_bytes();
    let event = billing(SECRET)
        .verify_webhook(&payload, Some(&sign(&payload, SECRET, 1000)), at(1000))
        .unwrap();
    let Some(BillingChange::Subscription { state, deleted, .. }) = event.change else {
        panic!("not a subscription change");
    };
    assert!(deleted);
    assert_eq!(state.status, SubscriptionStatus::Active);
    assert_eq!(state.mrr_minor, 0);
}

#[test]
fn invoice_paid_on_the_platforms_own_account() {
    let event = receive("invoice_paid.json");
    assert_eq!(event.account, None);
    assert!(event.livemode);
    assert_eq!(
        event.change,
        Some(BillingChange::Invoice {
            paid: true,
            subscription_id: Some("sub_1QpDirectSUB".into()),
            provider_customer_id: Some("cus_DirectCustomer7".into()),
            amount_minor: 5800,
            currency: Some("usd".into()),
        })
    );
}

#[test]
fn invoice_payment_failed_with_the_subscription_under_parent() {
    let event = receive("invoice_payment_failed.json");
    assert_eq!(event.account.as_deref(), Some("acct_1Nv0FGQ9RKHgCVdK"));
    assert_eq!(
        event.change,
        Some(BillingChange::Invoice {
            paid: false,
            subscription_id: Some("sub_1QpCk0Lz8aBcDeFgSUB".into()),
            provider_customer_id: Some("cus_RsTuVwXyZ01234".into()),
            amount_minor: 5800,
            currency: Some("usd".into()),
        })
    );
}

#[test]
fn other_event_types_from_newer_api_versions_are_acknowledged() {
    let event = receive("payment_intent_succeeded.json");
    assert_eq!(event.id, "evt_3QpD00Lz8aBcDeFgPIOK");
    assert_eq!(event.kind, "payment_intent.succeeded");
    assert!(!event.livemode);
    assert_eq!(event.change, None);
}

#[test]
fn a_rolled_secret_still_verifies_with_both_configured() {
    let payload = fixture("invoice_paid.json");
    let rolled = billing(&format!("{SECRET}, {OLD_SECRET}"));
    for secret in [SECRET, OLD_SECRET] {
        let header = sign(&payload, secret, 5000);
        assert!(rolled
            .verify_webhook(&payload, Some(&header), at(5000))
            .is_ok());
    }
    // During a roll Stripe sends one v1 per secret.
    let old = sign(&payload, OLD_SECRET, 5000);
    let new = sign(&payload, SECRET, 5000);
    let both = format!("{old},{}", new.trim_start_matches("t=5000,"));
    let only_new = billing(SECRET);
    assert!(only_new
        .verify_webhook(&payload, Some(&both), at(5000))
        .is_ok());
    let other = billing("whsec_unrelated");
    assert_eq!(
        other.verify_webhook(&payload, Some(&both), at(5000)),
        Err(WebhookError::SignatureMismatch)
    );
}

#[test]
fn verification_comes_before_parsing() {
    let billing = billing(SECRET);
    let garbage = b"definitely not json";
    assert_eq!(
        billing.verify_webhook(garbage, None, at(1000)),
        Err(WebhookError::MissingSignature)
    );
    assert_eq!(
        billing.verify_webhook(garbage, Some(&sign(garbage, OLD_SECRET, 1000)), at(1000)),
        Err(WebhookError::SignatureMismatch)
    );
    assert!(matches!(
        billing.verify_webhook(garbage, Some(&sign(garbage, SECRET, 1000)), at(1000)),
        Err(WebhookError::InvalidPayload(_))
    ));
}

#[test]
fn the_raw_bytes_are_signed_not_the_json() {
    let payload = fixture("checkout_session_completed.json");
    let header = sign(&payload, SECRET, 1000);
    let value: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let compact = serde_json::to_vec(&value).unwrap();
    assert_eq!(
        billing(SECRET).verify_webhook(&compact, Some(&header), at(1000)),
        Err(WebhookError::SignatureMismatch)
    );
}

#[test]
fn the_configured_tolerance_applies() {
    let payload = fixture("invoice_paid.json");
    let mut config = StripeConfig::default()
        .with_webhook_secrets(Some(SECRET.into()))
        .unwrap();
    config.webhook_tolerance = Duration::from_secs(60);
    let billing = StripeBilling::new(config).unwrap();
    let header = sign(&payload, SECRET, 10_000);
    for (now, ok) in [
        (10_060, true),
        (9_940, true),
        (10_061, false),
        (9_939, false),
    ] {
        let result = billing.verify_webhook(&payload, Some(&header), at(now));
        if ok {
            assert!(result.is_ok(), "now {now}: {result:?}");
        } else {
            assert_eq!(
                result,
                Err(WebhookError::TimestampOutsideTolerance),
                "now {now}"
            );
        }
    }
}

#[test]
fn without_a_secret_webhooks_are_not_configured() {
    let payload = fixture("invoice_paid.json");
    let billing = StripeBilling::new(StripeConfig::default()).unwrap();
    let result = billing.verify_webhook(&payload, Some(&sign(&payload, SECRET, 1000)), at(1000));
    let Err(WebhookError::NotConfigured(message)) = result else {
        panic!("{result:?}");
    };
    assert!(message.contains("STRIPE_WEBHOOK_SECRET"), "{message}");
    assert!(!format!("{billing:?}").contains("whsec_"));
}
