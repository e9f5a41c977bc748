//! End-user sign-in over time, on a manual clock: signing keys are published
//! until the last token they signed has expired; another process picks up a
//! rotation within the key cache bound; sealed keys need their master key; a
//! sign-in ends at its absolute lifetime and is then swept; secrets stay out of
//! `Debug`.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use dream_core::{
    ports::Stores, CoreError, Customer, CustomerId, Dream, ManualClock, MasterKey, Metadata, Mode,
    PasswordHash, PlatformId, SignInSettings, Tenant, TokenAudience,
};
use dream_store::MemoryStore;

const PASSWORD: &str = "correct horse battery";
const AUDIENCE: TokenAudience<'static> = TokenAudience {
    issuer: "https://dream.example.test",
    publishable_key: "pk_test_abc",
};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
            .single()
            .expect("time"),
    ))
}

fn settings() -> SignInSettings {
    SignInSettings {
        access_ttl: Duration::minutes(15),
        refresh_ttl: Duration::days(1),
        key_cache_ttl: Duration::seconds(30),
    }
}

async fn customer(stores: &Stores, tenant: &Tenant, email: &str) -> Customer {
    let now = Utc::now();
    let customer = Customer {
        id: CustomerId::generate(),
        tenant: tenant.clone(),
        external_id: None,
        email: Some(email.to_owned()),
        first_name: None,
        last_name: None,
        plan: "free".into(),
        password_hash: Some(PasswordHash::hash(PASSWORD).expect("hash")),
        metadata: Metadata::new(),
        created_at: now,
        updated_at: now,
    };
    stores
        .customers
        .insert_customer(&customer)
        .await
        .expect("insert");
    customer
}

fn kids(keys: &[dream_core::Jwk]) -> Vec<String> {
    keys.iter().map(|k| k.kid.clone()).collect()
}

#[tokio::test]
async fn a_rotated_key_stays_published_until_its_last_token_expired() {
    let clock = clock();
    let stores = Stores::new(Arc::new(MemoryStore::new()));
    // A fresh process each time, so its key cache is fresh too.
    let process =
        || Dream::with_clock(stores.clone(), clock.clone()).with_sign_in_settings(settings());
    let first = process().ensure_signing_key().await.expect("first key");
    let second = process().rotate_signing_key().await.expect("rotation");
    assert_eq!(
        kids(&process().published_signing_keys().await.expect("jwks")),
        [second.clone(), first.clone()]
    );
    // The old key may sign for up to two cache bounds (60 s) after the
    // rotation, and such a token lives 15 minutes: the key stays until then.
    clock.advance(Duration::minutes(15) + Duration::seconds(59));
    assert_eq!(
        kids(&process().published_signing_keys().await.expect("jwks")),
        [second.clone(), first]
    );
    clock.advance(Duration::seconds(1));
    assert_eq!(
        kids(&process().published_signing_keys().await.expect("jwks")),
        [second]
    );
}

