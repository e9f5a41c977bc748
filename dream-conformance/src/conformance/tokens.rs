//! End-user sign-in: refresh families (rotation, reuse detection, revocation)
//! and signing keys (the first key, rotation), plus the login throttle under
//! the tenant-scoped keys customer logins use.

use std::{collections::BTreeSet, sync::Arc};

use chrono::Duration;
use dream_core::{
    ports::Stores, CustomerId, LoginAttemptId, RefreshDigest, RefreshFamily, RefreshFamilyId,
    RefreshOutcome, RefreshToken, SigningKeyRecord, StoredPrivateKey, Tenant,
};

use super::fixtures::{at, new_tenants, t0};

fn family(tenant: &Tenant, customer: &CustomerId) -> RefreshFamily {
    RefreshFamily {
        id: RefreshFamilyId::generate(),
        tenant: tenant.clone(),
        customer: customer.clone(),
        created_at: t0(),
        expires_at: at(3600),
        revoked_at: None,
    }
}

fn digest() -> RefreshDigest {
    RefreshToken::generate().digest()
}

async fn start(store: &Stores, family: &RefreshFamily) -> RefreshDigest {
    let first = digest();
    store
        .tokens
        .insert_refresh_family(family, &first)
        .await
        .expect("insert_refresh_family of a fresh family must succeed");
    first
}

async fn rotate(
    store: &Stores,
    tenant: &Tenant,
    presented: &RefreshDigest,
    next: &RefreshDigest,
    secs: i64,
) -> RefreshOutcome {
    store
        .tokens
        .rotate_refresh_token(tenant, presented, next, at(secs))
        .await
        .expect("rotate_refresh_token")
}

fn key(kid: &str, secs: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg: "EdDSA".into(),
        public_key: vec![7; 32],
        private_key: StoredPrivateKey::from_stored(format!("plain:{}", "ab".repeat(32))),
        created_at: at(secs),
        retired_at: None,
    }
}

/// Rotating the current token succeeds once; presenting the rotated token
/// again is reuse and revokes the family, so the newest token fails too.
pub async fn tokens_rotation_and_reuse_revokes_family(store: Stores) {
    let (tenant, _) = new_tenants(&store).await;
    let f = family(&tenant, &CustomerId::generate());
    let first = start(&store, &f).await;
    let second = digest();
    assert_eq!(
        rotate(&store, &tenant, &first, &second, 10).await,
        RefreshOutcome::Rotated(f.clone()),
        "the current token must rotate"
    );
    assert_eq!(
        rotate(&store, &tenant, &first, &digest(), 20).await,
        RefreshOutcome::Reused,
        "a rotated token presented again is reuse"
    );
    assert_eq!(
        rotate(&store, &tenant, &second, &digest(), 30).await,
        RefreshOutcome::Ended,
        "after reuse the whole family is revoked, newest token included"
    );
    assert_eq!(
        rotate(&store, &tenant, &digest(), &digest(), 30).await,
        RefreshOutcome::Unknown,
        "a token nobody issued is unknown"
    );
}

/// Another tenant's token is unknown (and not revoked by the attempt); a
/// family past its absolute end no longer rotates.
pub async fn tokens_tenant_isolation_and_absolute_expiry(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let f = family(&test, &CustomerId::generate());
    let first = start(&store, &f).await;
    assert_eq!(
        rotate(&store, &live, &first, &digest(), 10).await,
        RefreshOutcome::Unknown,
        "another tenant's token must be unknown"
    );
    assert!(
        !store
            .tokens
            .revoke_refresh_family(&live, &first, at(10))
            .await
            .expect("revoke_refresh_family"),
        "another tenant cannot revoke the family"
    );
    assert_eq!(
        rotate(&store, &test, &first, &digest(), 3600).await,
        RefreshOutcome::Ended,
        "at expires_at the family has ended"
    );
}

