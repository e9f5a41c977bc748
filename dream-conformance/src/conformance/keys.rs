//! Key pairs: lookup, listing, revocation, counting, uniqueness.

use dream_core::{ports::Stores, KeyDigest, KeyId, KeyRecord, Mode, PlatformId, StoreError};

use super::fixtures::{at, key, new_tenants, t0};

async fn insert_key(store: &Stores, key: &KeyRecord, what: &str) {
    store
        .keys
        .insert_key(key)
        .await
        .unwrap_or_else(|e| panic!("insert_key ({what}) must succeed, got {e:?}"));
}

fn ids(keys: &[KeyRecord]) -> Vec<&KeyId> {
    keys.iter().map(|k| &k.id).collect()
}

/// A stored pair is found, unchanged, by secret digest, by publishable key and by
/// id; unknown digests, publishable keys and ids give `None`.
pub async fn keys_insert_and_find(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let record = key(&test, t0(), Some(at(86_400)));
    let mut unlabelled = key(&test, at(1), None);
    unlabelled.label = None;
    insert_key(&store, &record, "labelled, expiring").await;
    insert_key(&store, &unlabelled, "unlabelled").await;

    for k in [&record, &unlabelled] {
        assert_eq!(
            store
                .keys
                .find_key_by_digest(&k.secret_digest)
                .await
                .expect("find_key_by_digest"),
            Some(k.clone()),
            "find_key_by_digest must return the stored record unchanged"
        );
        assert_eq!(
            store
                .keys
                .find_key_by_publishable(&k.publishable_key)
                .await
                .expect("find_key_by_publishable"),
            Some(k.clone()),
            "find_key_by_publishable must return the stored record unchanged"
        );
        assert_eq!(
            store.keys.get_key(&k.id).await.expect("get_key"),
            Some(k.clone()),
            "get_key must return the stored record unchanged"
        );
    }
    assert_eq!(
        store
            .keys
            .find_key_by_digest(&KeyDigest::of("sk_test_unknown"))
            .await
            .expect("find_key_by_digest"),
        None,
        "an unknown digest must give None"
    );
    assert_eq!(
        store
            .keys
            .find_key_by_publishable("pk_test_unknown")
            .await
            .expect("find_key_by_publishable"),
        None,
        "an unknown publishable key must give None"
    );
    assert_eq!(
        store
            .keys
            .get_key(&KeyId::generate())
            .await
            .expect("get_key"),
        None,
        "an unknown key id must give None"
    );
}

/// `list_keys` returns a platform's pairs oldest first, filtered by mode when
/// asked, never another platform's.
pub async fn keys_list_order_and_filters(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let (other, _) = new_tenants(&store).await;
    let test_late = key(&test, at(30), None);
    let live_mid = key(&live, at(20), None);
    let test_early = key(&test, at(10), None);
    let live_late = key(&live, at(40), None);
    let other_key = key(&other, at(5), None);
    // Inserted out of creation order on purpose.
    for (k, what) in [
        (&test_late, "test, t+30"),
        (&other_key, "other platform"),
        (&live_mid, "live, t+20"),
        (&live_late, "live, t+40"),
        (&test_early, "test, t+10"),
    ] {
        insert_key(&store, k, what).await;
    }

    let all = store
        .keys
        .list_keys(&test.platform, None)
        .await
        .expect("list_keys(all modes)");
    assert_eq!(
        ids(&all),
        ids(&[
            test_early.clone(),
            live_mid.clone(),
            test_late.clone(),
            live_late.clone()
        ]),
        "list_keys(platform, None) must list both modes, oldest first"
    );
    assert_eq!(
        all[0], test_early,
        "list_keys must return full, unchanged records"
    );
    let tests = store
        .keys
        .list_keys(&test.platform, Some(Mode::Test))
        .await
        .expect("list_keys(test)");
    assert_eq!(
        ids(&tests),
        vec![&test_early.id, &test_late.id],
        "list_keys(platform, Some(Test)) must list only test pairs, oldest first"
    );
    let lives = store
        .keys
        .list_keys(&test.platform, Some(Mode::Live))
        .await
        .expect("list_keys(live)");
    assert_eq!(
        ids(&lives),
        vec![&live_mid.id, &live_late.id],
        "list_keys(platform, Some(Live)) must list only live pairs, oldest first"
    );
    let others = store
        .keys
        .list_keys(&other.platform, None)
        .await
        .expect("list_keys(other)");
    assert_eq!(
        ids(&others),
        vec![&other_key.id],
        "list_keys must only list the platform's own pairs"
    );
    assert!(
        store
            .keys
            .list_keys(&PlatformId::generate(), None)
            .await
            .expect("list_keys(unknown)")
            .is_empty(),
        "list_keys of an unknown platform must be empty"
    );
}

