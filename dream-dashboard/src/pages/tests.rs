//! Pages rendered over a memory store: what they show, and that what customers
//! and developers typed is escaped.

use std::sync::Arc;

use dream_core::{
    Account, AccountId, Dream, Interval, Mode, Money, PasswordHash, Tenant, Tier, TierKind,
    UsageLimit,
};

use crate::access::AppAccess;

fn tier(name: &str, price: f64, limit: Option<u64>) -> Tier {
    Tier {
        name: name.into(),
        display_name: name.into(),
        price: Money::from_major(price, "usd").expect("price"),
        kind: TierKind::Recurring {
            interval: Interval::Month,
        },
        limit: limit.map_or(UsageLimit::Unlimited, UsageLimit::Limited),
        rate_limit_per_minute: None,
        features: vec![],
        flags: vec![],
        alerts: dream_core::DEFAULT_ALERTS.to_vec(),
        meters: Default::default(),
        grants: None,
        archived: false,
    }
}

async fn app() -> (Dream, AppAccess) {
    let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    let platform = dream
        .create_platform(Some("Test <App>".into()))
        .await
        .expect("platform");
    let tenant = Tenant::new(platform.id.clone(), Mode::Test);
    let access = AppAccess {
        account: Account {
            id: AccountId::generate(),
            email: "dev@example.com".into(),
            password_hash: PasswordHash::hash("a password for tests").expect("hash"),
            created_at: chrono::Utc::now(),
        },
        account_email: "dev@example.com".into(),
        platform,
        tenant,
        dream: dream.clone(),
    };
    (dream, access)
}

#[tokio::test]
async fn a_new_app_shows_its_next_steps_and_a_first_call() {
    let (dream, access) = app().await;
    let html = super::overview::render(&dream, &access, "http://127.0.0.1:8787")
        .await
        .expect("render");
    assert!(html.contains("No customers yet"), "{html}");
    assert!(html.contains("Add tiers"));
    assert!(html.contains("Connect Stripe"));
    assert!(html.contains("curl http://127.0.0.1:8787/api/tiers"));
    assert!(
        html.contains("Test &#60;App&#62;"),
        "the app name is escaped"
    );
}

#[tokio::test]
async fn the_overview_counts_customers_usage_and_mrr() {
    let (dream, access) = app().await;
    dream
        .configure_tiers(
            &access.tenant,
            vec![tier("free", 0.0, Some(5)), tier("pro", 29.0, Some(1000))],
        )
        .await
        .expect("tiers");
    for _ in 0..3 {
        dream
            .track(&access.tenant, "<b>user-1</b>", None, 1)
            .await
            .expect("track");
    }
    dream
        .track(&access.tenant, "user-2", Some("pro"), 2)
        .await
        .expect("track");
    let html = super::overview::render(&dream, &access, "http://x")
        .await
        .expect("render");
    assert!(html.contains("$29.00"), "MRR of one pro customer: {html}");
    assert!(
        html.contains("&#60;b&#62;user-1&#60;/b&#62;"),
        "escaped reference"
    );
    assert!(!html.contains("<b>user-1</b>"));
    assert!(html.contains(">5<"), "five calls this period");
}

#[tokio::test]
async fn the_tier_editor_names_the_row_that_is_wrong_and_keeps_what_was_typed() {
    let (dream, access) = app().await;
    let pairs = vec![
        ("name_0".to_owned(), "free".to_owned()),
        ("price_0".to_owned(), "0".to_owned()),
        ("limit_0".to_owned(), "10".to_owned()),
        ("offered_0".to_owned(), "on".to_owned()),
        ("name_1".to_owned(), "pro".to_owned()),
        ("price_1".to_owned(), "nine".to_owned()),
        ("offered_1".to_owned(), "on".to_owned()),
    ];
    let html = super::tiers::save(&dream, &access, pairs)
        .await
        .expect("render");
    assert!(html.contains("Price must be a number"), "{html}");
    assert!(html.contains("value=\"nine\""), "the typed value is kept");
    assert!(
        dream
            .tier_config(&access.tenant)
            .await
            .expect("config")
            .tiers
            .is_empty(),
        "nothing was saved"
    );
}