/// Of concurrent rotations of one token exactly one succeeds.
pub async fn tokens_concurrent_rotation_exactly_one(store: Stores) {
    let (tenant, _) = new_tenants(&store).await;
    let f = family(&tenant, &CustomerId::generate());
    let first = start(&store, &f).await;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (store, tenant) = (store.clone(), tenant.clone());
            tokio::spawn(async move {
                store
                    .tokens
                    .rotate_refresh_token(&tenant, &first, &digest(), at(5))
                    .await
            })
        })
        .collect();
    let mut rotated = 0;
    for task in tasks {
        let outcome = task
            .await
            .expect("task must not panic")
            .expect("rotate_refresh_token");
        match outcome {
            RefreshOutcome::Rotated(_) => rotated += 1,
            RefreshOutcome::Reused | RefreshOutcome::Ended => {}
            RefreshOutcome::Unknown => panic!("an issued token must never be unknown"),
        }
    }
    assert_eq!(rotated, 1, "exactly one concurrent rotation must succeed");
}

/// Logout revokes the family by any token it issued; revoke-all ends every
/// live family of one customer and no other.
pub async fn tokens_revoke_family_and_customer(store: Stores) {
    let (tenant, live) = new_tenants(&store).await;
    let ada = CustomerId::generate();
    let bob = CustomerId::generate();
    let f1 = family(&tenant, &ada);
    let old = start(&store, &f1).await;
    let current = digest();
    rotate(&store, &tenant, &old, &current, 1).await;
    assert!(
        store
            .tokens
            .revoke_refresh_family(&tenant, &old, at(2))
            .await
            .expect("revoke_refresh_family"),
        "an older token of the family revokes it"
    );
    assert_eq!(
        rotate(&store, &tenant, &current, &digest(), 3).await,
        RefreshOutcome::Ended,
        "a revoked family no longer rotates"
    );
    let a2 = start(&store, &family(&tenant, &ada)).await;
    let a3 = start(&store, &family(&tenant, &ada)).await;
    let b1 = start(&store, &family(&tenant, &bob)).await;
    let other_tenant = start(&store, &family(&live, &ada)).await;
    assert_eq!(
        store
            .tokens
            .revoke_customer_refresh_families(&tenant, &ada, at(4))
            .await
            .expect("revoke_customer_refresh_families"),
        2,
        "only Ada's two live families of this tenant are revoked"
    );
    for d in [a2, a3] {
        assert_eq!(
            rotate(&store, &tenant, &d, &digest(), 5).await,
            RefreshOutcome::Ended
        );
    }
    assert!(matches!(
        rotate(&store, &tenant, &b1, &digest(), 5).await,
        RefreshOutcome::Rotated(_)
    ));
    assert!(matches!(
        rotate(&store, &live, &other_tenant, &digest(), 5).await,
        RefreshOutcome::Rotated(_)
    ));
}

/// Processes racing to create the first signing key all end up with one.
pub async fn tokens_first_signing_key_race(store: Stores) {
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .tokens
                    .insert_signing_key_if_absent(&key(&format!("race{i}"), 0))
                    .await
            })
        })
        .collect();
    let mut kids = BTreeSet::new();
    for task in tasks {
        kids.insert(
            task.await
                .expect("task must not panic")
                .expect("insert_signing_key_if_absent")
                .kid,
        );
    }
    assert_eq!(kids.len(), 1, "every racer must get the same key: {kids:?}");
    let keys = store.tokens.signing_keys(t0()).await.expect("signing_keys");
    assert_eq!(keys.len(), 1, "exactly one key is stored");
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(
        store
            .tokens
            .insert_signing_key_if_absent(&key("late", 9))
            .await
            .expect("insert_signing_key_if_absent")
            .kid,
        keys[0].kid,
        "a later start gets the existing key"
    );
}

