//! Platforms and per-tenant tier configurations.

use dream_core::{
    ports::Stores, Interval, Mode, Money, Platform, PlatformId, StoreError, Tenant, Tier,
    TierConfig, TierKind, UsageLimit,
};

use super::fixtures::{at, t0};

fn tier(name: &str, price_minor: i64, kind: TierKind, limit: UsageLimit) -> Tier {
    Tier {
        name: name.into(),
        display_name: format!("{name} plan"),
        price: Money {
            amount_minor: price_minor,
            currency: "usd".into(),
        },
        kind,
        limit,
        rate_limit_per_minute: None,
        features: vec![],
        flags: vec![],
        alerts: dream_core::DEFAULT_ALERTS.to_vec(),
        meters: Default::default(),
        grants: None,
        archived: false,
    }
}

const MONTHLY: TierKind = TierKind::Recurring {
    interval: Interval::Month,
};

/// Platforms round-trip and refuse a duplicate id with `Conflict`; tier
/// configurations are stored per tenant (test and live of one platform are
/// separate) and replaced whole by `put_tier_config`, every field round-tripping.
pub async fn platforms_and_tier_configs(store: Stores) {
    let platform = Platform {
        id: PlatformId::generate(),
        name: Some("Acme".into()),
        created_at: t0(),
        owner: None,
        deleted_at: None,
    };
    store
        .platforms
        .insert_platform(&platform)
        .await
        .expect("insert_platform must succeed");
    let unnamed = Platform {
        id: PlatformId::generate(),
        name: None,
        created_at: at(1),
        owner: None,
        deleted_at: None,
    };
    store
        .platforms
        .insert_platform(&unnamed)
        .await
        .expect("insert_platform (no name) must succeed");
    assert_eq!(
        store
            .platforms
            .get_platform(&platform.id)
            .await
            .expect("get_platform"),
        Some(platform.clone()),
        "get_platform must return the inserted platform unchanged"
    );
    assert_eq!(
        store
            .platforms
            .get_platform(&unnamed.id)
            .await
            .expect("get_platform"),
        Some(unnamed.clone()),
        "get_platform must return a platform without a name unchanged"
    );
    assert_eq!(
        store
            .platforms
            .get_platform(&PlatformId::generate())
            .await
            .expect("get_platform"),
        None,
        "get_platform of an unknown id must be None"
    );

    let impostor = Platform {
        name: Some("Impostor".into()),
        created_at: at(5),
        ..platform.clone()
    };
    let dup = store.platforms.insert_platform(&impostor).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "insert_platform with an existing id must be Conflict, got {dup:?}"
    );
    assert_eq!(
        store
            .platforms
            .get_platform(&platform.id)
            .await
            .expect("get_platform"),
        Some(platform.clone()),
        "a refused duplicate platform must not replace the stored one"
    );

    let test = Tenant::new(platform.id.clone(), Mode::Test);
    let live = Tenant::new(platform.id.clone(), Mode::Live);
    assert_eq!(
        store
            .platforms
            .get_tier_config(&test)
            .await
            .expect("get_tier_config"),
        None,
        "a tenant without stored tiers must give None"
    );

    let test_cfg = TierConfig {
        tiers: vec![tier("free", 0, MONTHLY, UsageLimit::Limited(3))],
        updated_at: Some(at(10)),
        ..TierConfig::default()
    };
    store
        .platforms
        .put_tier_config(&test, &test_cfg)
        .await
        .expect("put_tier_config (test)");
    assert_eq!(
        store
            .platforms
            .get_tier_config(&test)
            .await
            .expect("get_tier_config"),
        Some(test_cfg.clone()),
        "get_tier_config must return what was put"
    );
    assert_eq!(
        store
            .platforms
            .get_shared_tier_config(&test)
            .await
            .expect("get_shared_tier_config")
            .as_deref(),
        Some(&test_cfg),
        "get_shared_tier_config must return what was put"
    );
    assert_eq!(
        store
            .platforms
            .get_tier_config(&live)
            .await
            .expect("get_tier_config"),
        None,
        "tiers put for the test mode must not appear in the live mode"
    );

    let live_cfg = TierConfig {
        tiers: vec![
            tier("pro", 2900, MONTHLY, UsageLimit::Limited(7)),
            tier("max", 9900, MONTHLY, UsageLimit::Unlimited),
        ],
        updated_at: Some(at(20)),
        // Stripe refs ride along with the tiers and must round-trip too.
        stripe: [(
            "pro".to_owned(),
            dream_core::StripeTierRefs {
                account: "acct_1".into(),
                product_id: Some("prod_1".into()),
                product_active: true,
                product_fingerprint: "Pro|7|month".into(),
                price_id: Some("price_2".into()),
                price_fingerprint: Some("2900|usd|month".into()),
                retiring_prices: vec!["price_1".into()],
                prices_created: 2,
                product_updates: 1,
            },
        )]
        .into(),
    };
    store
        .platforms
        .put_tier_config(&live, &live_cfg)
        .await
        .expect("put_tier_config (live)");
    assert_eq!(
        store
            .platforms
            .get_tier_config(&live)
            .await
            .expect("get_tier_config"),
        Some(live_cfg.clone()),
        "get_tier_config (live) must return what was put"
    );
    assert_eq!(
        store
            .platforms
            .get_shared_tier_config(&live)
            .await
            .expect("get_shared_tier_config")
            .as_deref(),
        Some(&live_cfg),
        "get_shared_tier_config (live) must return what was put"
    );
    assert_eq!(
        store
            .platforms
            .get_tier_config(&test)
            .await
            .expect("get_tier_config"),
        Some(test_cfg),
        "putting live tiers must leave the test tiers alone"
    );

    // Replacing, with every field and kind of tier exercised.
    let mut rich_free = tier("free", 0, MONTHLY, UsageLimit::Limited(3));
    rich_free.archived = true;
    let mut yearly = tier(
        "team",
        99_000,
        TierKind::Recurring {
            interval: Interval::Year,
        },
        UsageLimit::Limited(u64::MAX),
    );
    yearly.rate_limit_per_minute = Some(60_000);
    yearly.features = vec!["SSO".into(), "Priority support ✓".into()];
    let mut credits = tier(
        "credits",
        500,
        TierKind::OneTime {
            inventory: Some(42),
        },
        UsageLimit::Unlimited,
    );
    credits.price.currency = "jpy".into();
    let sticker = tier(
        "sticker",
        100,
        TierKind::OneTime { inventory: None },
        UsageLimit::Limited(0),
    );
    let replaced = TierConfig {
        tiers: vec![yearly, credits, sticker, rich_free],
        updated_at: None,
        ..TierConfig::default()
    };
    store
        .platforms
        .put_tier_config(&test, &replaced)
        .await
        .expect("put_tier_config (replace)");
    assert_eq!(
        store
            .platforms
            .get_tier_config(&test)
            .await
            .expect("get_tier_config"),
        Some(replaced),
        "put_tier_config must replace the whole configuration and round-trip every field"
    );
    assert_eq!(
        store
            .platforms
            .get_tier_config(&live)
            .await
            .expect("get_tier_config"),
        Some(live_cfg),
        "replacing test tiers must leave the live tiers alone"
    );
    assert_eq!(
        store
            .platforms
            .get_tier_config(&Tenant::new(unnamed.id, Mode::Test))
            .await
            .expect("get_tier_config"),
        None,
        "another platform must not see these tiers"
    );
}