#[tokio::test]
async fn a_rotated_key_is_published_everywhere_before_it_signs() {
    let clock = clock();
    let stores = Stores::new(Arc::new(MemoryStore::new()));
    let tenant = Tenant::new(PlatformId::generate(), Mode::Test);
    customer(&stores, &tenant, "ada@example.com").await;
    let one = Dream::with_clock(stores.clone(), clock.clone()).with_sign_in_settings(settings());
    let two = Dream::with_clock(stores, clock.clone()).with_sign_in_settings(settings());
    let first = two.ensure_signing_key().await.expect("key");
    clock.advance(Duration::minutes(5));
    let second = one.rotate_signing_key().await.expect("rotation");
    let kid = |token: &str| {
        use base64::Engine as _;
        let head = token.split('.').next().expect("header");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(head)
            .expect("base64url");
        serde_json::from_slice::<serde_json::Value>(&bytes).expect("json")["kid"]
            .as_str()
            .expect("kid")
            .to_owned()
    };
    let login = |dream: &Dream| {
        let (dream, tenant) = (dream.clone(), tenant.clone());
        async move {
            dream
                .customer_log_in(&tenant, AUDIENCE, "ada@example.com", PASSWORD.into())
                .await
                .expect("login")
        }
    };
    // The rotating process publishes the new key at once but signs with the
    // old one; the other process still has neither changed in its cache.
    assert!(kids(&one.published_signing_keys().await.expect("jwks")).contains(&second));
    assert_eq!(kid(&login(&one).await.access_token), first);
    assert_eq!(kid(&login(&two).await.access_token), first);
    clock.advance(Duration::seconds(29));
    assert_eq!(
        kid(&login(&one).await.access_token),
        first,
        "not before the bound"
    );
    clock.advance(Duration::seconds(1));
    assert!(kids(&two.published_signing_keys().await.expect("jwks")).contains(&second));
    assert_eq!(
        kid(&login(&one).await.access_token),
        second,
        "the new key signs after the bound"
    );
    assert_eq!(kid(&login(&two).await.access_token), second);
}

#[tokio::test]
async fn sealed_keys_need_their_master_key() {
    let stores = Stores::new(Arc::new(MemoryStore::new()));
    let key = MasterKey::generate();
    let sealed = Dream::new(stores.clone()).with_master_key(key.clone());
    sealed.ensure_signing_key().await.expect("made and sealed");
    let records = stores
        .tokens
        .signing_keys(Utc::now() - Duration::days(1))
        .await
        .expect("keys");
    assert!(records[0].private_key.is_sealed(), "stored sealed");
    assert!(!format!("{records:?}").contains(records[0].private_key.as_stored()));
    Dream::new(stores.clone())
        .with_master_key(key)
        .ensure_signing_key()
        .await
        .expect("opens with the same master key");
    assert!(Dream::new(stores.clone())
        .ensure_signing_key()
        .await
        .is_err());
    assert!(Dream::new(stores)
        .with_master_key(MasterKey::generate())
        .ensure_signing_key()
        .await
        .is_err());
}

#[tokio::test]
async fn a_sign_in_ends_at_its_absolute_lifetime_however_often_refreshed() {
    let clock = clock();
    let stores = Stores::new(Arc::new(MemoryStore::new()));
    let tenant = Tenant::new(PlatformId::generate(), Mode::Test);
    customer(&stores, &tenant, "ada@example.com").await;
    let dream = Dream::with_clock(stores, clock.clone()).with_sign_in_settings(settings());
    let pair = dream
        .customer_log_in(&tenant, AUDIENCE, "ADA@example.com", PASSWORD.into())
        .await
        .expect("login");
    assert!(!format!("{pair:?}").contains(pair.refresh_token.expose_secret()));
    assert!(!format!("{pair:?}").contains(&pair.access_token));
    let mut token = pair.refresh_token.expose_secret().to_owned();
    for _ in 0..3 {
        clock.advance(Duration::hours(7));
        token = dream
            .refresh_sign_in(&tenant, AUDIENCE, &token)
            .await
            .expect("refresh within the day")
            .refresh_token
            .expose_secret()
            .to_owned();
    }
    clock.advance(Duration::hours(3));
    assert!(matches!(
        dream.refresh_sign_in(&tenant, AUDIENCE, &token).await,
        Err(CoreError::InvalidRefreshToken)
    ));
    // The lapsed sign-in is swept, and its token stays refused.
    let report = dream.sweep_expired(100).await.expect("sweep");
    assert_eq!(report.refresh_families_deleted, 1);
    assert_eq!(
        dream
            .sweep_expired(100)
            .await
            .expect("sweep")
            .refresh_families_deleted,
        0
    );
    assert!(matches!(
        dream.refresh_sign_in(&tenant, AUDIENCE, &token).await,
        Err(CoreError::InvalidRefreshToken)
    ));
}