/// Rotation retires the current key and makes the new one current; retired
/// keys are listed while retired after the bound, newest first, then drop out.
pub async fn tokens_signing_key_rotation(store: Stores) {
    let first = key("first", 0);
    store
        .tokens
        .insert_signing_key_if_absent(&first)
        .await
        .expect("insert_signing_key_if_absent");
    store
        .tokens
        .rotate_signing_key(&key("second", 100), at(100))
        .await
        .expect("rotate_signing_key");
    store
        .tokens
        .rotate_signing_key(&key("third", 200), at(200))
        .await
        .expect("rotate_signing_key");
    let keys = store.tokens.signing_keys(t0()).await.expect("signing_keys");
    let kids: Vec<_> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(
        kids,
        ["third", "second", "first"],
        "current first, then newest retired"
    );
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(keys[1].retired_at, Some(at(200)));
    assert_eq!(
        keys[2].private_key, first.private_key,
        "the key round-trips"
    );
    assert_eq!(keys[2].public_key, first.public_key);
    let recent = store
        .tokens
        .signing_keys(at(150))
        .await
        .expect("signing_keys");
    let kids: Vec<_> = recent.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(
        kids,
        ["third", "second"],
        "keys retired before the bound drop out"
    );
}

/// Customer logins are throttled by the same store counter as accounts, under
/// `"{tenant} {email}"`: one tenant's failures do not count for another's.
pub async fn tokens_customer_login_throttle_per_tenant(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let since = t0() - Duration::minutes(15);
    for i in 0..3 {
        store
            .accounts
            .record_login_failure(
                &format!("{test} ada@example.com"),
                &LoginAttemptId::generate(),
                at(i),
                since,
            )
            .await
            .expect("record_login_failure");
    }
    let other = store
        .accounts
        .record_login_failure(
            &format!("{live} ada@example.com"),
            &LoginAttemptId::generate(),
            at(5),
            since,
        )
        .await
        .expect("record_login_failure");
    assert_eq!(other.count, 1, "failures are counted per tenant");
    let counted = store
        .accounts
        .login_failures(&format!("{test} ada@example.com"), since)
        .await
        .expect("login_failures");
    assert_eq!(counted.count, 3);
}

/// The sweep deletes families that can no longer refresh (expired or revoked),
/// at most `batch` per call, with their tokens, which are then unknown; a live
/// family keeps working, its rotated-away tokens still detected as reuse.
pub async fn tokens_lapsed_families_are_swept_in_batches(store: Stores) {
    let (tenant, _) = new_tenants(&store).await;
    let customer = CustomerId::generate();
    let live = family(&tenant, &customer);
    let live_first = start(&store, &live).await;
    let live_second = digest();
    assert!(matches!(
        rotate(&store, &tenant, &live_first, &live_second, 10).await,
        RefreshOutcome::Rotated(_)
    ));
    let mut expired = family(&tenant, &customer);
    expired.expires_at = at(100);
    let expired_first = start(&store, &expired).await;
    let mut revoked_tokens = Vec::new();
    for _ in 0..3 {
        let f = family(&tenant, &customer);
        let first = start(&store, &f).await;
        assert!(store
            .tokens
            .revoke_refresh_family(&tenant, &first, at(20))
            .await
            .expect("revoke_refresh_family"));
        revoked_tokens.push(first);
    }
    let sweep = |batch| {
        let store = store.clone();
        async move {
            store
                .tokens
                .delete_lapsed_refresh_families(at(200), batch)
                .await
                .expect("delete_lapsed_refresh_families")
        }
    };
    assert_eq!(sweep(3).await, 3, "at most the batch");
    assert_eq!(
        sweep(3).await,
        1,
        "the rest: one expired and three revoked in all"
    );
    assert_eq!(sweep(3).await, 0, "the live family stays");
    for token in revoked_tokens.iter().chain([&expired_first]) {
        assert_eq!(
            rotate(&store, &tenant, token, &digest(), 300).await,
            RefreshOutcome::Unknown,
            "a swept family's token is unknown"
        );
    }
    let third = digest();
    assert!(
        matches!(
            rotate(&store, &tenant, &live_second, &third, 300).await,
            RefreshOutcome::Rotated(_)
        ),
        "the live family still rotates"
    );
    assert_eq!(
        rotate(&store, &tenant, &live_first, &digest(), 310).await,
        RefreshOutcome::Reused,
        "and still recognises its rotated-away tokens"
    );
}