#[tokio::test]
async fn saved_tiers_are_the_services_tiers() {
    let (dream, access) = app().await;
    let pairs = vec![
        ("name_0".to_owned(), "free".to_owned()),
        ("price_0".to_owned(), "0".to_owned()),
        ("limit_0".to_owned(), "10".to_owned()),
        ("offered_0".to_owned(), "on".to_owned()),
        ("name_1".to_owned(), "pro".to_owned()),
        ("price_1".to_owned(), "9.99".to_owned()),
        ("billing_1".to_owned(), "year".to_owned()),
        ("features_1".to_owned(), "a, b".to_owned()),
        ("flags_1".to_owned(), "sso, audit_log".to_owned()),
        ("alerts_1".to_owned(), "50, 100".to_owned()),
        ("offered_1".to_owned(), "on".to_owned()),
        ("name_2".to_owned(), String::new()),
    ];
    let html = super::tiers::save(&dream, &access, pairs)
        .await
        .expect("render");
    assert!(html.contains("Saved 2 tiers"), "{html}");
    let config = dream.tier_config(&access.tenant).await.expect("config");
    let pro = config.find("pro").expect("pro");
    assert_eq!(pro.price.amount_minor, 999);
    assert_eq!(pro.features, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(pro.flags, vec!["sso".to_owned(), "audit_log".to_owned()]);
    assert_eq!(pro.alerts, vec![50, 100]);
    assert!(
        html.contains(r#"value="sso, audit_log""#),
        "the editor shows the flags it saved: {html}"
    );
    let free = config.find("free").expect("free");
    assert_eq!(
        free.alerts,
        vec![80, 100],
        "a form without the field keeps the default"
    );
    assert!(free.flags.is_empty());
    assert_eq!(
        pro.kind,
        TierKind::Recurring {
            interval: Interval::Year
        }
    );
    assert_eq!(
        config.find("free").expect("free").limit,
        UsageLimit::Limited(10)
    );
}

#[tokio::test]
async fn unticking_offered_archives_a_tier() {
    let (dream, access) = app().await;
    dream
        .configure_tiers(
            &access.tenant,
            vec![tier("free", 0.0, Some(5)), tier("pro", 29.0, None)],
        )
        .await
        .expect("tiers");
    let pairs = vec![
        ("name_0".to_owned(), "free".to_owned()),
        ("price_0".to_owned(), "0".to_owned()),
        ("offered_0".to_owned(), "on".to_owned()),
        ("name_1".to_owned(), "pro".to_owned()),
        ("price_1".to_owned(), "29".to_owned()),
    ];
    super::tiers::save(&dream, &access, pairs)
        .await
        .expect("render");
    let config = dream.tier_config(&access.tenant).await.expect("config");
    assert!(config.find("pro").expect("pro").archived);
    assert!(!config.find("free").expect("free").archived);
}

#[tokio::test]
async fn bad_flags_and_alerts_are_reported_on_their_row() {
    let (dream, access) = app().await;
    for (field, value, expected) in [
        ("flags_0", "Single Sign-On", "flags/0"),
        ("alerts_0", "80, 150", "between 1 and 100"),
    ] {
        let pairs = vec![
            ("name_0".to_owned(), "free".to_owned()),
            ("price_0".to_owned(), "0".to_owned()),
            ("offered_0".to_owned(), "on".to_owned()),
            (field.to_owned(), value.to_owned()),
        ];
        let html = super::tiers::save(&dream, &access, pairs)
            .await
            .expect("render");
        assert!(html.contains("Some tiers need fixing"), "{html}");
        assert!(html.contains(expected), "{expected} in {html}");
    }
    assert!(
        dream
            .tier_config(&access.tenant)
            .await
            .expect("config")
            .tiers
            .is_empty(),
        "nothing was saved"
    );
}