/// Revoking sets `revoked_at`; revoking again keeps the FIRST time; the change is
/// visible through every lookup; revoking an unknown id gives `Ok(None)`.
pub async fn keys_revoke_keeps_first_time(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let record = key(&test, t0(), None);
    let bystander = key(&test, t0(), None);
    insert_key(&store, &record, "to revoke").await;
    insert_key(&store, &bystander, "bystander").await;

    let first = store
        .keys
        .revoke_key(&record.id, at(60))
        .await
        .expect("revoke_key")
        .expect("revoke_key of an existing key must return the record");
    assert_eq!(
        first,
        KeyRecord {
            revoked_at: Some(at(60)),
            ..record.clone()
        },
        "revoke_key must return the record with revoked_at set and nothing else changed"
    );
    let second = store
        .keys
        .revoke_key(&record.id, at(120))
        .await
        .expect("revoke_key (again)")
        .expect("revoke_key (again) of an existing key must return the record");
    assert_eq!(
        second.revoked_at,
        Some(at(60)),
        "revoking twice must keep the first revoked_at"
    );
    for (found, how) in [
        (
            store.keys.get_key(&record.id).await.expect("get_key"),
            "get_key",
        ),
        (
            store
                .keys
                .find_key_by_digest(&record.secret_digest)
                .await
                .expect("find_key_by_digest"),
            "find_key_by_digest",
        ),
        (
            store
                .keys
                .find_key_by_publishable(&record.publishable_key)
                .await
                .expect("find_key_by_publishable"),
            "find_key_by_publishable",
        ),
    ] {
        assert_eq!(
            found.and_then(|k| k.revoked_at),
            Some(at(60)),
            "{how} must show the first revocation time"
        );
    }
    assert_eq!(
        store
            .keys
            .get_key(&bystander.id)
            .await
            .expect("get_key")
            .and_then(|k| k.revoked_at),
        None,
        "revoking one key must not revoke another"
    );
    let unknown = store.keys.revoke_key(&KeyId::generate(), at(60)).await;
    assert!(
        matches!(unknown, Ok(None)),
        "revoke_key of an unknown id must be Ok(None), got {unknown:?}"
    );
}

/// `count_active_keys` counts the tenant's pairs that are neither revoked nor
/// expired at `now` (a pair expiring exactly at `now` is expired, as in
/// [`KeyRecord::is_active`]), never another tenant's.
pub async fn keys_count_active(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let hour = 3600;
    let forever = key(&test, t0(), None);
    let expiring = key(&test, t0(), Some(at(hour)));
    let expired = key(&test, at(-2 * hour), Some(at(-1)));
    let revoked = key(&test, t0(), None);
    let live_key = key(&live, t0(), None);
    for (k, what) in [
        (&forever, "no expiry"),
        (&expiring, "expiring"),
        (&expired, "expired"),
        (&revoked, "to revoke"),
        (&live_key, "live"),
    ] {
        insert_key(&store, k, what).await;
    }
    let count = |now| {
        let store = store.clone();
        let test = test.clone();
        async move {
            store
                .keys
                .count_active_keys(&test, now)
                .await
                .expect("count_active_keys")
        }
    };
    assert_eq!(
        count(t0()).await,
        3,
        "before revoking: the unexpired, unrevoked test keys"
    );
    store
        .keys
        .revoke_key(&revoked.id, at(1))
        .await
        .expect("revoke_key")
        .expect("revoke_key of an existing key");
    assert_eq!(count(at(2)).await, 2, "a revoked key must not count");
    assert_eq!(
        count(at(hour - 1)).await,
        2,
        "a key expiring later must still count"
    );
    assert_eq!(
        count(at(hour)).await,
        1,
        "a key whose expires_at is now must not count"
    );
    assert_eq!(
        store
            .keys
            .count_active_keys(&live, t0())
            .await
            .expect("count_active_keys(live)"),
        1,
        "count_active_keys must only count the tenant's own keys"
    );
}