/// Allowed origins: empty until set, replaced as a whole (order kept), per
/// platform, seen at once through any cache; unknown platforms give `false` and
/// `None`.
pub async fn platforms_allowed_origins(store: Stores) {
    let make = || Platform {
        id: PlatformId::generate(),
        name: None,
        created_at: t0(),
        owner: None,
        deleted_at: None,
    };
    let (one, other) = (make(), make());
    for p in [&one, &other] {
        store
            .platforms
            .insert_platform(p)
            .await
            .expect("insert_platform");
    }
    assert_eq!(
        store
            .platforms
            .get_allowed_origins(&one.id)
            .await
            .expect("get_allowed_origins (new)"),
        Some(vec![]),
        "a new platform allows no origin"
    );
    let first = vec![
        "https://b.example".to_owned(),
        "https://a.example".to_owned(),
    ];
    assert!(
        store
            .platforms
            .put_allowed_origins(&one.id, &first)
            .await
            .expect("put_allowed_origins"),
        "put_allowed_origins of an existing platform must report true"
    );
    assert_eq!(
        store
            .platforms
            .get_allowed_origins(&one.id)
            .await
            .expect("get_allowed_origins"),
        Some(first),
        "origins must round-trip in order"
    );
    let second = vec!["http://localhost:3000".to_owned()];
    store
        .platforms
        .put_allowed_origins(&one.id, &second)
        .await
        .expect("put_allowed_origins (replace)");
    assert_eq!(
        store
            .platforms
            .get_allowed_origins(&one.id)
            .await
            .expect("get_allowed_origins (after replace)"),
        Some(second),
        "a put must replace the whole list, and be seen at once"
    );
    assert_eq!(
        store
            .platforms
            .get_allowed_origins(&other.id)
            .await
            .expect("get_allowed_origins (other)"),
        Some(vec![]),
        "origins must not leak to another platform"
    );
    let unknown = PlatformId::generate();
    assert!(
        !store
            .platforms
            .put_allowed_origins(&unknown, &[])
            .await
            .expect("put_allowed_origins (unknown)"),
        "put_allowed_origins of an unknown platform must report false"
    );
    assert_eq!(
        store
            .platforms
            .get_allowed_origins(&unknown)
            .await
            .expect("get_allowed_origins (unknown)"),
        None,
        "get_allowed_origins of an unknown platform must give None"
    );
}