/// A pair whose id, secret digest or publishable key already exists is refused
/// with `Conflict` and leaves the store unchanged.
pub async fn keys_duplicates_conflict(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let original = key(&test, t0(), None);
    insert_key(&store, &original, "original").await;

    let fresh = key(&live, at(1), None);
    let same_digest = KeyRecord {
        secret_digest: original.secret_digest,
        ..fresh.clone()
    };
    let same_publishable = KeyRecord {
        publishable_key: original.publishable_key.clone(),
        ..key(&live, at(1), None)
    };
    let same_id = KeyRecord {
        id: original.id.clone(),
        ..key(&live, at(1), None)
    };
    for (dup, what) in [
        (&same_digest, "secret digest"),
        (&same_publishable, "publishable key"),
        (&same_id, "id"),
    ] {
        let res = store.keys.insert_key(dup).await;
        assert!(
            matches!(res, Err(StoreError::Conflict(_))),
            "insert_key with an existing {what} must be Conflict, got {res:?}"
        );
    }
    assert_eq!(
        store
            .keys
            .find_key_by_digest(&original.secret_digest)
            .await
            .expect("find_key_by_digest"),
        Some(original.clone()),
        "a refused duplicate must not replace the original (by digest)"
    );
    assert_eq!(
        store
            .keys
            .find_key_by_publishable(&original.publishable_key)
            .await
            .expect("find_key_by_publishable"),
        Some(original.clone()),
        "a refused duplicate must not replace the original (by publishable key)"
    );
    assert_eq!(
        store.keys.get_key(&original.id).await.expect("get_key"),
        Some(original.clone()),
        "a refused duplicate must not replace the original (by id)"
    );
    assert_eq!(
        store
            .keys
            .find_key_by_publishable(&same_digest.publishable_key)
            .await
            .expect("find_key_by_publishable"),
        None,
        "a refused key must not be stored in part"
    );
    assert_eq!(
        store.keys.get_key(&same_digest.id).await.expect("get_key"),
        None,
        "a refused key must not be stored in part"
    );
    let listed = store
        .keys
        .list_keys(&test.platform, None)
        .await
        .expect("list_keys");
    assert_eq!(
        ids(&listed),
        vec![&original.id],
        "only the original pair may be listed after refused duplicates"
    );
    insert_key(&store, &fresh, "fresh after refusals").await;
}

/// `expire_key` sets an expiry, keeps an earlier one, never touches another pair
/// or the revocation, is seen by every lookup at once, and gives `None` for an
/// unknown id.
pub async fn keys_expire_keeps_earlier(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let record = key(&test, t0(), None);
    let bystander = key(&test, t0(), None);
    insert_key(&store, &record, "to expire").await;
    insert_key(&store, &bystander, "bystander").await;
    // Warm any cache in front of the store: the new expiry must still be seen.
    store
        .keys
        .find_key_by_digest(&record.secret_digest)
        .await
        .expect("find_key_by_digest (warm)");
    store
        .keys
        .find_key_by_publishable(&record.publishable_key)
        .await
        .expect("find_key_by_publishable (warm)");

    let first = store
        .keys
        .expire_key(&record.id, at(600))
        .await
        .expect("expire_key")
        .expect("expire_key of an existing key must return the record");
    assert_eq!(
        first,
        KeyRecord {
            expires_at: Some(at(600)),
            ..record.clone()
        },
        "expire_key must return the record with expires_at set and nothing else changed"
    );
    let later = store
        .keys
        .expire_key(&record.id, at(1200))
        .await
        .expect("expire_key (later)")
        .expect("expire_key (later) must return the record");
    assert_eq!(
        later.expires_at,
        Some(at(600)),
        "a later expiry must not extend the key's life"
    );
    let earlier = store
        .keys
        .expire_key(&record.id, at(300))
        .await
        .expect("expire_key (earlier)")
        .expect("expire_key (earlier) must return the record");
    assert_eq!(
        earlier.expires_at,
        Some(at(300)),
        "an earlier expiry must replace a later one"
    );
    for (found, how) in [
        (
            store.keys.get_key(&record.id).await.expect("get_key"),
            "get_key",
        ),
        (
            store
                .keys
                .find_key_by_digest(&record.secret_digest)
                .await
                .expect("find_key_by_digest"),
            "find_key_by_digest",
        ),
        (
            store
                .keys
                .find_key_by_publishable(&record.publishable_key)
                .await
                .expect("find_key_by_publishable"),
            "find_key_by_publishable",
        ),
    ] {
        assert_eq!(
            found.and_then(|k| k.expires_at),
            Some(at(300)),
            "{how} must see the new expiry at once"
        );
    }
    assert_eq!(
        store
            .keys
            .get_key(&bystander.id)
            .await
            .expect("get_key (bystander)")
            .map(|k| k.expires_at),
        Some(None),
        "expiring one pair must not touch another"
    );
    assert_eq!(
        store
            .keys
            .count_active_keys(&test, at(299))
            .await
            .expect("count_active_keys before expiry"),
        2,
        "a pair is active until its expiry"
    );
    assert_eq!(
        store
            .keys
            .count_active_keys(&test, at(300))
            .await
            .expect("count_active_keys at expiry"),
        1,
        "a pair is inactive from its expiry on"
    );
    assert_eq!(
        store
            .keys
            .expire_key(&KeyId::generate(), at(1))
            .await
            .expect("expire_key (unknown)"),
        None,
        "expire_key of an unknown id must give None"
    );
}

/// 16 tasks (`tokio::spawn`) expire one pair at once, each at another time (two
/// concurrent rolls): the earliest time wins, whatever the order, and every
/// task's returned record already expires no later than its own time.
pub async fn keys_expire_concurrent_earliest_wins(store: Stores) {
    const TASKS: i64 = 16;
    let (test, _) = new_tenants(&store).await;
    for round in 0..4 {
        let record = key(&test, t0(), None);
        insert_key(&store, &record, "to expire concurrently").await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(TASKS as usize));
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                let store = store.clone();
                let barrier = barrier.clone();
                let id = record.id.clone();
                // Times out of order, so the earliest is not the first or last spawned.
                let when = at(600 + (i * 7 + round) % TASKS * 10);
                tokio::spawn(async move {
                    barrier.wait().await;
                    (when, store.keys.expire_key(&id, when).await)
                })
            })
            .collect();
        for handle in handles {
            let (when, got) = handle.await.expect("an expiring task panicked");
            let got = got
                .unwrap_or_else(|e| panic!("expire_key must not fail under concurrency: {e:?}"))
                .expect("expire_key of an existing key must return the record");
            assert!(
                got.expires_at.is_some_and(|e| e <= when),
                "round {round}: a returned expiry must be no later than the caller's"
            );
        }
        let stored = store
            .keys
            .get_key(&record.id)
            .await
            .expect("get_key")
            .expect("the key exists");
        assert_eq!(
            stored.expires_at,
            Some(at(600)),
            "round {round}: the earliest of the concurrent expiries must win"
        );
    }
}
